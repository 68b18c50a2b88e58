"""One step of a build: a command run as its service's user, its output streamed to the build's log.

:class:`civic.backends.local.builds.Builder` runs each step of a build (``uv venv``, ``uv pip
install``, ``npm ci``, the spec's ``build.command``) through one :class:`Runner`. A step runs:

- as the service's own user, with no supplementary group, ``no_new_privs`` and, where this
  machine allows, a private ``/proc`` (:mod:`civic.backends.local.launcher`, as a replica
  starts); as Civic's own user where replicas are not isolated;
- in a session of its own, with only the environment it is given and a umask of 077;
- in a control group of the build's own (``civic/build-<id>``), with the service's cpu and
  memory limits, where :mod:`civic.backends.local.limits` can make one: what a step starts
  stays in it, even a daemon that leaves the step's session;
- until the build's deadline: then it is killed, with everything it started.

Its standard output and error go, as they come, to the build's log (the first
:data:`MAX_LOG` characters; past that only its last lines). When the step's process ends,
whatever it left running in its session or its control group is killed, so that no process
of a build outlives it and the folder it built can be sealed.
"""

from __future__ import annotations

import codecs
import collections
import contextlib
import dataclasses
import os
import select
import signal
import subprocess
import time
from collections.abc import Mapping
from typing import IO

from civic import deadlines
from civic.backends.local import limits as limits_mod
from civic.backends.local import processes, tenancy
from civic.errors import BackendError

MAX_LOG = 4 << 20
"""The characters of a build's output its log keeps; past that, the last lines of each step."""
TAIL = 200
"""The last lines of a step's output kept to say why it failed."""
GRACE = 5.0
"""Seconds the output of a step whose process has ended is still read (from what escaped the kill)."""


@dataclasses.dataclass(frozen=True)
class Outcome:
    """How one step ended: its exit code (negative: killed by that signal), its last lines, and
    whether the build's deadline or the memory limit ended it."""

    code: int
    tail: tuple[str, ...]
    timed_out: bool = False
    out_of_memory: bool = False

    @property
    def ok(self) -> bool:
        return self.code == 0 and not self.timed_out


class Runner:
    """Runs the steps of one build as ``tenant`` with ``environ``, writing to ``log``, until ``deadline``
    (monotonic); :meth:`close` removes the build's control group."""

    def __init__(
        self,
        *,
        tenant: tenancy.Tenant,
        environ: Mapping[str, str],
        log: IO[str],
        deadline: float,
        group: str,
        limits: limits_mod.Limits,
        limiter: limits_mod.Limiter | None,
    ) -> None:
        self.tenant = tenant
        self.environ = dict(environ)
        self.log = log
        self.deadline = deadline
        self.group = group
        self.limits = limits
        self.limiter = limiter
        self.written = 0

    def __repr__(self) -> str:
        return f"Runner(tenant={self.tenant!r}, group={self.group!r})"

    def say(self, text: str) -> None:
        """A line of Civic's own in the log."""
        self._write(text.rstrip("\n") + "\n", force=True)

    def run(self, argv: list[str], *, cwd: str, shown: str) -> Outcome:
        """Run ``argv`` in ``cwd``; ``shown`` is how the log shows it (``$ uv pip install ...``)."""
        self.say(f"$ {shown}")
        read, write = os.pipe()
        try:
            try:
                proc = self._start(argv, cwd=cwd, output=write)
            finally:
                os.close(write)
            tail: collections.deque[str] = collections.deque(maxlen=TAIL)
            try:
                self._limit(proc)
                timed_out = self._stream(read, proc, tail)
            finally:
                self._stop(proc)
        finally:
            os.close(read)
        code = proc.returncode if proc.returncode is not None else -signal.SIGKILL
        out_of_memory = (
            code != 0
            and self.limits.memory is not None
            and self.limiter is not None
            and self.limiter.killed_for_memory(self.group)
        )
        return Outcome(code, tuple(tail), timed_out, out_of_memory)

    def close(self) -> None:
        """Kill what is left of the build, and remove its control group once the kernel lets go of it."""
        limiter = self.limiter
        if limiter is None:
            return
        self._kill_group()
        with contextlib.suppress(deadlines.Timeout):  # one still emptying is retried by the supervisor's tick
            deadlines.poll(lambda: limiter.remove(self.group), timeout=5, what="the build's group emptied")

    # --- starting and ending ---------------------------------------------------------

    def _start(self, argv: list[str], *, cwd: str, output: int) -> subprocess.Popen:
        try:
            if self.tenant.uid is None or self.tenant.gid is None:
                return subprocess.Popen(
                    argv,
                    env=self.environ,
                    cwd=cwd,
                    stdin=subprocess.DEVNULL,
                    stdout=output,
                    stderr=output,
                    start_new_session=True,
                    umask=0o077,
                )
            order = {
                "uid": self.tenant.uid,
                "gid": self.tenant.gid,
                "hide_processes": processes.can_hide_processes(),
                "command": argv,
                "environ": self.environ,
            }
            # The launcher a replica starts with: it drops to the user with no_new_privs, then executes.
            return processes._run_launcher(order, cwd=cwd, stdout=output, stderr=output)
        except OSError as e:
            raise BackendError(f"cannot start {argv[0]!r} for the build: {e.strerror or e}") from e

    def _limit(self, proc: subprocess.Popen) -> None:
        if self.limiter is None:
            return
        try:
            self.limiter.apply(self.group, proc.pid, self.limits)
        except OSError as e:
            raise BackendError(
                f"cannot apply the service's cpu and memory limits to its build: {e.strerror or e}"
            ) from e

    def _stream(self, read: int, proc: subprocess.Popen, tail: collections.deque[str]) -> bool:
        """Copy the step's output to the log until every writer is gone; True if the deadline came first."""
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        partial = ""
        ended: float | None = None
        while ended is None or time.monotonic() < ended + GRACE:
            remaining = self.deadline - time.monotonic()
            if remaining <= 0:
                return True
            ready, _, _ = select.select([read], [], [], min(remaining, 0.5))
            chunk = os.read(read, 1 << 16) if ready else None
            if chunk == b"":
                break
            if chunk:
                text = partial + decoder.decode(chunk)
                *lines, partial = text.split("\n")
                tail.extend(lines)
                self._write(text[: len(text) - len(partial)])
            if ended is None and _ended(proc.pid):
                ended = time.monotonic()
                self._kill_session(proc.pid)  # what it left running holds the pipe open: it ends too
        partial += decoder.decode(b"", final=True)
        if partial:
            tail.append(partial)
            self._write(partial + "\n")
        if self.written > MAX_LOG:
            self._write("[... the output above was cut; its last lines:]\n" + "\n".join(list(tail)[-20:]) + "\n", True)
        return False

    def _stop(self, proc: subprocess.Popen) -> None:
        """Kill the step's session (and its control group's processes) and reap it."""
        if proc.poll() is None:
            self._kill_session(proc.pid)
        self._kill_group()
        proc.wait()

    def _kill_session(self, pid: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)

    def _kill_group(self) -> None:
        """Kill what left the step's session but not its control group (a daemon that called setsid)."""
        if self.limiter is None:
            return
        for folder in self.limiter.dirs(self.group):
            with contextlib.suppress(OSError), open(os.path.join(folder, "cgroup.procs")) as f:
                for pid in f.read().split():
                    with contextlib.suppress(ProcessLookupError, ValueError):
                        os.kill(int(pid), signal.SIGKILL)

    def _write(self, text: str, force: bool = False) -> None:
        if not text:
            return
        if self.written <= MAX_LOG or force:
            self.log.write(text)
            with contextlib.suppress(AttributeError, OSError, ValueError):
                self.log.flush()
        if not force:
            self.written += len(text)


def _ended(pid: int) -> bool:
    """True once ``pid`` has exited; it is left unreaped, so its session's id stays its own."""
    try:
        return os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
    except ChildProcessError:
        return True
