"""Two applies at once never interleave: the second waits for the lock, or fails clearly."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading

import pytest

from civic.errors import LockTimeout
from civic.store.state import StateStore


@pytest.fixture(params=["sqlite", "postgresql"])
def state(request, tmp_path):
    if request.param == "sqlite":
        return str(tmp_path / "state.db")
    return request.getfixturevalue("postgres_url")


def _civic(*args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", "from civic.cli.main import run; run()", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_two_applies_at_once_give_one_revision(estate_dir, state):
    procs = [_civic("apply", "--estate", estate_dir, "--state", state, "-o", "json") for _ in range(2)]
    results = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], results
    applied = sorted(json.loads(out)["appliedRevision"] or 0 for out, _ in results)
    assert applied == [0, 1], "exactly one apply wrote a revision; the other found nothing to do"
    store = StateStore(state)
    history = store.history("Environment", "laa-apply-dev")
    assert [h.operation for h in history] == ["create"]
    store.close()


def test_a_held_lock_times_out_with_the_holder_named(state):
    store = StateStore(state)
    other = StateStore(state)
    entered = threading.Event()
    release = threading.Event()

    def hold():
        with store.lock(timeout=5):
            entered.set()
            release.wait(30)

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert entered.wait(10)
        with pytest.raises(LockTimeout) as e, other.lock(timeout=0.3):
            pass
        assert "another apply is running" in e.value.message
        assert f"pid {os.getpid()}" in e.value.message
        assert e.value.exit_code == 3
    finally:
        release.set()
        holder.join()
    with other.lock(timeout=5):  # free again once released
        pass
    store.close()
    other.close()
