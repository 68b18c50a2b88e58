"""Operating-system processes: start one in its own session, know it again, stop it.

The supervisor calls :func:`spawn` for each replica (and the data plane for HAProxy).
Every process runs in a new session, so Ctrl-C on ``civic up`` does not reach it and a
control plane that dies leaves it serving. A process is identified by its pid *and*
its start time, so a recycled pid is never mistaken for ours when a restarted control
plane adopts what it finds. psutil reads the processes; the start time is kept in the
unit the store has always held (clock ticks since boot, ``/proc/<pid>/stat`` field 22),
so replicas recorded by an earlier release are still recognised and adopted.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
from collections.abc import Mapping, Sequence

import psutil

from civic.errors import BackendError


class RuntimeFailure(BackendError):
    """A process could not be started, or the data plane refused a command."""


@dataclasses.dataclass(frozen=True)
class Handle:
    pid: int
    start_time: int


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


def spawn(command: Sequence[str], *, environ: Mapping[str, str], cwd: str | None, stdout: str, stderr: str) -> Handle:
    """Start ``command`` in a new session with output appended to two files."""
    os.makedirs(os.path.dirname(stdout), exist_ok=True)
    try:
        with open(stdout, "ab") as out, open(stderr, "ab") as err:
            proc = subprocess.Popen(
                list(command),
                env=dict(environ),
                cwd=cwd,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                start_new_session=True,
            )
    except OSError as e:
        raise RuntimeFailure(f"cannot start {command[0]!r}: {e.strerror or e}") from e
    # Popen keeps no reference we need: the supervisor reaps by pid.
    proc.returncode = 0  # stop Popen.__del__ from warning about a process still running
    started = start_time(proc.pid)
    return Handle(proc.pid, started if started is not None else -1)


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
