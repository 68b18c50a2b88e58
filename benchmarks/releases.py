"""Figures for releases: run with `python benchmarks/releases.py` (needs haproxy, and the package index).

It starts `civic up --no-monitoring` on free ports with a copy of the demo estate (as
benchmarks/runtime.py does) and its data folder in a temporary folder, then deploys
folders with no civic.service.yaml through `civic deploy opg-lpa-dev FOLDER`, and prints:

1. time to first deploy of a small Flask app until the command returns (the replica is
   ready), cold: a new service, so its own build cache is empty; and the build's seconds;
2. the same for a small FastAPI app;
3. a code-only redeploy of the Flask app (one line of app.py changed): total and build
   seconds, and whether the build says its dependencies came from the cache;
4. a redeploy that adds one small package (six) to requirements.txt: total and build seconds;
5. bytes stored per release: the uploaded archive, the release folder on disk (app/ and
   venv/), and the size the build recorded; and the service's build cache beside them.

Each timing runs 3 times (BENCH_RUNS), on services of their own where a run must be cold;
the median and every run are printed. Every number printed is measured in this run.
"""

from __future__ import annotations

import dataclasses
import glob
import json
import os
import re
import shutil
import signal
import stat
import statistics
import subprocess
import sys
import tempfile
import threading
import time

import httpx
import runtime  # benchmarks/runtime.py: this folder is on sys.path when a benchmark runs as a script

from civic.backends.local import replicas

ENV = runtime.ENV
RUNS = int(os.environ.get("BENCH_RUNS", "3"))

# Each app names its service, so that each first deploy uploads its own archive (the control
# plane keeps an environment's archives by digest, and does not take the same bytes twice).
FLASK_APP = """from flask import Flask

app = Flask(__name__)
GREETING = "{service} {version}"


@app.get("/")
def index():
    return GREETING + "\\n"
"""
FASTAPI_APP = """from fastapi import FastAPI

app = FastAPI()


@app.get("/")
def index():
    return {{"hello": "{service}"}}
"""


class Civic(runtime.Civic):
    """runtime.Civic's `civic up`, with --no-monitoring and a data folder (CIVIC_DATA_DIR) of its own.

    runtime.Civic starts `civic up` in its constructor with fixed options, so this one
    starts it itself and inherits the rest (`down`)."""

    def __init__(self, tmp: str) -> None:
        self.tmp = tmp
        self.data = os.path.join(tmp, "data")
        self.estate = os.path.join(tmp, "estate")
        shutil.copytree(
            os.path.join(runtime.ROOT, "examples", "estate"), self.estate, ignore=shutil.ignore_patterns(".civic")
        )
        self.port, self.api_port, self.stats_port = (replicas.free_port() for _ in range(3))
        self.config = os.path.join(tmp, "client.json")
        # wide enough that rich never wraps the lines parsed below
        self.env = dict(os.environ, CIVIC_CONFIG=self.config, CIVIC_DATA_DIR=self.data, COLUMNS="250")
        self.env.pop("CIVIC_TOKEN", None)
        self.log = open(os.path.join(tmp, "civic-up.log"), "w+b")  # noqa: SIM115 - civic up writes it until the end
        args = ["--port", str(self.port), "--api-port", str(self.api_port), "--stats-port", str(self.stats_port)]
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "civic", "up", "--estate", self.estate, "--no-monitoring", *args],
            env=self.env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 60
        while b"Ctrl-C" not in self._output():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise SystemExit("civic up did not start; its log:\n" + self._output().decode(errors="replace"))
            time.sleep(0.05)

    def _output(self) -> bytes:
        with open(self.log.name, "rb") as f:
            return f.read()

    def api(self, path: str) -> object:
        with open(self.config) as f:
            saved = json.load(f)
        response = httpx.get(saved["url"] + path, headers={"Authorization": f"Bearer {saved['token']}"}, timeout=30)
        response.raise_for_status()
        return response.json()

    def stop(self) -> None:
        """`civic down`; whatever is left of the process group is killed."""
        try:
            self.down()
        except (subprocess.SubprocessError, OSError) as e:
            sys.stderr.write(f"civic down did not finish: {e}\n")
        finally:
            if self.proc.poll() is None:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
            self.log.close()


@dataclasses.dataclass
class Deployed:
    service: str
    total: float
    uploaded_files: int
    archive: int
    """The uploaded archive's bytes, as the CLI printed them (exact below 1 KiB, else to 0.1 KiB or MiB)."""
    build: dict
    release: str
    disk: dict[str, int]
    """Measured right after the deploy (a later one may prune the release): bytes on disk."""
    phases: dict[str, float]
    """Seconds from the CLI's start to its first line (the derived spec), from there to "Uploaded",
    to "Built", and to its exit (the new revision ready)."""

    @property
    def seconds(self) -> float:
        return self.build["seconds"]


def deploy(civic: Civic, folder: str) -> Deployed:
    """`civic deploy ENV FOLDER`, timed until it returns (the new revision ready), and its build."""
    lines, total = timed_lines(civic, "deploy", ENV, folder)
    out = "".join(line for _, line in lines)
    service = os.path.basename(folder)
    uploaded = re.search(r"^Uploaded (\d+) file\(s\), ([\d.]+) (B|KiB|MiB)", out, re.MULTILINE)
    built = re.search(r"Built (\S+) \(", out)
    if not uploaded or not built:
        raise SystemExit(f"civic deploy {ENV} {folder} printed no upload (new code) or build line:\n{out}")
    at = {word: next(t for t, line in lines if line.startswith(word)) for word in ("No ", "Uploaded", "Built")}
    phases = {
        "start": at["No "],
        "upload": at["Uploaded"] - at["No "],
        "build": at["Built"] - at["Uploaded"],
        "rollout": total - at["Built"],
    }
    archive = round(float(uploaded.group(2)) * {"B": 1, "KiB": 1 << 10, "MiB": 1 << 20}[uploaded.group(3)])
    build = next(b for b in civic.api(f"/v1/environments/{ENV}/services/{service}/builds") if b["id"] == built[1])
    (release,) = glob.glob(os.path.join(civic.data, "instances", "*", "services", ENV, service, "releases", built[1]))
    allocated, contents = disk_usage(release)
    disk = {
        "release": allocated,
        "contents": contents,
        "app": disk_usage(os.path.join(release, "app"))[0],
        "venv": disk_usage(os.path.join(release, "venv"))[0],
        "cache": disk_usage(os.path.join(os.path.dirname(os.path.dirname(release)), "cache"))[0],
    }
    return Deployed(service, total, int(uploaded.group(1)), archive, build, release, disk, phases)


def timed_lines(civic: Civic, *args: str, timeout: float = 300) -> tuple[list[tuple[float, str]], float]:
    """Run the CLI; each line it prints with the seconds since it started, and the seconds it took."""
    started = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", "civic", *args],
        env=dict(civic.env, PYTHONUNBUFFERED="1"),  # each line when printed, so its time is when it was
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    killer = threading.Timer(timeout, proc.kill)
    killer.start()
    try:
        lines = [(time.monotonic() - started, line) for line in proc.stdout]
        code = proc.wait()
    finally:
        killer.cancel()
    took = time.monotonic() - started
    if code != 0:
        raise SystemExit(f"civic {' '.join(args)} failed ({code}):\n{''.join(line for _, line in lines)}")
    return lines, took


def write_app(folder: str, app: str, requirements: list[str]) -> str:
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "app.py"), "w") as f:
        f.write(app)
    with open(os.path.join(folder, "requirements.txt"), "w") as f:
        f.write("".join(f"{r}\n" for r in requirements))
    return folder


def disk_usage(path: str) -> tuple[int, int]:
    """(bytes allocated on disk, bytes of the files' contents) under ``path``, each inode once: as the
    builder counts a release's size, and ``du -s``."""
    seen: set[tuple[int, int]] = set()
    allocated = contents = 0
    for where, dirs, files in os.walk(path):
        for name in [where, *(os.path.join(where, n) for n in [*dirs, *files])]:
            st = os.lstat(name)
            if (st.st_dev, st.st_ino) not in seen:
                seen.add((st.st_dev, st.st_ino))
                allocated += st.st_blocks * 512
                contents += st.st_size if stat.S_ISREG(st.st_mode) else 0
    return allocated, contents


def _mib(n: float) -> str:
    return f"{n / (1 << 20):.1f} MiB"


def _runs(values: list[float]) -> str:
    return f"median {statistics.median(values):.1f} s (runs: {', '.join(f'{v:.1f}' for v in values)} s)"


def summary(done: list[Deployed]) -> str:
    """The figures of some deploys: total, the build's own seconds, the phases, and whether each build was cached."""
    phases = ", ".join(f"{name} {statistics.median(d.phases[name] for d in done):.1f} s" for name in done[0].phases)
    return (
        f"{_runs([d.total for d in done])}; the build's own seconds (as recorded): {_runs([d.seconds for d in done])}; "
        f"medians of the phases (the CLI's start to its derived spec, to 'Uploaded', to 'Built', to ready): {phases}; "
        f"builds say cached: {[d.build['cached'] for d in done]}"
    )


def cold(civic: Civic, apps: str, *, name: str, app: str, requirements: list[str], number: int) -> list[Deployed]:
    """First deploys, each of a new service (its build cache empty)."""
    done = []
    for i in range(1, RUNS + 1):
        service = f"{name.lower()}-{i}"
        done.append(deploy(civic, write_app(os.path.join(apps, service), app.format(service=service), requirements)))
    print(
        f"{number}. first deploy of a {name} app ({', '.join(requirements)}), cold (a new service: its build cache "
        f"empty), until `civic deploy` returns with the replica ready: {summary(done)}"
    )
    return done


def code_only(civic: Civic, apps: str, first: list[Deployed]) -> None:
    """A line of app.py changed, requirements.txt not: one redeploy of each Flask service."""
    done = []
    for deployed in first:
        folder = os.path.join(apps, deployed.service)
        done.append(
            deploy(civic, write_app(folder, FLASK_APP.format(service=deployed.service, version="v2"), ["flask"]))
        )
    print(f"3. code-only redeploy of the Flask app (one line of app.py changed): {summary(done)}")


def dependency_change(civic: Civic, apps: str, first: list[Deployed]) -> list[Deployed]:
    """One small package added to requirements.txt: one redeploy of each Flask service (its cache warm)."""
    done = []
    for deployed in first:
        folder = os.path.join(apps, deployed.service)
        done.append(
            deploy(civic, write_app(folder, FLASK_APP.format(service=deployed.service, version="v3"), ["flask", "six"]))
        )
    print(f"4. redeploy of the Flask app adding one package (six) to requirements.txt: {summary(done)}")
    return done


def sizes(label: str, deployed: Deployed) -> None:
    disk = deployed.disk
    print(
        f"5. bytes per release, {label} ({deployed.service}, {deployed.build['id']}): uploaded archive "
        f"{deployed.archive} B ({deployed.uploaded_files} files); release folder on disk "
        f"{_mib(disk['release'])} (file contents {_mib(disk['contents'])}; app/ {disk['app'] / 1024:.0f} KiB, "
        f"venv/ {_mib(disk['venv'])}); size the build recorded {_mib(deployed.build['size'])}; "
        f"the service's build cache (one per service, not per release) {_mib(disk['cache'])}"
    )


def main() -> None:
    if not shutil.which("haproxy"):
        raise SystemExit("needs haproxy: run 'bash scripts/system-deps'.")
    tmp = tempfile.mkdtemp(prefix="civic-bench-releases-")
    os.chmod(tmp, 0o711)  # the data folder is in here: services' own users traverse it
    apps = os.path.join(tmp, "apps")
    civic = None
    try:
        civic = Civic(tmp)
        flask = cold(
            civic, apps, name="Flask", app=FLASK_APP.replace("{version}", "v1"), requirements=["flask"], number=1
        )
        fastapi = cold(civic, apps, name="FastAPI", app=FASTAPI_APP, requirements=["fastapi", "uvicorn"], number=2)
        code_only(civic, apps, flask)
        six = dependency_change(civic, apps, flask)
        sizes("Flask, first deploy", flask[0])
        sizes("FastAPI, first deploy", fastapi[0])
        sizes("Flask + six", six[0])
    finally:
        if civic is not None:
            civic.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
