"""Run one case in a forked child, under a deadline and a memory limit, and say how it ended.

Hostile input used to hang Civic or eat gigabytes; a test that ran it in the test process
would hang the suite or take the machine with it. :func:`run` forks, caps the child's
address space (``RLIMIT_AS``: what it already maps plus ``memory``), runs the function
there and waits for it with :func:`civic.deadlines.poll`; a child still running at the
deadline is killed and reported as hung. :func:`validate` is ``civic validate`` through
the CLI's entry point (as the ``cli`` fixture calls it), in such a child.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import os
import pickle
import resource
import signal
import tempfile
from collections.abc import Callable
from typing import Any

from civic import deadlines

SECONDS = 30.0
"""The hang deadline: far above the second or two any case takes, so a slow machine never fails it."""
MEMORY = 1024 * 1024 * 1024
"""How much more address space a case may map than the forked child starts with (1 GiB)."""


@dataclasses.dataclass(frozen=True)
class Outcome:
    value: Any = None
    raised: str | None = None  # "Type: message" of an exception the function raised
    hung: bool = False
    signal: int | None = None  # the signal that killed the child (an abort on a failed allocation)
    peak_mb: float = 0.0  # how far the child's resident memory rose above where it started

    def __str__(self) -> str:
        if self.hung:
            return "hung: still running at the deadline"
        if self.signal is not None:
            return f"killed by signal {signal.Signals(self.signal).name}"
        if self.raised is not None:
            return f"raised {self.raised}"
        return f"returned {self.value!r} (peak +{self.peak_mb:.0f} MB)"


def run(fn: Callable[[], Any], *, seconds: float = SECONDS, memory: int = MEMORY) -> Outcome:
    """``fn()`` in a forked child, at most ``seconds`` long and ``memory`` bytes more."""
    fd, result = tempfile.mkstemp(prefix="civic-bounded-")
    os.close(fd)
    try:
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child; it never returns
            _child(fn, memory, result)
        try:
            (status,) = deadlines.poll(lambda: _exited(pid), timeout=seconds, interval=0.005, what="the case to end")
        except deadlines.Timeout:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return Outcome(hung=True)
        if os.WIFSIGNALED(status):
            return Outcome(signal=os.WTERMSIG(status))
        with open(result, "rb") as f:
            try:
                outcome: Outcome = pickle.load(f)
            except EOFError:  # it could not even write its result: out of memory
                return Outcome(raised="nothing: the case ended without a result (out of memory?)")
        return outcome
    finally:
        os.unlink(result)


def _exited(pid: int) -> tuple[int] | None:
    done, status = os.waitpid(pid, os.WNOHANG)
    return (status,) if done else None  # a tuple: an exit status of 0 is still an answer


def _child(fn: Callable[[], Any], memory: int, result: str) -> None:
    try:
        start = _status("VmRSS")
        resource.setrlimit(resource.RLIMIT_AS, (_status("VmSize") + memory,) * 2)
        try:
            outcome = Outcome(value=fn(), peak_mb=(_status("VmHWM") - start) / 2**20)
        except BaseException as e:  # noqa: BLE001 - the child reports whatever ended it
            outcome = Outcome(raised=f"{type(e).__name__}: {e}"[:4000], peak_mb=(_status("VmHWM") - start) / 2**20)
        with open(result, "wb") as f:
            pickle.dump(outcome, f)
    finally:
        os._exit(0)


def _status(field: str) -> int:
    """A field of /proc/self/status, in bytes."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise LookupError(field)


@dataclasses.dataclass(frozen=True)
class Result:
    code: int
    out: str
    err: str


def cli(*args: str) -> Result:
    """``civic ARGS`` in this process, as the ``cli`` fixture runs it; its output captured."""
    from civic.cli import main

    os.environ["COLUMNS"] = "200"
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main.run(list(args))
    return Result(code, out.getvalue(), err.getvalue())


def validate(estate: str, *, seconds: float = SECONDS, memory: int = MEMORY) -> Result:
    """``civic validate --estate ESTATE`` in a bounded child; AssertionError if it hung or died."""
    outcome = run(lambda: cli("validate", "--estate", estate), seconds=seconds, memory=memory)
    assert outcome.value is not None, f"civic validate did not finish: {outcome}"
    result: Result = outcome.value
    return result
