"""Knowing a process again: by pid and start time, in the unit the store has always kept.

The store (and HAProxy's pid file) hold a process's start time as /proc/<pid>/stat field 22,
clock ticks since boot, as releases before psutil wrote it. A record from such a release
must still name the same process after an upgrade, so that ``civic up`` adopts its replicas.
"""

from __future__ import annotations

import os
import signal
import sys

import pytest

from civic import deadlines
from civic.backends.local import processes

BUSY = "import time\nend = time.process_time() + 0.3\nwhile time.process_time() < end: pass\ntime.sleep(60)\n"


def _field_22(pid: int) -> int:
    """What the previous release stored: read from /proc as it read it."""
    with open(f"/proc/{pid}/stat") as f:
        return int(f.read().rsplit(")", 1)[1].split()[19])


@pytest.fixture
def child(tmp_path):
    handle = processes.spawn(
        [sys.executable, "-c", BUSY], environ={}, cwd=None, stdout=str(tmp_path / "out"), stderr=str(tmp_path / "err")
    )
    yield handle
    processes.signal_group(handle, signal.SIGKILL)
    deadlines.poll(lambda: not processes.poll(handle)[0], timeout=10, what="the child reaped")


def test_a_start_time_is_the_one_the_previous_release_stored(child):
    assert child.start_time == _field_22(child.pid) == processes.start_time(child.pid)
    assert processes.start_time(os.getpid()) == _field_22(os.getpid())


def test_a_record_written_by_the_previous_release_names_the_same_process(child):
    assert processes.alive(processes.Handle(child.pid, _field_22(child.pid)))
    assert not processes.alive(processes.Handle(child.pid, _field_22(child.pid) - 1)), "a recycled pid"


def test_a_process_that_exited_is_not_alive_and_its_exit_code_is_known(child):
    os.kill(child.pid, signal.SIGKILL)
    assert deadlines.poll(lambda: processes.poll(child) == (False, -signal.SIGKILL), timeout=10, what="the exit seen")
    assert not processes.alive(child) and processes.start_time(child.pid) is None


def test_cpu_time_is_counted_in_seconds(child):
    assert deadlines.poll(lambda: processes.cpu_seconds(child.pid) >= 0.25, timeout=10, what="0.25 s of CPU")
    assert processes.cpu_seconds(child.pid) < 5
    assert processes.cpu_seconds(2**22 + 1) == 0.0
