"""``civic policy`` reads policies/ as ``civic validate`` does: a FIFO or a link out of the
estate is a problem at its path, never opened (a FIFO was skipped unseen; a link was read)."""

from __future__ import annotations

import os

import pytest
from tests.spec import bounded


def _policy(*args: str) -> bounded.Result:
    outcome = bounded.run(lambda: bounded.cli("policy", *args))
    assert outcome.value is not None, f"civic policy {' '.join(args)} did not finish: {outcome}"
    result: bounded.Result = outcome.value
    return result


@pytest.mark.parametrize("command", ["list", "test"])
def test_a_fifo_among_the_policies_is_refused_by_name(estate_dir, command):
    os.mkfifo(os.path.join(estate_dir, "policies", "pipe.yaml"))
    result = _policy(command, "--estate", estate_dir)
    assert result.code == 1, result
    assert "policies/pipe.yaml: is a FIFO, not a regular file; Civic reads only regular files." in result.err


def test_a_suite_linked_from_outside_the_estate_is_refused_and_never_shown(estate_dir, tmp_path):
    outside = tmp_path / "suite.yaml"
    outside.write_text("SECRET: the content of a file outside the estate\n")
    os.symlink(outside, os.path.join(estate_dir, "policies", "tests", "leak.yaml"))
    result = _policy("test", "--estate", estate_dir)
    assert result.code == 1, result
    assert "policies/tests/leak.yaml: leads outside the estate through a symbolic link" in result.err
    assert "SECRET" not in result.out + result.err
