"""From a breach to the owning team's channel: how long, with the settings Civic ships.

    python benchmarks/alert_latency.py [--runs 2]

Starts `civic up` (real HAProxy, Prometheus, Alertmanager) on free ports with a copy of
examples/estate, points team laa-apply's Slack webhook (a team secret) at a receiver on
loopback, deploys a small service into laa-apply-production under steady traffic, then
deploys a bad release that answers 500. Measures, per run, from the first 500 the load
generator sees to the Slack-format message arriving, and prints the settings that set it.
Each run uses a service of its own (web1, web2 ...), so each measures a service's first
breach: a new Alertmanager group, held for group_wait. With --repeat, one more run breaks
web1 again, after the other runs: a group that notified less than group_interval (30 s) before
holds a new alert until that interval ends, so a service that fails again within 30 s of its
last message hears of it up to 30 s later; past that, as here, it is as quick as a first breach.
Target (issue 5): under 15 s. Alertmanager's default group_wait alone is 30 s.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WEBAPP = os.path.join(ROOT, "tests", "backends", "local", "apps", "webapp.py")
ENV = "laa-apply-production"
SERVICE = f"""apiVersion: civic/v1
kind: Service
metadata:
  name: NAME
spec:
  run: {{command: {sys.executable} {WEBAPP}}}
  replicas: 2
  readiness: {{path: /healthz, intervalSeconds: 0.5, timeoutSeconds: 1, failureThreshold: 2}}
  resources: {{cpu: 500m, memory: 256Mi, requestCpu: 100m, requestMemory: 128Mi}}
  env: {{FAIL: "0"}}
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Receiver:
    def __init__(self) -> None:
        self.arrivals: list[tuple[float, str]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                outer.arrivals.append((time.monotonic(), body["attachments"][0]["title"]))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/slack"


class Load:
    """Steady traffic; remembers when it first saw a 500 after ``arm()``."""

    def __init__(self, port: int, service: str) -> None:
        self.client = httpx.Client(
            base_url=f"http://127.0.0.1:{port}", timeout=5, headers={"Host": f"{service}.{ENV}.localhost"}
        )
        self.stop = threading.Event()
        self.first_error: float | None = None
        self.ok = 0
        self.armed = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def arm(self) -> None:
        self.first_error, self.armed = None, True

    def _run(self) -> None:
        while not self.stop.wait(0.02):
            try:
                status = self.client.get("/").status_code
            except httpx.HTTPError:
                continue
            self.ok += status == 200
            if status >= 500 and self.armed and self.first_error is None:
                self.first_error = time.monotonic()


def civic(env: dict, *args: str, stdin: str | None = None) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "civic", *args], env=env, text=True, input=stdin, capture_output=True, timeout=180
    )
    if result.returncode != 0:
        sys.exit(f"civic {' '.join(args)} failed:\n{result.stdout}{result.stderr}")
    return result.stdout


def wait(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = predicate()
        if found:
            return found
        time.sleep(0.05)
    sys.exit(f"timed out waiting for {what}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3, help="services to break, one run each")
    parser.add_argument(
        "--repeat",
        action="store_true",
        help="also break the first service again after it resolved (group_interval bound)",
    )
    args = parser.parse_args()
    tmp = tempfile.mkdtemp(prefix="civic-alert-bench-")
    estate = os.path.join(tmp, "estate")
    shutil.copytree(os.path.join(ROOT, "examples", "estate"), estate, ignore=shutil.ignore_patterns(".civic"))
    env = dict(os.environ, CIVIC_CONFIG=os.path.join(tmp, "client.json"))
    env.pop("CIVIC_TOKEN", None)
    receiver = Receiver()
    civic(env, "secret", "set", "laa-apply", "apply-slack-webhook", "--team", "--estate", estate, stdin=receiver.url)
    port, api, stats = free_port(), free_port(), free_port()
    log = open(os.path.join(tmp, "up.log"), "wb")  # noqa: SIM115 - civic up writes it until the end
    up = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "civic",
            "up",
            "--estate",
            estate,
            "--port",
            str(port),
            "--api-port",
            str(api),
            "--stats-port",
            str(stats),
            "--prometheus-port",
            str(free_port()),
            "--alertmanager-port",
            str(free_port()),
            "--pushgateway-port",
            str(free_port()),
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    results: list[float] = []
    repeats: list[float] = []
    try:
        wait(lambda: b"Ctrl-C" in pathlib.Path(tmp, "up.log").read_bytes(), 90, "civic up")
        services = [f"web{n + 1}" for n in range(args.runs)]
        for service in services:
            breach(env, tmp, port, receiver, service, results)
        if args.repeat:
            repeats.append(breach(env, tmp, port, receiver, services[0], []))
    finally:
        subprocess.run([sys.executable, "-m", "civic", "down"], env=env, capture_output=True, timeout=120)
        up.wait(60)
        shutil.rmtree(tmp, ignore_errors=True)
    from civic.observability import routing, rules, scrape

    print(
        f"breach → team's webhook: median {statistics.median(results):.1f} s, worst {max(results):.1f} s "
        f"over {len(results)} runs, a service's first breach each (target < 15 s)"
    )
    if repeats:
        print(
            f"web1 breaking again, more than group_interval ({routing.GROUP_INTERVAL}) after its last "
            f"message: {repeats[0]:.1f} s"
        )
    print(
        f"settings: scrape_interval {scrape.SCRAPE_INTERVAL}, evaluation_interval {scrape.EVALUATION_INTERVAL}, "
        f"{rules.HIGH_ERROR_RATE} 'for' {_for(rules.HIGH_ERROR_RATE)} over rate(...[1m]), "
        f"Alertmanager group_wait {routing.GROUP_WAIT}, group_interval {routing.GROUP_INTERVAL}"
    )


def breach(env: dict, tmp: str, port: int, receiver: Receiver, service: str, results: list[float]) -> float:
    """Deploys SERVICE healthy, breaks it, times the firing message, mends it, waits for resolved."""
    # The service's folder, which its replicas get a copy of (as their own user): apart from the
    # client config (the admin token) and readable by every user.
    folder = os.path.join(tmp, "services", service)
    os.makedirs(folder, exist_ok=True)
    for path in (tmp, os.path.join(tmp, "services"), folder):
        os.chmod(path, 0o711 if path == tmp else 0o755)
    spec = os.path.join(folder, "civic.service.yaml")
    with open(spec, "w") as f:
        f.write(SERVICE.replace("NAME", service))
    civic(env, "deploy", ENV, "-f", spec)
    load = Load(port, service)
    wait(lambda: load.ok >= 50, 60, f"healthy traffic to {service}")
    time.sleep(4)  # a benchmark, not a test: a couple of scrapes of healthy traffic first
    load.arm()
    seen = len(receiver.arrivals)
    civic(env, "deploy", ENV, "-f", spec, "--set", "env.FAIL=1")
    wait(lambda: load.first_error, 60, "the first 500")
    arrived = wait(
        lambda: [a for a in receiver.arrivals[seen:] if a[1].startswith("[FIRING") and service in a[1]],
        120,
        "the firing message",
    )[0][0]
    took = arrived - load.first_error
    results.append(took)
    print(f"{service}: first 500 → team's webhook in {took:.1f} s", flush=True)
    seen = len(receiver.arrivals)
    civic(env, "deploy", ENV, "-f", spec, "--set", "env.FAIL=0")
    wait(
        lambda: [a for a in receiver.arrivals[seen:] if a[1].startswith("[RESOLVED") and service in a[1]],
        240,
        "the resolved message",
    )
    load.stop.set()
    return took


def _for(alert: str) -> str:
    from civic.observability import rules
    from civic.spec import models

    env = models.Environment.model_validate(
        {
            "apiVersion": "civic/v1",
            "kind": "Environment",
            "metadata": {"name": "x"},
            "spec": {
                "team": "t",
                "businessUnit": "b",
                "application": "a",
                "production": False,
                "environmentName": "development",
            },
        }
    )
    return next(r["for"] for r in rules.service_rules(environment=env, service="s") if r["alert"] == alert)


if __name__ == "__main__":
    main()
