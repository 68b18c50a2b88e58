"""The apply lock dies with its holder: a SIGKILLed ``civic apply`` leaves nothing that makes
the next one wait. On this host, a lock whose holder process is gone (its pid is dead, or
now another process's) is taken over, and the taker says so; on PostgreSQL the lock is a
session advisory lock, which the server lets go when the killed process's session ends. A
holder that still runs, or that runs on another host, keeps its lock."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import psutil
import pytest
import sqlalchemy as sa

from civic import deadlines
from civic.errors import LockTimeout
from civic.store import database as db
from civic.store.state import APPLY_LOCK, StateStore

HOLD = """
import threading
from civic.store import state

def held(self, **kwargs):
    threading.Event().wait()  # inside the apply lock, until the test kills this process

state.StateStore.new_revision = held
from civic.cli.main import run
run()
"""
"""``civic apply`` itself, stopped (by a test hook in this process only) right after it has
taken the lock, before it records anything: the test kills it there, deterministically."""


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def state(request, tmp_path) -> str:
    if request.param == "sqlite":
        return str(tmp_path / "state.db")
    return request.getfixturevalue("postgres_url")


def _civic(*args: str, hook: str = "from civic.cli.main import run; run()") -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", hook, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def _lock_row(store: StateStore):
    with store.engine.connect() as conn:
        return conn.execute(sa.select(db.locks).where(db.locks.c.name == APPLY_LOCK)).first()


def _advisory_locks(store: StateStore) -> int:
    with store.engine.connect() as conn:
        return conn.execute(sa.text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'")).scalar_one()


def _holding(store: StateStore, proc: subprocess.Popen):
    def check():
        assert proc.poll() is None, proc.communicate()
        row = _lock_row(store)
        if row is None or f" pid {proc.pid} " not in row.holder + " ":
            return None
        if store.engine.dialect.name == "postgresql" and not _advisory_locks(store):
            return None
        return row

    return deadlines.poll(check, timeout=60, interval=0.05, what="civic apply to take the lock")


def _insert(store: StateStore, holder: str, *, lease: float = 600.0) -> None:
    now = time.time()
    with store.engine.begin() as conn:
        conn.execute(db.locks.insert().values(name=APPLY_LOCK, holder=holder, acquired_at=now, expires_at=now + lease))


def test_the_lock_of_a_killed_apply_is_taken_over_by_the_next_one(estate_dir, state):
    store = StateStore(state)
    try:
        killed = _civic("apply", "--estate", estate_dir, "--state", state, hook=HOLD)
        try:
            _holding(store, killed)
            waiting = _civic("apply", "--estate", estate_dir, "--state", state, "--lock-timeout", "0.3")
            _, err = waiting.communicate(timeout=120)
            assert waiting.returncode == 3, err
            assert f"pid {killed.pid}" in err, "a holder that still runs keeps its lock, and is named"
        finally:
            os.kill(killed.pid, signal.SIGKILL)
            killed.communicate(timeout=10)
        assert _lock_row(store) is not None, "the killed apply left its lock row behind"
        after = _civic("apply", "--estate", estate_dir, "--state", state, "--lock-timeout", "5", "-o", "json")
        out, err = after.communicate(timeout=120)
        assert after.returncode == 0, err
        assert (
            f"took over the apply lock left by pid {killed.pid} on {socket.gethostname()}, "
            "which is no longer running" in err
        )
        assert '"appliedRevision": 1' in out
        assert _lock_row(store) is None
        if store.engine.dialect.name == "postgresql":
            assert _advisory_locks(store) == 0
    finally:
        store.close()


def test_a_lock_whose_pid_now_belongs_to_another_process_is_taken_over(state, caplog):
    """The holder's pid runs (it is this very test process), but started at another time:
    the pid was recycled, so the holder is gone."""
    store = StateStore(state)
    try:
        started = psutil.Process(os.getpid()).create_time() - 1000
        _insert(store, f"someone@{socket.gethostname()} pid {os.getpid()} started {started:.2f}")
        with store.lock(timeout=5):
            assert f"pid {os.getpid()} started" in _lock_row(store).holder
            assert f" started {started:.2f}" not in _lock_row(store).holder
        assert f"took over the apply lock left by pid {os.getpid()} on {socket.gethostname()}" in caplog.text
        assert _lock_row(store) is None
    finally:
        store.close()


def test_a_lock_held_on_another_host_is_left_to_its_lease_on_sqlite(tmp_path):
    """Another host's processes cannot be seen from here: its lock holds until it expires."""
    store = StateStore(str(tmp_path / "state.db"))
    try:
        _insert(store, "someone@elsewhere.example pid 1 started 1700000000.00")
        with pytest.raises(LockTimeout) as e, store.lock(timeout=0.3):
            pass
        assert "someone@elsewhere.example pid 1" in e.value.message
    finally:
        store.close()


def test_a_lock_recorded_by_the_previous_release_is_respected_while_its_holder_runs(state):
    """Before the start time was recorded, a holder was "user@host pid N": with the pid
    alive it may be that very process, so it keeps its lock (on PostgreSQL too, where
    that release took no advisory lock)."""
    store = StateStore(state)
    try:
        _insert(store, f"someone@{socket.gethostname()} pid {os.getpid()}")
        with pytest.raises(LockTimeout), store.lock(timeout=0.3):
            pass
    finally:
        store.close()


def test_a_lock_recorded_by_the_previous_release_with_its_pid_gone_is_taken_over(state):
    store = StateStore(state)
    try:
        gone = subprocess.Popen([sys.executable, "-c", "pass"])
        gone.wait(10)
        _insert(store, f"someone@{socket.gethostname()} pid {gone.pid}")
        with store.lock(timeout=5):
            pass
        assert _lock_row(store) is None
    finally:
        store.close()
