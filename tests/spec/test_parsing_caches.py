"""The caches that spare parsing unchanged files: they never hide a problem, and reading
an estate from a git commit's files gives what reading it from disk gives."""

from __future__ import annotations

import os
import subprocess

import pytest

from civic import vcs
from civic.errors import SpecError
from civic.spec import estate as estate_mod

DEV = "environments/laa-apply-dev/environment.yaml"


def _broken(estate_dir: str) -> dict[str, str]:
    texts = estate_mod.read(estate_dir)
    texts[DEV] = texts[DEV].replace("  team: laa-apply\n", "  team: laa-apply\n  team: laa-apply\n")
    return texts


@pytest.mark.parametrize("which", ["cache", "known"])
def test_a_file_with_a_problem_is_reported_every_time(estate_dir, which):
    kept: dict = {}
    texts = _broken(estate_dir)
    for _ in range(2):
        with pytest.raises(SpecError) as e:
            estate_mod.parse(texts, root=estate_dir, **{which: kept})
        assert any("duplicate key 'team'" in p.message for p in e.value.problems)
    assert not [k for k in kept if k[0] == DEV], "the broken file was not kept"
    assert len(kept) == 11, "the good files were"


def test_the_files_of_a_commit_read_as_the_files_on_disk(estate_dir):
    def git(*args: str) -> None:
        subprocess.run(
            ["git", "-C", estate_dir, "-c", "user.name=t", "-c", "user.email=t@example.org", *args],
            check=True,
            capture_output=True,
        )

    os.makedirs(os.path.join(estate_dir, "environments", "no-file-yet"))
    with open(os.path.join(estate_dir, "environments", "no-file-yet", "README.md"), "w") as f:
        f.write("an environment folder without its environment.yaml\n")
    git("init", "-q")
    git("add", "-A")
    git("commit", "-qm", "x")
    from_git = estate_mod.texts_from(vcs.files_at(estate_dir, vcs.head(estate_dir), pick=estate_mod.select))
    assert from_git == estate_mod.read(estate_dir)
    assert from_git["environments/no-file-yet/environment.yaml"] == estate_mod.MISSING
