"""Operating-system processes: start one in its own session, know it again, stop it.

The supervisor calls :func:`spawn` for each replica (and the data plane for HAProxy).
Every process runs in a new session, so Ctrl-C on ``civic up`` does not reach it and a
control plane that dies leaves it serving. A replica given a :class:`User` is started by
:mod:`civic.backends.local.launcher`, which drops to that user (no supplementary groups,
``no_new_privs``) and, where :func:`can_hide_processes`, gives it a private ``/proc``.
:func:`marked` finds every process whose environment carries a Civic's identity, which
each replica inherits (``CIVIC_INSTANCE``, ``CIVIC_REPLICA_ID``): adoption finds the ones
no record names. A process is identified by its pid *and*
its start time, so a recycled pid is never mistaken for ours when a restarted control
plane adopts what it finds. psutil reads the processes; the start time is kept in the
unit the store has always held (clock ticks since boot, ``/proc/<pid>/stat`` field 22),
so replicas recorded by an earlier release are still recognised and adopted.
"""

from __future__ import annotations

import dataclasses
import errno
import functools
import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence

import psutil

from civic.backends.local import identities, launcher
from civic.errors import BackendError

INSTANCE_VAR = "CIVIC_INSTANCE"
REPLICA_VAR = "CIVIC_REPLICA_ID"


class RuntimeFailure(BackendError):
    """A process could not be started, or the data plane refused a command."""


@dataclasses.dataclass(frozen=True)
class Handle:
    pid: int
    start_time: int


@dataclasses.dataclass(frozen=True)
class User:
    """Who a replica runs as: a uid and gid of its own, with no supplementary groups."""

    uid: int
    gid: int
    hide_processes: bool = False


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
_GONE = (psutil.STATUS_ZOMBIE, psutil.STATUS_DEAD)  # a zombie has exited; only its parent has yet to reap it
_known: dict[Handle, psutil.Process] = {}
"""The processes already matched to their handle. A psutil Process notices by itself when
its pid is recycled (``is_running`` compares start times), so a match is made once, not on
every poll of the supervisor's tick."""


def _ticks(process: psutil.Process) -> int:
    """psutil's start time (seconds since the epoch, from the boot time) in clock ticks since boot."""
    return round((process.create_time() - psutil.boot_time()) * CLOCK_TICKS)


def start_time(pid: int) -> int | None:
    """The process's start time in clock ticks since boot; None if there is no such process."""
    try:
        process = psutil.Process(pid)
        return None if process.status() in _GONE else _ticks(process)
    except psutil.Error:
        return None


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of the process, in seconds (0 when it is gone)."""
    try:
        times = psutil.Process(pid).cpu_times()
    except psutil.Error:
        return 0.0
    return times.user + times.system


def _running(handle: Handle) -> bool:
    process = _known.get(handle)
    try:
        if process is None:
            process = psutil.Process(handle.pid)
            if _ticks(process) != handle.start_time:
                return False
            _known[handle] = process
        if process.is_running() and process.status() not in _GONE:
            return True
    except psutil.Error:
        pass
    _known.pop(handle, None)
    return False


def poll(handle: Handle) -> tuple[bool, int | None]:
    """(running, exit code when known). Reaps our own children; adopted ones init reaps."""
    try:
        done, status = os.waitpid(handle.pid, os.WNOHANG)
        if done:
            return False, os.waitstatus_to_exitcode(status)
    except ChildProcessError:
        pass  # not our child (adopted), or already reaped
    return _running(handle), None


def alive(handle: Handle) -> bool:
    """True while the very process of ``handle`` runs (not a later one with its pid)."""
    return poll(handle)[0]


def spawn(
    command: Sequence[str],
    *,
    environ: Mapping[str, str],
    cwd: str | None,
    stdout: str,
    stderr: str,
    user: User | None = None,
) -> Handle:
    """Start ``command`` in a new session with output appended to two files (created 0600),
    as ``user`` when given (only root can)."""
    os.makedirs(os.path.dirname(stdout), mode=0o700, exist_ok=True)
    _check(command, environ)
    try:
        out = os.open(stdout, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            err = os.open(stderr, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                if user is None:
                    proc = _popen(list(command), env=dict(environ), cwd=cwd, stdout=out, stderr=err)
                else:
                    proc = _launch(list(command), environ=environ, cwd=cwd, stdout=out, stderr=err, user=user)
            finally:
                os.close(err)
        finally:
            os.close(out)
    except OSError as e:
        raise RuntimeFailure(f"cannot start {command[0]!r}: {e.strerror or e}") from e
    # Popen keeps no reference we need: the supervisor reaps by pid.
    proc.returncode = 0  # stop Popen.__del__ from warning about a process still running
    started = start_time(proc.pid)
    return Handle(proc.pid, started if started is not None else -1)


def _popen(command: list[str], **options) -> subprocess.Popen:  # noqa: ANN003 - Popen's own options
    return subprocess.Popen(command, stdin=subprocess.DEVNULL, start_new_session=True, **options)


def _check(command: Sequence[str], environ: Mapping[str, str]) -> None:
    """What Popen refuses, refused before a launcher runs (the same ValueError it raises)."""
    for key, value in environ.items():
        if "\0" in key or "\0" in value:
            raise ValueError("embedded null byte")
        if not key or "=" in key:
            raise ValueError("illegal environment variable name")
    if any("\0" in arg for arg in command):
        raise ValueError("embedded null byte")


def _launch(
    command: list[str], *, environ: Mapping[str, str], cwd: str | None, stdout: int, stderr: int, user: User
) -> subprocess.Popen:
    """Start :mod:`~civic.backends.local.launcher` as root with nothing of the service's in its
    environment, and hand it the service's user, command and environment through a pipe."""
    name = command[0]
    if os.sep in name:
        found = os.path.exists(os.path.join(cwd or os.getcwd(), name))
    else:
        found = shutil.which(name, path=environ.get("PATH", os.defpath)) is not None
    if not found:  # said here, as Popen would, rather than by the launcher in the replica's log
        raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), name)
    order = {
        "uid": user.uid,
        "gid": user.gid,
        "hide_processes": user.hide_processes,
        "command": command,
        "environ": dict(environ),
    }
    return _run_launcher(order, cwd=cwd, stdout=stdout, stderr=stderr)


def _run_launcher(order: dict, *, cwd: str | None, stdout: int, stderr: int) -> subprocess.Popen:
    read, write = os.pipe()
    try:
        proc = _popen(
            [sys.executable, "-I", "-S", launcher.__file__, str(read)],
            env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"},
            cwd=cwd,
            stdout=stdout,
            stderr=stderr,
            pass_fds=(read,),
            umask=0o077,
        )
    except BaseException:
        os.close(write)
        raise
    finally:
        os.close(read)
    try:
        with os.fdopen(write, "wb") as pipe:
            pipe.write(json.dumps(order).encode())
    except BrokenPipeError:
        pass  # the launcher died first: it said why in the replica's log, and the supervisor sees it exit
    return proc


@functools.cache
def can_hide_processes() -> bool:
    """True if a replica can get a private /proc with hidepid=invisible here (asked once)."""
    if sys.platform != "linux" or os.geteuid() != 0:
        return False
    try:
        proc = _run_launcher({"probe": True}, cwd="/", stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return proc.wait(30) == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def marked(instance: str) -> Iterator[tuple[psutil.Process, str]]:
    """Every process whose environment says a replica of ``instance`` started it, with the
    replica's id: Civic's own processes and those of the users it runs replicas as."""
    own = os.geteuid()
    for process in psutil.process_iter(["uids"]):
        uids = process.info["uids"]
        if uids is None or not (uids.real == own or identities.FIRST <= uids.real <= identities.LAST):
            continue
        try:
            environ = process.environ()
        except psutil.Error:
            continue
        if environ.get(INSTANCE_VAR) == instance and environ.get(REPLICA_VAR):
            yield process, environ[REPLICA_VAR]


def uid_of(pid: int) -> int | None:
    try:
        return psutil.Process(pid).uids().real
    except psutil.Error:
        return None


def signal_group(handle: Handle, sig: signal.Signals) -> None:
    """Send ``sig`` to the process's whole session group, if it is still ours."""
    if not alive(handle):
        return
    try:
        os.killpg(handle.pid, sig)
    except ProcessLookupError:
        pass
    except PermissionError:
        os.kill(handle.pid, sig)
