"""``civic up`` as a subprocess on free ports, with its own estate copy and client config.

The finaliser stops Civic with ``civic down``; if the test killed it, it kills what the
store says is running (replicas' process groups, HAProxy) so nothing outlives the test.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator

import httpx
import pytest

from civic import deadlines
from civic.backends.local import haproxy, processes, replicas
from civic.store import deployments
from civic.store.state import StateStore

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HELLO = os.path.join(ROOT, "examples", "services", "hello", "civic.service.yaml")
SITE = os.path.join(ROOT, "examples", "services", "static-site", "civic.service.yaml")
ENV = "opg-lpa-dev"


class Civic:
    def __init__(self, estate: str, tmp: str) -> None:
        self.estate = estate
        self.port, self.api_port, self.stats_port = (replicas.free_port() for _ in range(3))
        self.env = dict(os.environ, CIVIC_CONFIG=os.path.join(tmp, "client.json"), COLUMNS="200")
        self.env.pop("CIVIC_TOKEN", None)
        self.log = os.path.join(tmp, "civic-up.log")
        self.proc: subprocess.Popen | None = None

    def up(self, *extra: str, monitoring: bool = False) -> None:
        """Start ``civic up``; monitoring (Prometheus, Alertmanager) only where a test needs it."""
        self.offset = len(self.output()) if os.path.exists(self.log) else 0
        if monitoring:
            self.monitoring_ports = [replicas.free_port() for _ in range(3)]
            extra = (
                "--prometheus-port",
                str(self.monitoring_ports[0]),
                "--alertmanager-port",
                str(self.monitoring_ports[1]),
                "--pushgateway-port",
                str(self.monitoring_ports[2]),
                *extra,
            )
        else:
            extra = ("--no-monitoring", *extra)
        with open(self.log, "ab") as log:
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
                    *extra,
                ],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

        def started() -> bool:
            assert self.proc.poll() is None, f"civic up exited: {self.output()}"
            return "Ctrl-C" in self.output()

        try:
            deadlines.poll(started, timeout=60, interval=0.05, what="civic up to start")
        except deadlines.Timeout as e:
            raise AssertionError(f"civic up did not start: {self.output()}") from e

    def output(self) -> str:
        with open(self.log, errors="replace") as f:
            return f.read()[getattr(self, "offset", 0) :]

    def civic(self, *args: str, token: str | None = None) -> subprocess.CompletedProcess:
        env = dict(self.env, CIVIC_TOKEN=token) if token else self.env
        return subprocess.run(
            [sys.executable, "-m", "civic", *args], env=env, text=True, capture_output=True, timeout=120
        )

    def client(self, service: str, env: str = ENV) -> httpx.Client:
        return httpx.Client(
            base_url=f"http://127.0.0.1:{self.port}",
            timeout=10,
            headers={"Host": f"{service}.{env}.localhost:{self.port}"},
        )

    def wait_ready(self, service: str, ready: int, env: str = ENV) -> None:
        rows: list[dict] = []

        def healthy() -> bool:
            nonlocal rows
            rows = json.loads(self.civic("services", env, "-o", "json").stdout)
            return any(r["service"] == service and r["ready"] == ready and r["health"] == "healthy" for r in rows)

        try:
            deadlines.poll(healthy, timeout=30, what=f"{service} to have {ready} ready")
        except deadlines.Timeout as e:
            raise AssertionError(f"{service} never had {ready} ready: {rows}") from e

    def kill(self) -> None:
        """As if the control plane crashed: SIGKILL, no clean-up."""
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def down(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            result = self.civic("down")
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:  # the API stopped but the process did not exit
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
                sys.stderr.write(
                    f"civic up had to be killed 60 s after 'civic down'; its log ends:\n{self.output()[-2000:]}\n"
                )
            assert result.returncode == 0, result.stderr
        self._kill_leftovers()

    def _kill_leftovers(self) -> None:
        store = StateStore(os.path.join(self.estate, ".civic", "state.db"))
        try:
            for record in deployments.Deployments(store).replica_records():
                processes.signal_group(processes.Handle(record.pid, record.start_time), signal.SIGKILL)
        finally:
            store.close()
        dataplane = haproxy.DataPlane(
            haproxy.Settings(self.port, self.stats_port, os.path.join(self.estate, ".civic", "run"))
        )
        if dataplane.adopt():
            dataplane.stop()


@pytest.fixture
def civic(estate_dir, tmp_path) -> Iterator[Civic]:
    c = Civic(estate_dir, str(tmp_path))
    try:
        yield c
    finally:
        c.down()
