"""Operating-system processes: start one in its own session, know it again, stop it.

The supervisor calls :func:`spawn` for each replica (and the data plane for HAProxy).
Every process runs in a new session, so Ctrl-C on ``civic up`` does not reach it and a
control plane that dies leaves it serving. A process is identified by its pid *and*
its start time (``/proc/<pid>/stat`` field 22), so a recycled pid is never mistaken
for ours when a restarted control plane adopts what it finds.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
from collections.abc import Mapping, Sequence

from civic.errors import CivicError


class RuntimeFailure(CivicError):
    """A process could not be started, or the data plane refused a command."""


@dataclasses.dataclass(frozen=True)
class Handle:
    pid: int
    start_time: int


def start_time(pid: int) -> int | None:
    """The process's start time in clock ticks since boot; None if there is no such process."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            text = f.read()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2:].split()
    if fields[0] in ("Z", "X"):  # a zombie has exited
        return None
    return int(fields[19])


def cpu_ticks(pid: int) -> int:
    """User plus system CPU time of the process, in clock ticks (0 when it is gone)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            text = f.read()
    except OSError:
        return 0
    fields = text[text.rindex(")") + 2:].split()
    return int(fields[11]) + int(fields[12])


def poll(handle: Handle) -> tuple[bool, int | None]:
    """(running, exit code when known). Reaps our own children; adopted ones init reaps."""
    try:
        done, status = os.waitpid(handle.pid, os.WNOHANG)
        if done:
            return False, os.waitstatus_to_exitcode(status)
    except ChildProcessError:
        pass  # not our child (adopted), or already reaped
    return start_time(handle.pid) == handle.start_time, None


def alive(handle: Handle) -> bool:
    """True while the very process of ``handle`` runs (not a later one with its pid)."""
    return poll(handle)[0]


def spawn(command: Sequence[str], *, environ: Mapping[str, str], cwd: str | None,
          stdout: str, stderr: str) -> Handle:
    """Start ``command`` in a new session with output appended to two files."""
    os.makedirs(os.path.dirname(stdout), exist_ok=True)
    try:
        with open(stdout, "ab") as out, open(stderr, "ab") as err:
            proc = subprocess.Popen(list(command), env=dict(environ), cwd=cwd, stdin=subprocess.DEVNULL,
                                    stdout=out, stderr=err, start_new_session=True)
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
