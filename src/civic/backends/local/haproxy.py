"""HAProxy as the data plane: its configuration, its runtime API, and its process.

The local backend calls :class:`DataPlane`. One frontend port routes by Host header and
path prefix (a map file, longest prefix first) to one HAProxy backend per service.
Each backend has a fixed number of server *slots*; a replica takes a slot through the
runtime API (``set server ... addr``, ``state ready|drain|maint``, ``set weight``), so
starting, draining and removing replicas needs no reload. Only a new service (a new
backend) or more slots reloads HAProxy (master-worker, SIGUSR2); the server-state file
carries every server's state and weight across the reload.

HAProxy runs in its own session: if the control plane dies, it keeps serving, and a
restarted control plane adopts it from its pid file.
"""

from __future__ import annotations

import asyncio
import csv
import dataclasses
import io
import os
import shutil
import signal

from civic import deadlines
from civic.backends.local import processes
from civic.errors import BackendError, PermanentError

SLOTS = 8  # server slots per backend to begin with; a reload grows them


class HAProxyMissing(BackendError, PermanentError):
    """HAProxy is not installed."""


@dataclasses.dataclass(frozen=True)
class Slot:
    number: int
    port: int | None = None  # None: free
    state: str = "maint"  # ready, drain or maint

    @property
    def server(self) -> str:
        return f"r{self.number}"


@dataclasses.dataclass(frozen=True)
class ServiceBackend:
    """One service as HAProxy sees it: its name, routes and slots."""

    name: str  # "<service>.<environment>"
    routes: tuple[str, ...]  # "host/prefix" keys of the route map
    slots: tuple[Slot, ...]


@dataclasses.dataclass(frozen=True)
class Settings:
    port: int
    stats_port: int
    run_dir: str

    @property
    def socket(self) -> str:
        return socket_path(self.run_dir)


def socket_path(run_dir: str) -> str:
    """The admin socket: under /tmp, as a unix socket path must stay under 108 bytes."""
    import hashlib

    return f"/tmp/civic-{hashlib.sha1(os.path.abspath(run_dir).encode()).hexdigest()[:12]}.sock"


def require() -> str:
    """The haproxy binary, or an error that says what to install."""
    found = shutil.which("haproxy") or next(
        (p for p in ("/usr/sbin/haproxy", "/usr/local/sbin/haproxy") if os.path.exists(p)), None
    )
    if not found:
        raise HAProxyMissing(
            "HAProxy is not installed, and Civic routes traffic through it. "
            "Install it with 'sudo apt-get install haproxy' (or run "
            "'bash scripts/system-deps'), then run 'civic up' again."
        )
    return found


# --- configuration (pure) --------------------------------------------------------------


def route_map(backends: list[ServiceBackend]) -> str:
    """The map file: "host/prefix backend", longest first so the most specific route wins."""
    entries = sorted(((r, b.name) for b in backends for r in b.routes), key=lambda e: (-len(e[0]), e))
    return "".join(f"{key} {name}\n" for key, name in entries)


def render(settings: Settings, backends: list[ServiceBackend]) -> str:
    run = settings.run_dir
    lines = [
        "# Written by Civic; changes here are overwritten.",
        "global",
        f"    stats socket {settings.socket} mode 600 level admin expose-fd listeners",
        f"    server-state-file {run}/haproxy.state",
        "    maxconn 4096",
        "defaults",
        "    mode http",
        # Backends are on loopback: a connect succeeds at once or is refused. HAProxy waits
        # min(timeout connect, 1 s) before each retry, so a short timeout and more retries
        # re-send a request to a replacement replica sooner and for as long (2 s) as before.
        "    timeout connect 250ms",
        "    timeout client 60s",
        "    timeout server 60s",
        "    timeout http-keep-alive 10s",
        "    retries 8",
        "    option redispatch 1",
        "    retry-on conn-failure empty-response",
        "    load-server-state-from-file global",
        "frontend civic",
        f"    bind 127.0.0.1:{settings.port}",
        "    http-request set-var(txn.host) req.hdr(host),lower,field(1,:)",
        "    http-request set-var(txn.path) path",
        "    http-request set-var(txn.route) var(txn.host),concat(,txn.path,)",
        f"    use_backend %[var(txn.route),map_beg({run}/routes.map,civic_none)]",
        "frontend civic_stats",
        f"    bind 127.0.0.1:{settings.stats_port}",
        "    http-request use-service prometheus-exporter if { path /metrics }",
        "    stats enable",
        "    stats uri /stats",
        "backend civic_none",
        '    http-request return status 404 content-type text/plain string "No service is deployed '
        'at this address.\\n"',
    ]
    for backend in sorted(backends, key=lambda b: b.name):
        lines += [f"backend {backend.name}", "    balance roundrobin"]
        for slot in backend.slots:
            address = f"127.0.0.1:{slot.port or 9}"
            flag = "" if slot.state == "ready" else " disabled"
            lines.append(f"    server {slot.server} {address} weight 100{flag}")
    return "\n".join(lines) + "\n"


# --- the runtime API -------------------------------------------------------------------


class RuntimeApi:
    """HAProxy's runtime API over its admin socket: one command a connection."""

    def __init__(self, socket: str) -> None:
        self.socket = socket

    def __repr__(self) -> str:
        return f"RuntimeApi(socket={self.socket!r})"

    async def command(self, line: str, *, timeout: float = 5.0) -> str:
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_unix_connection(self.socket), timeout)
        except (OSError, TimeoutError) as e:
            raise processes.RuntimeFailure(f"HAProxy's admin socket {self.socket} does not answer: {e}") from e
        try:
            writer.write(line.encode() + b"\n")
            await writer.drain()
            data = await asyncio.wait_for(reader.read(), timeout)
        except (OSError, TimeoutError) as e:
            raise processes.RuntimeFailure(f"HAProxy did not answer {line!r}: {e}") from e
        finally:
            writer.close()
        text = data.decode(errors="replace")
        if (
            text.strip()
            and not text.startswith("#")
            and any(word in text for word in ("No such", "Unknown", "Require", "not found", "invalid"))
        ):
            raise processes.RuntimeFailure(f"HAProxy refused {line!r}: {text.strip()}")
        return text

    async def stats(self) -> list[dict[str, str]]:
        """``show stat`` as rows of named fields (pxname, svname, scur, req_tot ...)."""
        text = (await self.command("show stat")).lstrip()
        if not text.startswith("# "):  # the header line: "# pxname,svname,..."
            return []
        return list(csv.DictReader(io.StringIO(text[2:])))

    async def set_slot(self, backend: str, slot: Slot) -> None:
        server = f"{backend}/{slot.server}"
        if slot.port is not None:
            await self.command(f"set server {server} addr 127.0.0.1 port {slot.port}")
        await self.command(f"set server {server} state {slot.state}")

    async def set_weight(self, backend: str, slot: Slot, weight: int) -> None:
        await self.command(f"set weight {backend}/{slot.server} {weight}")


# --- the process -----------------------------------------------------------------------


class DataPlane:
    """The HAProxy process: start or adopt it, reload it with new backends, stop it."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.api = RuntimeApi(settings.socket)
        self.handle: processes.Handle | None = None
        self.names: frozenset[str] = frozenset()
        self.shape: tuple = ()

    def __repr__(self) -> str:
        return f"DataPlane(port={self.settings.port}, run_dir={self.settings.run_dir!r})"

    @property
    def _pidfile(self) -> str:
        return os.path.join(self.settings.run_dir, "haproxy.pid")

    def _write_files(self, backends: list[ServiceBackend]) -> str:
        run = self.settings.run_dir
        os.makedirs(run, exist_ok=True)
        _write(os.path.join(run, "routes.map"), route_map(backends))
        config = os.path.join(run, "haproxy.cfg")
        _write(config, render(self.settings, backends))
        return config

    def adopt(self) -> bool:
        """Take over an HAProxy that a previous control plane started; True if there is one."""
        try:
            with open(self._pidfile) as f:
                pid, started = (int(x) for x in f.read().split())
        except (OSError, ValueError):
            return False
        handle = processes.Handle(pid, started)
        if not processes.alive(handle):
            return False
        self.handle = handle
        return True

    async def start(self, backends: list[ServiceBackend]) -> None:
        binary = require()
        config = self._write_files(backends)
        await self._check(binary, config)
        run = self.settings.run_dir
        if not os.path.exists(os.path.join(run, "haproxy.state")):
            _write(os.path.join(run, "haproxy.state"), "1\n")
        self.handle = processes.spawn(
            [binary, "-W", "-f", config],
            environ={"PATH": "/usr/bin:/bin"},
            cwd=run,
            stdout=os.path.join(run, "haproxy.out"),
            stderr=os.path.join(run, "haproxy.err"),
        )
        _write(self._pidfile, f"{self.handle.pid} {self.handle.start_time}\n")
        await self._wait_for(backends)
        self._remember(backends)

    async def reload(self, backends: list[ServiceBackend]) -> None:
        """New backends or routes: save server states, rewrite the files, reload."""
        if self.handle is None or not processes.alive(self.handle):
            await self.start(backends)
            return
        state = await self.api.command("show servers state")
        _write(os.path.join(self.settings.run_dir, "haproxy.state"), state)
        config = self._write_files(backends)
        await self._check(require(), config)
        old = await self._worker_pids()
        os.kill(self.handle.pid, signal.SIGUSR2)
        await self._wait_for(backends, not_pids=old)
        self._remember(backends)

    def needs_reload(self, backends: list[ServiceBackend]) -> bool:
        return _shape(backends) != self.shape

    def _remember(self, backends: list[ServiceBackend]) -> None:
        self.shape = _shape(backends)

    async def _check(self, binary: str, config: str) -> None:
        proc = await asyncio.create_subprocess_exec(
            binary, "-c", "-q", "-f", config, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
        )
        out, _ = await proc.communicate()
        if proc.returncode != 0:
            raise processes.RuntimeFailure(
                f"HAProxy rejects the configuration Civic wrote to {config}: {out.decode(errors='replace').strip()}"
            )

    async def _worker_pids(self) -> set[str]:
        try:
            info = await self.api.command("show info")
        except processes.RuntimeFailure:
            return set()
        return {line.split(":", 1)[1].strip() for line in info.splitlines() if line.startswith("Pid:")}

    async def _wait_for(
        self,
        backends: list[ServiceBackend],
        *,
        not_pids: frozenset[str] | set[str] = frozenset(),
        timeout: float = 10.0,
    ) -> None:
        """Until a worker that is not one of ``not_pids`` answers with every backend."""
        wanted = {b.name for b in backends}
        last = ""

        async def outcome() -> str:
            """'up', 'exited', or '' while it is neither."""
            nonlocal last
            if self.handle is not None and not processes.alive(self.handle):
                return "exited"
            try:
                pids = await self._worker_pids()
                if pids and not pids & not_pids and wanted <= {row["pxname"] for row in await self.api.stats()}:
                    return "up"
            except processes.RuntimeFailure as e:
                last = str(e)
            return ""

        try:
            if await deadlines.apoll(outcome, timeout=timeout, interval=0.05, what="HAProxy to answer") == "up":
                return
        except deadlines.Timeout:
            pass
        err = os.path.join(self.settings.run_dir, "haproxy.err")
        raise processes.RuntimeFailure(f"HAProxy did not come up ({last or 'it exited'}); see {err}.")

    def stop(self) -> None:
        if self.handle is not None:
            processes.signal_group(self.handle, signal.SIGTERM)
        for path in (self._pidfile, self.settings.socket):
            try:
                os.unlink(path)
            except OSError:
                pass


def _shape(backends: list[ServiceBackend]) -> tuple:
    return tuple(sorted((b.name, b.routes, len(b.slots)) for b in backends))


def _write(path: str, text: str) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)
