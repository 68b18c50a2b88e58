"""`civic ... | head`: when the reader of standard output goes away, the command still does
its work, says nothing on stderr and exits with its own code (never a BrokenPipeError)."""

from __future__ import annotations

import os
import subprocess
import sys


def _civic_into_a_closed_pipe(*args: str, cwd: str | None = None) -> subprocess.CompletedProcess:
    read, write = os.pipe()
    os.close(read)  # the reader is gone before the first line: every write to stdout fails
    try:
        return subprocess.run(
            [sys.executable, "-m", "civic", *args],
            stdout=write,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
            cwd=cwd,
        )
    finally:
        os.close(write)


def test_apply_applies_though_no_one_reads_its_plan(estate_dir, tmp_path):
    state = str(tmp_path / "state.db")
    done = _civic_into_a_closed_pipe("apply", "--estate", estate_dir, "--state", state)
    assert (done.returncode, done.stderr) == (0, "")
    again = subprocess.run(
        [sys.executable, "-m", "civic", "plan", "--estate", estate_dir, "--state", state],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "0 to create, 0 to update, 0 to delete" in again.stdout, "the first apply was recorded"


def test_a_failing_command_keeps_its_exit_code_and_its_errors(tmp_path):
    done = _civic_into_a_closed_pipe("validate", "--estate", str(tmp_path / "nowhere"))
    assert done.returncode == 1
    assert "no such directory" in done.stderr and "Traceback" not in done.stderr
