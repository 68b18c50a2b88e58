"""`civic env create` asks its questions on a terminal, as the MoJ's CLI does.

Runs the real command in a pseudo-terminal and answers each prompt as a person would.
"""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import time

import yaml

ANSWERS = [
    ("name of the environment", "hmpps-book-visit-test"),
    ("Which team owns it", "hmpps-book-visit"),
    ("Which business unit", "HMPPS"),
    ("name of the application", "Book a prison visit"),
    ("Who owns it", "Book a visit: book-a-visit@justice.gov.uk"),
    ("URL of its source code", "https://github.com/ministryofjustice/book-a-prison-visit"),
    ("Which chat channel", "#visits-test"),
    ("Is it a production environment", "n"),
    ("Which kind of environment", "test"),
]


def _read_until(fd: int, text: str, *, timeout: float = 20.0) -> str:
    seen = ""
    deadline = time.monotonic() + timeout
    while text not in seen:
        remaining = deadline - time.monotonic()
        assert remaining > 0, f"no prompt containing {text!r}; the terminal shows:\n{seen}"
        ready, _, _ = select.select([fd], [], [], remaining)
        if ready:
            try:
                chunk = os.read(fd, 1024).decode(errors="replace")
            except OSError:
                break
            seen += chunk
    return seen


def test_env_create_asks_each_question_on_a_terminal(estate_dir):
    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-c", "from civic.cli.main import run; run()", "env", "create", "--estate", estate_dir],
        stdin=follower,
        stdout=follower,
        stderr=follower,
        close_fds=True,
        env={**os.environ, "COLUMNS": "200", "TERM": "dumb"},
    )
    os.close(follower)
    try:
        for prompt, answer in ANSWERS:
            _read_until(leader, prompt)
            os.write(leader, answer.encode() + b"\r")
        tail = _read_until(leader, "created environments/hmpps-book-visit-test/environment.yaml")
        assert "Traceback" not in tail
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(leader)
    with open(os.path.join(estate_dir, "environments", "hmpps-book-visit-test", "environment.yaml")) as f:
        spec = yaml.safe_load(f)["spec"]
    assert spec["team"] == "hmpps-book-visit" and spec["production"] is False
    assert spec["environmentName"] == "test" and spec["teamChannel"] == "#visits-test"
