"""From a breach to the owning team's channel: how long, with the settings Civic ships.

    python benchmarks/alert_latency.py [--runs 2]

Starts `civic up` (real HAProxy, Prometheus, Alertmanager) on free ports with a copy of
examples/estate, points team laa-apply's Slack webhook (a team secret) at a receiver on
loopback, deploys a small service into laa-apply-production under steady traffic, then
deploys a bad release that answers 500. Measures, per run, from the first 500 the load
generator sees to the Slack-format message arriving, and prints the settings that set it.
Target (issue 5): under 15 s. Alertmanager's default group_wait alone is 30 s.
"""

from __future__ import annotations

import argparse
import json
import os
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
WEBAPP = os.path.join(ROOT, "tests", "runtime", "apps", "webapp.py")
ENV = "laa-apply-production"
SERVICE = f"""apiVersion: civic/v1
kind: Service
metadata:
  name: web
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
            def do_POST(self) -> None:  # noqa: N802
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

    def __init__(self, port: int) -> None:
        self.client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=5,
                                   headers={"Host": f"web.{ENV}.localhost"})
        self.stop = threading.Event()
        self.first_error: float | None = None
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
            if status >= 500 and self.armed and self.first_error is None:
                self.first_error = time.monotonic()


def civic(env: dict, *args: str, stdin: str | None = None) -> str:
    result = subprocess.run([sys.executable, "-m", "civic", *args], env=env, text=True, input=stdin,
                            capture_output=True, timeout=180)
    if result.returncode != 0:
        sys.exit(f"civic {' '.join(args)} failed:\n{result.stdout}{result.stderr}")
    return result.stdout


def wait(predicate, timeout: float, what: str):  # noqa: ANN001, ANN201
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = predicate()
        if found:
            return found
        time.sleep(0.05)
    sys.exit(f"timed out waiting for {what}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=2)
    args = parser.parse_args()
    tmp = tempfile.mkdtemp(prefix="civic-alert-bench-")
    estate = os.path.join(tmp, "estate")
    shutil.copytree(os.path.join(ROOT, "examples", "estate"), estate, ignore=shutil.ignore_patterns(".civic"))
    env = dict(os.environ, CIVIC_CONFIG=os.path.join(tmp, "client.json"))
    env.pop("CIVIC_TOKEN", None)
    receiver = Receiver()
    civic(env, "secret", "set", "laa-apply", "apply-slack-webhook", "--team", "--estate", estate, stdin=receiver.url)
    port, api, stats = free_port(), free_port(), free_port()
    log = open(os.path.join(tmp, "up.log"), "wb")  # noqa: SIM115
    up = subprocess.Popen([sys.executable, "-m", "civic", "up", "--estate", estate, "--port", str(port),
                           "--api-port", str(api), "--stats-port", str(stats),
                           "--prometheus-port", str(free_port()), "--alertmanager-port", str(free_port()),
                           "--pushgateway-port", str(free_port())],
                          env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    results = []
    try:
        wait(lambda: b"Ctrl-C" in open(os.path.join(tmp, "up.log"), "rb").read(), 90, "civic up")
        spec = os.path.join(tmp, "civic.service.yaml")
        with open(spec, "w") as f:
            f.write(SERVICE)
        civic(env, "deploy", ENV, "-f", spec)
        load = Load(port)
        time.sleep(6)  # a benchmark, not a test: a few scrapes of healthy traffic first
        for run in range(args.runs):
            load.arm()
            seen = len(receiver.arrivals)
            civic(env, "deploy", ENV, "-f", spec, "--set", "env.FAIL=1")
            wait(lambda: load.first_error, 60, "the first 500")
            arrived = wait(lambda: [a for a in receiver.arrivals[seen:] if a[1].startswith("[FIRING")], 120,
                           "the firing message")[0][0]
            results.append(arrived - load.first_error)
            print(f"run {run + 1}: first 500 → team's webhook in {results[-1]:.1f} s", flush=True)
            civic(env, "deploy", ENV, "-f", spec, "--set", "env.FAIL=0")
            seen = len(receiver.arrivals)
            wait(lambda: [a for a in receiver.arrivals[seen:] if a[1].startswith("[RESOLVED")], 240,
                 "the resolved message")
        load.stop.set()
    finally:
        subprocess.run([sys.executable, "-m", "civic", "down"], env=env, capture_output=True, timeout=120)
        up.wait(60)
        shutil.rmtree(tmp, ignore_errors=True)
    from civic.observability import routing, rules, scrape
    print(f"breach → team's webhook: median {statistics.median(results):.1f} s, worst {max(results):.1f} s "
          f"over {len(results)} runs (target < 15 s)")
    print(f"settings: scrape_interval {scrape.SCRAPE_INTERVAL}, evaluation_interval {scrape.EVALUATION_INTERVAL}, "
          f"{rules.HIGH_ERROR_RATE} 'for' {_for(rules.HIGH_ERROR_RATE)} over rate(...[1m]), "
          f"Alertmanager group_wait {routing.GROUP_WAIT}, group_interval {routing.GROUP_INTERVAL}")


def _for(alert: str) -> str:
    from civic.observability import rules
    from civic.spec import models
    env = models.Environment.model_validate({
        "apiVersion": "civic/v1", "kind": "Environment", "metadata": {"name": "x"},
        "spec": {"team": "t", "businessUnit": "b", "application": "a", "production": False,
                 "environmentName": "development"}})
    return next(r["for"] for r in rules.service_rules(environment=env, service="s") if r["alert"] == alert)


if __name__ == "__main__":
    main()
