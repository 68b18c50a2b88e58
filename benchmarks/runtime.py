"""Figures for the local runtime: run with `python benchmarks/runtime.py` (needs haproxy and wrk).

It starts `civic up` on free ports with a copy of the demo estate, then measures and
prints:

1. failed requests during a rolling deploy under wrk load (target 0, at >= 500 req/s);
2. time from SIGKILL of a service's only replica to that service serving again (target < 1 s),
   under wrk load, and the requests that load lost;
3. throughput through HAProxy with Civic's configuration against a plain HAProxy
   straight to the same single backend, in the same run (target >= 0.9x);
4. the control plane's resident memory with 50 services running (target < 300 MB).

Every number printed is measured in this run; nothing is assumed.
"""

from __future__ import annotations

import json
import os
import pathlib
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

import httpx

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "src"))

from civic.backends.local import replicas

HELLO = os.path.join(ROOT, "examples", "services", "hello", "civic.service.yaml")
ENV = "opg-lpa-dev"
DURATION = int(os.environ.get("BENCH_SECONDS", "8"))


class Civic:
    def __init__(self, tmp: str) -> None:
        self.tmp = tmp
        self.estate = os.path.join(tmp, "estate")
        shutil.copytree(os.path.join(ROOT, "examples", "estate"), self.estate, ignore=shutil.ignore_patterns(".civic"))
        env_file = os.path.join(self.estate, "environments", ENV, "environment.yaml")
        with open(env_file, "a") as f:
            f.write('  quota: {services: 60, replicas: 120, cpu: "100", memory: 100Gi}\n')
        self.port, self.api_port, self.stats_port = (replicas.free_port() for _ in range(3))
        self.env = dict(os.environ, CIVIC_CONFIG=os.path.join(tmp, "client.json"))
        self.log = open(os.path.join(tmp, "civic-up.log"), "w+b")  # noqa: SIM115 - civic up writes it until the end
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "civic",
                "up",
                "--estate",
                self.estate,
                "--port",
                str(self.port),
                "--api-port",
                str(self.api_port),
                "--stats-port",
                str(self.stats_port),
            ],
            env=self.env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 60
        while b"Ctrl-C" not in pathlib.Path(self.log.name).read_bytes():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("civic up did not start; see " + self.log.name)
            time.sleep(0.05)

    def civic(self, *args: str) -> str:
        result = subprocess.run(
            [sys.executable, "-m", "civic", *args], env=self.env, text=True, capture_output=True, timeout=300
        )
        if result.returncode != 0:
            raise SystemExit(f"civic {' '.join(args)} failed: {result.stderr}")
        return result.stdout

    def host(self, service: str) -> str:
        return f"{service}.{ENV}.localhost"

    def status(self) -> dict:
        return json.loads(self.civic("status", ENV, "-o", "json"))

    def down(self) -> None:
        if self.proc.poll() is None:
            subprocess.run([sys.executable, "-m", "civic", "down"], env=self.env, capture_output=True, timeout=120)
            self.proc.wait(60)


def wrk(url: str, host: str, *, seconds: int = DURATION, connections: int = 32) -> dict:
    out = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "-H", f"Host: {host}", url],
        capture_output=True,
        text=True,
        timeout=seconds + 60,
    ).stdout
    total = int(re.search(r"(\d+) requests in", out).group(1))
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    non2xx = int(m.group(1)) if (m := re.search(r"Non-2xx or 3xx responses: (\d+)", out)) else 0
    errors = 0
    if m := re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out):
        errors = sum(int(x) for x in m.groups())
    return {"requests": total, "rate": rate, "failed": non2xx + errors, "raw": out}


def rolling_deploy(civic: Civic) -> None:
    civic.civic("deploy", ENV, "-f", HELLO, "--set", "autoscaling=null", "--set", "replicas=2")
    result: dict = {}
    load = threading.Thread(
        target=lambda: result.update(wrk(f"http://127.0.0.1:{civic.port}/", civic.host("hello"), seconds=DURATION + 4))
    )
    load.start()
    time.sleep(2)  # let the load settle before the deploy starts (a benchmark, not a test)
    started = time.monotonic()
    civic.civic(
        "deploy", ENV, "-f", HELLO, "--set", "autoscaling=null", "--set", "replicas=2", "--set", "env.GREETING=Bonjour"
    )
    took = time.monotonic() - started
    load.join()
    print(
        f"1. rolling deploy of 2 replicas under load: {result['requests']} requests at "
        f"{result['rate']:.0f} req/s; failed: {result['failed']} (target 0); the deploy took {took:.1f} s"
    )


def kill_to_serving(civic: Civic, service: str, rounds: int = 3) -> None:
    """Kills spaced by 11 s (a replica ready for 10 s resets the crash back-off), under wrk load."""
    times = []
    _wait(
        lambda: len([r for r in civic.status()["replicas"] if r["phase"] == "ready" and r["service"] == service]) == 1
    )
    result: dict = {}
    load = threading.Thread(
        target=lambda: result.update(
            wrk(f"http://127.0.0.1:{civic.port}/", civic.host(service), seconds=rounds * 13 + 2, connections=8)
        )
    )
    load.start()
    with httpx.Client(
        base_url=f"http://127.0.0.1:{civic.port}", headers={"Host": civic.host(service)}, timeout=5
    ) as client:
        for _ in range(rounds):
            _wait(
                lambda: (
                    len([r for r in civic.status()["replicas"] if r["phase"] == "ready" and r["service"] == service])
                    == 1
                )
            )
            time.sleep(11)
            victim = next(
                r["pid"] for r in civic.status()["replicas"] if r["phase"] == "ready" and r["service"] == service
            )
            t0 = time.monotonic()
            os.kill(victim, signal.SIGKILL)
            while True:
                try:
                    response = client.get("/")
                    if response.status_code == 200 and _pid_of(response.text) != str(victim):
                        break
                except httpx.HTTPError:
                    pass
                time.sleep(0.005)
            times.append(time.monotonic() - t0)
    load.join()
    print(
        f"2. SIGKILL of {service}'s only replica to serving again: median "
        f"{sorted(times)[len(times) // 2]:.3f} s, worst {max(times):.3f} s over {rounds} kills (target < 1 s), "
        f"under {result['rate']:.0f} req/s of load (8 connections) that saw {result['failed']} failed of "
        f"{result['requests']}: the requests in flight on a killed process are lost; those sent "
        "while it is replaced wait for the replacement"
    )


def _pid_of(text: str) -> str:
    match = re.search(r"pid (\d+)", text)
    return match.group(1) if match else "?"


def throughput(civic: Civic) -> None:
    replica = next(r for r in civic.status()["replicas"] if r["phase"] == "ready")
    port = replicas.free_port()
    cfg = os.path.join(civic.tmp, "plain.cfg")
    with open(cfg, "w") as f:
        f.write(
            "global\n    maxconn 4096\ndefaults\n    mode http\n    timeout connect 2s\n"
            "    timeout client 60s\n    timeout server 60s\n"
            f"frontend plain\n    bind 127.0.0.1:{port}\n    default_backend one\n"
            f"backend one\n    server s1 127.0.0.1:{replica['port']}\n"
        )
    plain = subprocess.Popen(
        ["haproxy", "-f", cfg], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    try:
        _wait(lambda: _answers(port))
        direct, routed = [], []
        for _ in range(2):  # alternate, so a noisy neighbour hurts both alike; keep the best of each
            direct.append(wrk(f"http://127.0.0.1:{port}/", civic.host("hello"), seconds=5)["rate"])
            routed.append(wrk(f"http://127.0.0.1:{civic.port}/", civic.host("hello"), seconds=5)["rate"])
    finally:
        os.killpg(plain.pid, signal.SIGTERM)
        plain.wait(10)
    print(
        f"3. throughput to one replica (best of 2 alternating 5 s wrk runs): plain HAProxy "
        f"{max(direct):.0f} req/s, Civic's HAProxy {max(routed):.0f} req/s: "
        f"{max(routed) / max(direct):.2f}x (target >= 0.9x)"
    )


def memory_with_50_services(civic: Civic) -> None:
    spec_dir = os.path.join(civic.tmp, "tiny")
    os.makedirs(spec_dir)
    started = time.monotonic()
    for i in range(49):  # hello is the 50th
        path = os.path.join(spec_dir, f"s{i}.yaml")
        with open(path, "w") as f:
            f.write(
                f"apiVersion: civic/v1\nkind: Service\nmetadata: {{name: tiny-{i}}}\nspec:\n"
                "  run: {command: python -S -m http.server $PORT --bind 127.0.0.1}\n"
                "  replicas: 1\n  readiness: {path: /, intervalSeconds: 1}\n"
            )
        civic.civic("deploy", ENV, "-f", path, "--no-wait")
    _wait(
        lambda: (
            sum(1 for s in json.loads(civic.civic("services", ENV, "-o", "json")) if s["health"] == "healthy") == 50
        ),
        timeout=180,
    )
    with open(f"/proc/{civic.proc.pid}/status") as f:
        rss = next(int(line.split()[1]) for line in f if line.startswith("VmRSS"))
    print(
        f"4. control-plane memory with 50 services running: {rss / 1024:.0f} MB resident "
        f"(target < 300 MB); 49 deploys and all healthy in {time.monotonic() - started:.0f} s"
    )


def _answers(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def _wait(predicate, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise SystemExit("timed out")
        time.sleep(0.1)


def main() -> None:
    if not shutil.which("wrk") or not shutil.which("haproxy"):
        raise SystemExit("needs wrk and haproxy: run 'bash scripts/system-deps'.")
    tmp = tempfile.mkdtemp(prefix="civic-bench-")
    civic = Civic(tmp)
    try:
        rolling_deploy(civic)
        civic.civic("scale", f"{ENV}/hello", "1")
        kill_to_serving(civic, "hello")
        throughput(civic)
        memory_with_50_services(civic)
    finally:
        civic.down()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
