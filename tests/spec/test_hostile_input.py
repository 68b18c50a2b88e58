"""Hostile input in an estate is refused with a placed problem and exit 1, in bounded time and memory.

Each case is one drill of issue 12 that crashed ``civic validate`` (exit 70), hung it, made
it eat gigabytes, printed a file from outside the estate, or let a wrong estate pass. Every
case runs ``civic validate`` through the CLI's entry point in a forked child with a deadline
and a memory limit (tests/spec/bounded.py), so a regression fails the test instead of
hanging the suite.
"""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest
from tests.spec import bounded

from civic import vcs
from civic.errors import SpecError
from civic.spec import estate as estate_mod

ENV = "environments/opg-lpa-dev/environment.yaml"


def _append(estate: str, rel: str, text: str) -> None:
    with open(os.path.join(estate, rel), "a", encoding="utf-8") as f:
        f.write(text)


def _line_of(estate: str, rel: str, needle: str) -> int:
    with open(os.path.join(estate, rel), encoding="utf-8") as f:
        return next(i for i, line in enumerate(f, 1) if needle in line)


def _refused(estate: str, expected: str) -> bounded.Result:
    """``civic validate`` exits 1 and prints ``expected`` as one of its problem lines."""
    result = bounded.validate(estate)
    assert result.code == 1, result
    lines = [line.strip() for line in result.err.splitlines()]
    assert any(line.startswith(expected) for line in lines), result.err
    return result


# --- item 6: environment variable names ------------------------------------------------------


@pytest.mark.parametrize(
    ("written", "shown"),
    [
        ('"A\\0B"', "'A\\x00B'"),  # the drill: a NUL byte crash-looped the supervisor
        ('"A=B"', "'A=B'"),
        ('"1ST"', "'1ST'"),
        ('"WITH SPACE"', "'WITH SPACE'"),
        ('"NEW\\nLINE"', "'NEW\\nLINE'"),
    ],
)
def test_an_environment_variable_name_that_is_not_one_is_refused_at_its_line(estate_dir, written, shown):
    _append(estate_dir, ENV, f"  variables:\n    GOOD: x\n    {written}: y\n")
    line = _line_of(estate_dir, ENV, "GOOD: x") + 1
    _refused(
        estate_dir,
        f"{ENV}:{line}:5: spec.variables.{shown[1:-1]}: the name {shown} is not valid: {shown} is not an "
        "environment variable name; use letters, digits and '_', and do not start with a digit.",
    )


def test_a_nul_byte_in_an_environment_variables_value_is_refused(estate_dir):
    _append(estate_dir, ENV, '  variables:\n    GREETING: "a\\0b"\n')
    line = _line_of(estate_dir, ENV, "GREETING")
    _refused(estate_dir, f"{ENV}:{line}:5: spec.variables.GREETING: a value cannot hold a NUL character")


# --- item 7: the bounds -------------------------------------------------------------------------


def _bomb(levels: int) -> str:
    lines = ['    a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for previous, name in zip("abcdefghij", "bcdefghijk"[: levels - 1], strict=False):
        lines.append(f"    {name}: &{name} [{','.join([f'*{previous}'] * 9)}]")
    return "\n".join(lines) + "\n"


def test_an_alias_bomb_is_refused_at_the_alias_that_passes_the_bound(estate_dir):
    bomb = _bomb(9)
    assert len(bomb) < 500  # the drill's was 386 bytes, and took over 60 s and 7.4 GB
    _append(estate_dir, ENV, "  variables:\n" + bomb)
    line = _line_of(estate_dir, ENV, "f: &f")
    _refused(estate_dir, f"{ENV}:{line}:12: spec.variables.f[0]: aliases expand to more than 100,000 values")


def test_nesting_deeper_than_the_bound_is_refused_where_it_passes_it(estate_dir):
    _append(estate_dir, ENV, "  variables: " + "[" * 600 + "]" * 600 + "\n")  # 490 levels crashed
    line = _line_of(estate_dir, ENV, "variables: [[[")
    column = len("  variables: ") + 64 - 1  # the file's mapping and spec are two of the 64 levels
    result = _refused(estate_dir, f"{ENV}:{line}:{column}: spec.variables[0][0]")
    assert "the values nest more than 64 levels deep here" in result.err


def test_a_string_longer_than_the_bound_is_refused(estate_dir):
    _append(estate_dir, ENV, "  variables:\n    BIG: " + "x" * 300_000 + "\n")
    line = _line_of(estate_dir, ENV, "BIG:")
    _refused(
        estate_dir,
        f"{ENV}:{line}:10: spec.variables.BIG: this string is 300,000 characters long, more than the 262,144 "
        "Civic reads in one value",
    )


def test_a_file_larger_than_the_bound_is_refused_unread(estate_dir):
    _append(estate_dir, "civic.yaml", "# " * 3 * 1024 * 1024 + "\n")
    size = os.path.getsize(os.path.join(estate_dir, "civic.yaml"))
    _refused(estate_dir, f"civic.yaml: the file is {size:,} bytes, more than the 5,242,880 Civic reads")


def test_a_file_of_more_values_than_the_bound_is_refused(estate_dir):
    _append(estate_dir, ENV, "  variables: [" + "a," * 150_000 + "a]\n")
    result = _refused(estate_dir, f"{ENV}:")
    assert "the file holds more than 100,000 values by this point" in result.err


# --- item 8: scalars that crashed the loader ----------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("reviewAfter", "2024-02-30", "spec.reviewAfter: '2024-02-30' is not a valid date (YYYY-MM-DD)"),
        ("reviewAfter", "!!timestamp nope", "spec.reviewAfter: 'nope' is not a valid date (YYYY-MM-DD)"),
        ("owner", "!!int abc", "spec.owner: 'abc' is not a whole number"),
        ("owner", "!!float abc", "spec.owner: 'abc' is not a number"),
        ("owner", "!!bool maybe", "spec.owner: 'maybe' is not true or false"),
        ("quota", "{replicas: " + "9" * 4301 + "}", "spec.quota.replicas: the whole number '999999999999999999999999"),
        ("quota", "{replicas: 9223372036854775808}", "spec.quota.replicas: the whole number '9223372036854775808'"),
    ],
    ids=["invalid-date", "timestamp-nope", "int-abc", "float-abc", "bool-maybe", "4301-digits", "beyond-64-bits"],
)
def test_a_value_that_cannot_be_read_is_a_problem_at_its_line(estate_dir, field, value, message):
    path = os.path.join(estate_dir, ENV)
    with open(path, encoding="utf-8") as f:
        text = "".join(line for line in f if not line.startswith(f"  {field}:"))
    with open(path, "w", encoding="utf-8") as f:
        f.write(text + f"  {field}: {value}\n")
    line = text.count("\n") + 1
    column = 3 + len(field) + 2 + (len("{replicas: ") if value.startswith("{") else 0)
    _refused(estate_dir, f"{ENV}:{line}:{column}: {message}")


# --- item 8 and 9: files that hung the reader or leaked another file ------------------------------


def test_a_fifo_in_the_estate_is_refused_never_opened(estate_dir):
    os.makedirs(os.path.join(estate_dir, "environments", "pipe"))
    os.mkfifo(os.path.join(estate_dir, "environments", "pipe", "environment.yaml"))
    os.mkfifo(os.path.join(estate_dir, "teams", "pipe.yaml"))
    result = _refused(
        estate_dir, "environments/pipe/environment.yaml: is a FIFO, not a regular file; Civic reads only regular files"
    )
    assert "teams/pipe.yaml: is a FIFO, not a regular file" in result.err


def test_a_link_to_dev_urandom_is_refused_never_read(estate_dir):
    os.makedirs(os.path.join(estate_dir, "environments", "random"))
    os.symlink("/dev/urandom", os.path.join(estate_dir, "environments", "random", "environment.yaml"))
    os.symlink("/dev/urandom", os.path.join(estate_dir, "teams", "random.yaml"))
    result = _refused(
        estate_dir, "environments/random/environment.yaml: leads outside the estate through a symbolic link"
    )
    assert "teams/random.yaml: leads outside the estate through a symbolic link" in result.err


def test_a_link_that_leaves_the_estate_is_a_problem_at_its_path_and_its_target_is_never_shown(estate_dir, tmp_path):
    token = tmp_path / "client.json"
    token.write_text("civic_SECRET-TOKEN-OF-THE-ADMIN\n")
    os.symlink(token, os.path.join(estate_dir, "teams", "leak.yaml"))
    policies = os.path.join(estate_dir, "policies")
    os.symlink(os.path.relpath(token, policies), os.path.join(policies, "up.yaml"))  # relative, and out
    result = _refused(
        estate_dir,
        "teams/leak.yaml: leads outside the estate through a symbolic link; Civic reads only files inside it",
    )
    assert "policies/up.yaml: leads outside the estate through a symbolic link" in result.err
    assert "SECRET" not in result.err + result.out
    assert str(tmp_path) not in result.err + result.out


def test_a_folder_that_leads_outside_the_estate_is_refused(estate_dir, tmp_path):
    outside = tmp_path / "outside"
    shutil.copytree(os.path.join(estate_dir, "environments", "opg-lpa-dev"), outside)
    os.symlink(outside, os.path.join(estate_dir, "environments", "elsewhere"))
    _refused(estate_dir, "environments/elsewhere/environment.yaml: leads outside the estate through a symbolic link")


def test_a_link_to_a_file_inside_the_estate_is_read(estate_dir):
    os.makedirs(os.path.join(estate_dir, "shared"))
    os.rename(os.path.join(estate_dir, "teams", "opg-lpa.yaml"), os.path.join(estate_dir, "shared", "opg-lpa.yaml"))
    os.symlink("../shared/opg-lpa.yaml", os.path.join(estate_dir, "teams", "opg-lpa.yaml"))
    result = bounded.validate(estate_dir)
    assert result.code == 0, result
    assert "the estate is valid: 3 teams, 8 environments." in result.out


def _git(root: str, *args: str) -> None:
    subprocess.run(
        ["git", "-C", root, "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        check=True,
        capture_output=True,
    )


def test_a_symbolic_link_committed_to_git_is_a_problem_at_its_path(estate_dir, tmp_path):
    token = tmp_path / "token"
    token.write_text("SECRET-TOKEN\n")
    os.symlink(token, os.path.join(estate_dir, "teams", "leak.yaml"))
    _git(estate_dir, "init", "-q")
    _git(estate_dir, "add", ".")
    _git(estate_dir, "commit", "-q", "-m", "a link")
    texts = estate_mod.texts_from(vcs.files_at(estate_dir, vcs.head(estate_dir), pick=estate_mod.select))
    with pytest.raises(SpecError) as e:
        estate_mod.parse(texts, root=estate_dir)
    assert [str(p) for p in e.value.problems] == [
        "teams/leak.yaml: is a symbolic link in the commit; Civic reads only regular files: commit the file itself."
    ]


# --- item 10: names that were dropped silently ---------------------------------------------------


def test_an_extra_folder_naming_an_existing_environment_is_its_own_problem(estate_dir):
    shutil.copytree(
        os.path.join(estate_dir, "environments", "opg-lpa-dev"), os.path.join(estate_dir, "environments", "extra")
    )
    line = _line_of(estate_dir, "environments/extra/environment.yaml", "name: opg-lpa-dev")
    _refused(
        estate_dir,
        f"environments/extra/environment.yaml:{line}:3: metadata.name: the environment is named 'opg-lpa-dev' but "
        "its folder is 'extra'; the two must be the same (environments/opg-lpa-dev/environment.yaml is "
        "'opg-lpa-dev' too).",
    )


def test_every_folder_naming_the_same_environment_is_its_own_problem(estate_dir):
    source = os.path.join(estate_dir, "environments", "opg-lpa-dev")
    for i in range(300):  # the drill's 10,000 gave one problem
        shutil.copytree(source, os.path.join(estate_dir, "environments", f"copy-{i:03d}"))
    result = bounded.validate(estate_dir)
    assert result.code == 1
    assert result.err.startswith("error: 300 problems found:"), result.err[:300]
    for i in range(300):
        assert f"environments/copy-{i:03d}/environment.yaml:4:3: metadata.name:" in result.err


def test_two_team_files_with_one_name_are_each_a_problem(estate_dir):
    shutil.copy(os.path.join(estate_dir, "teams", "opg-lpa.yaml"), os.path.join(estate_dir, "teams", "opg-lpa-2.yaml"))
    result = _refused(
        estate_dir,
        "teams/opg-lpa-2.yaml:4:3: metadata.name: the team is named 'opg-lpa' but its file is teams/opg-lpa-2.yaml",
    )
    assert "(teams/opg-lpa.yaml is 'opg-lpa' too)" in result.err


@pytest.mark.parametrize("folder", ["environments", "teams", "policies"])
def test_a_file_where_a_folder_belongs_is_an_error(estate_dir, folder):
    shutil.rmtree(os.path.join(estate_dir, folder))
    with open(os.path.join(estate_dir, folder), "w") as f:
        f.write("not a folder\n")
    _refused(estate_dir, f"{folder}: is a file; it must be a folder")


def test_a_file_where_a_folder_belongs_in_a_commit_is_an_error(estate_dir):
    shutil.rmtree(os.path.join(estate_dir, "environments"))
    with open(os.path.join(estate_dir, "environments"), "w") as f:
        f.write("not a folder\n")
    _git(estate_dir, "init", "-q")
    _git(estate_dir, "add", ".")
    _git(estate_dir, "commit", "-q", "-m", "a file")
    texts = estate_mod.texts_from(vcs.files_at(estate_dir, vcs.head(estate_dir), pick=estate_mod.select))
    with pytest.raises(SpecError) as e:
        estate_mod.parse(texts, root=estate_dir)
    assert [str(p) for p in e.value.problems] == [
        "environments: is a file; it must be a folder holding one folder per environment. Move the file away."
    ]
