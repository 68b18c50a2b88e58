"""Prometheus, Alertmanager and the Pushgateway, run by Civic as child processes.

``civic up`` starts a :class:`Stack` beside the runtime. The binaries come from Debian's
packages (``prometheus``, ``prometheus-alertmanager``, ``prometheus-pushgateway``); when
one is missing, :func:`missing` says which package to install and Civic runs without
monitoring instead of failing. Configuration is written by the caller (the files under
``workdir``); :meth:`Stack.reload` asks both servers to re-read it without a restart.

The servers answer Civic only: each runs with a ``--web.config.file`` that asks for basic
auth. At first start Civic makes a random password, keeps it in ``auth/password`` (mode 0600,
in a folder only Civic's user may enter) and gives the servers only its bcrypt hash
(``auth/web.yml``, 0600 too). Everything Civic does with them authenticates: its
Alertmanager client (:meth:`Stack.alertmanager`), the readiness checks, the reloads, and
Prometheus itself towards Alertmanager and the Pushgateway (``password_file`` in
prometheus.yml, from :meth:`Stack.basic_auth`). The password is never logged nor written
into a configuration.
"""

from __future__ import annotations

import dataclasses
import os
import re
import secrets
import shutil
import signal
import subprocess

import bcrypt
import httpx
import yaml

from civic import deadlines
from civic.errors import BackendError, UsageError
from civic.observability import alertmanager

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


USER = "civic"  # the one user the servers know


def password_file(workdir: str) -> str:
    """Where Civic keeps the monitoring servers' password (mode 0600)."""
    return os.path.join(workdir, "auth", "password")


def web_config_file(workdir: str) -> str:
    """The servers' ``--web.config.file``: the bcrypt hash of the password (mode 0600)."""
    return os.path.join(workdir, "auth", "web.yml")


@dataclasses.dataclass(frozen=True)
class Credentials:
    """The user and password the servers ask for (the password stays out of ``repr``)."""

    user: str
    password: str = dataclasses.field(repr=False)

    def auth(self) -> httpx.BasicAuth:
        return httpx.BasicAuth(self.user, self.password)


def credentials(workdir: str) -> Credentials:
    """The credentials of the servers whose files are in ``workdir``; MonitoringError until Civic made them."""
    try:
        with open(password_file(workdir)) as f:
            password = f.read().strip()
    except OSError as e:
        raise MonitoringError(
            f"the monitoring servers' password is not in {password_file(workdir)} ({e.strerror}); "
            "'civic up' makes it when it first starts them."
        ) from e
    return Credentials(USER, password)


def ensure_credentials(workdir: str) -> None:
    """Make the password (once, kept across restarts) and the web config that holds its hash."""
    os.makedirs(os.path.join(workdir, "auth"), mode=0o700, exist_ok=True)
    os.chmod(os.path.join(workdir, "auth"), 0o700)
    try:
        password = credentials(workdir).password
    except MonitoringError:
        password = ""
    if not password:
        password = secrets.token_urlsafe(32)
        _write_private(password_file(workdir), password + "\n")
    os.chmod(password_file(workdir), 0o600)
    if _hash_matches(web_config_file(workdir), password):
        return
    hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=10)).decode()
    _write_private(web_config_file(workdir), yaml.safe_dump({"basic_auth_users": {USER: hashed}}))


def _hash_matches(path: str, password: str) -> bool:
    try:
        with open(path) as f:
            hashed = yaml.safe_load(f)["basic_auth_users"][USER]
        return bcrypt.checkpw(password.encode(), hashed.encode())
    except (OSError, yaml.YAMLError, KeyError, TypeError, ValueError):
        return False


def _write_private(path: str, text: str) -> None:
    """Write ``path`` with mode 0600 from its first byte, through a temporary file and a rename."""
    tmp = path + ".tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


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

    def credentials(self) -> Credentials:
        return credentials(self.workdir)

    def basic_auth(self) -> dict[str, str]:
        """The ``basic_auth`` block with which Prometheus reaches Alertmanager and the Pushgateway."""
        return {"username": USER, "password_file": password_file(self.workdir)}

    def alertmanager(self, *, timeout: float = 5.0) -> alertmanager.Alertmanager:
        """A client for this Alertmanager's API, with Civic's credentials."""
        return alertmanager.Alertmanager(self.alertmanager_url, auth=self.credentials().auth(), timeout=timeout)

    def commands(self) -> dict[str, list[str]]:
        p = self.ports
        web = f"--web.config.file={web_config_file(self.workdir)}"
        return {
            "prometheus": [
                BINARIES["prometheus"][0],
                f"--config.file={self.path('prometheus.yml')}",
                f"--storage.tsdb.path={self.path('data', 'prometheus')}",
                f"--storage.tsdb.retention.time={self.retention}",
                f"--web.listen-address=127.0.0.1:{p.prometheus}",
                web,
                "--web.enable-lifecycle",
                # an alert that fires before Prometheus has found Alertmanager is sent again after
                # this delay (1m by default): a team hears of a failure soon after `civic up` too
                "--rules.alert.resend-delay=10s",
            ],
            "alertmanager": [
                BINARIES["alertmanager"][0],
                f"--config.file={self.path('alertmanager.yml')}",
                f"--storage.path={self.path('data', 'alertmanager')}",
                f"--web.listen-address=127.0.0.1:{p.alertmanager}",
                web,
                "--cluster.listen-address=",
            ],
            "pushgateway": [BINARIES["pushgateway"][0], f"--web.listen-address=127.0.0.1:{p.pushgateway}", web],
        }

    def start(self, *, timeout: float = 20.0) -> None:
        """Start the servers (configuration must be written) and wait until each is ready."""
        if missing():
            raise MonitoringError(
                f"monitoring needs the Debian packages {', '.join(missing())}; "
                f"run 'apt-get install {' '.join(missing())}'."
            )
        ensure_credentials(self.workdir)
        os.makedirs(self.path("logs"), mode=0o700, exist_ok=True)
        auth = self.credentials().auth()
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
                if self._ready(name, url, auth):
                    del waiting[name]
            return not waiting

        try:
            deadlines.poll(all_ready, timeout=timeout, interval=0.05, what="the monitoring servers")
        except deadlines.Timeout as e:
            name, url = next(iter(waiting.items()))
            raise MonitoringError(
                f"{name} did not become ready at {url}; see {self.path('logs', name + '.log')}."
            ) from e

    def _ready(self, name: str, url: str, auth: httpx.Auth) -> bool:
        """True once ``name`` answers ``url``; MonitoringError if it has exited, or refuses Civic's credentials."""
        process = self.processes[name]
        if process.poll() is not None:
            raise MonitoringError(
                f"{name} exited with code {process.returncode} at start; see {self.path('logs', name + '.log')}."
            )
        try:
            status = httpx.get(url, auth=auth, timeout=1.0).status_code
        except httpx.HTTPError:
            return False
        if status == 401:
            raise MonitoringError(
                f"{name} refused Civic's credentials at {url}; is another server on its port? "
                f"'civic up --{name}-port' takes another."
            )
        return status == 200

    def reload(self) -> None:
        """Ask Prometheus and Alertmanager to re-read their configuration."""
        auth = self.credentials().auth()
        for name, url in (("prometheus", self.prometheus_url), ("alertmanager", self.alertmanager_url)):
            try:
                response = httpx.post(url + "/-/reload", auth=auth, timeout=10.0)
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
