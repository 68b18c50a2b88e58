"""Prometheus, Alertmanager and the Pushgateway, run by Civic as child processes.

``civic up`` starts a :class:`Stack` beside the runtime. The binaries come from Debian's
packages (``prometheus``, ``prometheus-alertmanager``, ``prometheus-pushgateway``); when
one is missing, :func:`missing` says which package to install and Civic runs without
monitoring instead of failing. Configuration is written by the caller (the files under
``workdir``); :meth:`Stack.reload` asks both servers to re-read it without a restart.
"""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import signal
import subprocess

import httpx

from civic import deadlines
from civic.errors import BackendError, UsageError

BINARIES = {  # the command, and the Debian package that ships it
    "prometheus": ("prometheus", "prometheus"),
    "alertmanager": ("prometheus-alertmanager", "prometheus-alertmanager"),
    "pushgateway": ("prometheus-pushgateway", "prometheus-pushgateway"),
}


class MonitoringError(BackendError):
    """A monitoring server did not start or did not answer."""


_DURATION = re.compile(r"^(?:\d+(?:y|w|d|h|m|s|ms))+$")


def check_retention(value: str) -> str:
    """``value`` if Prometheus takes it as a retention time; else a UsageError saying how to write one."""
    if not _DURATION.match(value) or not any(ch != "0" for ch in re.sub(r"[a-z]", "", value)):
        raise UsageError(
            f"--metrics-retention '{value}' is not a duration Prometheus understands; "
            "write a number and a unit, such as 12h, 15d, 8w or 1y."
        )
    return value


def missing() -> list[str]:
    """The Debian packages to install before monitoring can run (empty when all are there)."""
    return sorted({package for binary, package in BINARIES.values() if shutil.which(binary) is None})


@dataclasses.dataclass(frozen=True)
class Ports:
    prometheus: int = 9090
    alertmanager: int = 9093
    pushgateway: int = 9091


@dataclasses.dataclass
class Stack:
    """The three servers, on 127.0.0.1, with their files under ``workdir``."""

    workdir: str
    ports: Ports = Ports()
    retention: str = "15d"
    processes: dict[str, subprocess.Popen] = dataclasses.field(default_factory=dict)

    @property
    def prometheus_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.prometheus}"

    @property
    def alertmanager_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.alertmanager}"

    @property
    def pushgateway_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.pushgateway}"

    def path(self, *parts: str) -> str:
        return os.path.join(self.workdir, *parts)

    def commands(self) -> dict[str, list[str]]:
        p = self.ports
        return {
            "prometheus": [
                BINARIES["prometheus"][0],
                f"--config.file={self.path('prometheus.yml')}",
                f"--storage.tsdb.path={self.path('data', 'prometheus')}",
                f"--storage.tsdb.retention.time={self.retention}",
                f"--web.listen-address=127.0.0.1:{p.prometheus}",
                "--web.enable-lifecycle",
            ],
            "alertmanager": [
                BINARIES["alertmanager"][0],
                f"--config.file={self.path('alertmanager.yml')}",
                f"--storage.path={self.path('data', 'alertmanager')}",
                f"--web.listen-address=127.0.0.1:{p.alertmanager}",
                "--cluster.listen-address=",
            ],
            "pushgateway": [BINARIES["pushgateway"][0], f"--web.listen-address=127.0.0.1:{p.pushgateway}"],
        }

    def start(self, *, timeout: float = 20.0) -> None:
        """Start the servers (configuration must be written) and wait until each is ready."""
        if missing():
            raise MonitoringError(
                f"monitoring needs the Debian packages {', '.join(missing())}; "
                f"run 'apt-get install {' '.join(missing())}'."
            )
        os.makedirs(self.path("logs"), exist_ok=True)
        for name, command in self.commands().items():
            log = open(self.path("logs", f"{name}.log"), "ab")  # noqa: SIM115 - the child keeps it
            self.processes[name] = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
            )
            log.close()
        waiting = {
            name: url + "/-/ready"
            for name, url in (
                ("prometheus", self.prometheus_url),
                ("alertmanager", self.alertmanager_url),
                ("pushgateway", self.pushgateway_url),
            )
        }

        def all_ready() -> bool:
            for name, url in list(waiting.items()):
                if self._ready(name, url):
                    del waiting[name]
            return not waiting

        try:
            deadlines.poll(all_ready, timeout=timeout, interval=0.05, what="the monitoring servers")
        except deadlines.Timeout as e:
            name, url = next(iter(waiting.items()))
            raise MonitoringError(
                f"{name} did not become ready at {url}; see {self.path('logs', name + '.log')}."
            ) from e

    def _ready(self, name: str, url: str) -> bool:
        """True once ``name`` answers ``url``; MonitoringError if it has exited."""
        process = self.processes[name]
        if process.poll() is not None:
            raise MonitoringError(
                f"{name} exited with code {process.returncode} at start; see {self.path('logs', name + '.log')}."
            )
        try:
            return httpx.get(url, timeout=1.0).status_code == 200
        except httpx.HTTPError:
            return False

    def reload(self) -> None:
        """Ask Prometheus and Alertmanager to re-read their configuration."""
        for name, url in (("prometheus", self.prometheus_url), ("alertmanager", self.alertmanager_url)):
            try:
                response = httpx.post(url + "/-/reload", timeout=10.0)
            except httpx.HTTPError as e:
                raise MonitoringError(f"{name} did not answer a reload at {url}: {e}.") from e
            if response.status_code != 200:
                raise MonitoringError(f"{name} refused its new configuration: {response.text.strip()}")

    def stop(self, *, grace: float = 5.0) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        running = list(self.processes.values())
        try:
            deadlines.poll(
                lambda: all(p.poll() is not None for p in running),
                timeout=grace,
                interval=0.05,
                what="the monitoring servers to stop",
            )
        except deadlines.Timeout:
            for process in running:
                if process.poll() is None:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait()
        self.processes.clear()
