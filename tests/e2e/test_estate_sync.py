"""Apply on merge: `civic up` applies what changes in the estate's files, and only what is good.

The estate is a real git repository; each change is a commit, as a merged pull request
would be. Nothing here sleeps to synchronise: every wait polls `civic status` with a deadline (``deadlines.poll``).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest

from civic import deadlines
from conftest import ENV, SITE

pytestmark = pytest.mark.e2e

DEV = os.path.join("environments", "laa-apply-dev", "environment.yaml")


def git(estate: str, *args: str) -> str:
    result = subprocess.run(
        ["git", "-C", estate, "-c", "user.name=t", "-c", "user.email=t@example.org", *args],
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout.strip()


def commit(estate: str, message: str) -> str:
    git(estate, "add", "-A")
    git(estate, "commit", "-qm", message)
    return git(estate, "rev-parse", "HEAD")


def edit(estate: str, rel: str, old: str, new: str) -> None:
    path = os.path.join(estate, rel)
    with open(path, encoding="utf-8") as f:
        text = f.read()
    assert old in text
    with open(path, "w", encoding="utf-8") as f:
        f.write(text.replace(old, new))


def estate_status(civic) -> dict:
    result = civic.civic("status", "-o", "json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)["estate"]


def applied(civic, commit_id: str) -> dict | None:
    """The sync's status once ``commit_id`` is applied with no error; else None."""
    found = estate_status(civic)
    return found if found["revision"] == commit_id and not found["error"] else None


def refused(civic) -> dict | None:
    """The sync's status once it reports that the estate is not applied; else None."""
    found = estate_status(civic)
    return found if found["error"] else None


def plan(civic) -> subprocess.CompletedProcess:
    return civic.civic("plan", "--estate", civic.estate)


@pytest.fixture
def repo(estate_dir) -> str:
    git(estate_dir, "init", "-q")
    commit(estate_dir, "the estate")
    return estate_dir


def test_a_merged_change_is_applied_and_a_broken_one_is_not(civic, repo):
    civic.up("--sync-interval", "0.5")
    first = estate_status(civic)
    assert first["sync"] == "on" and first["error"] == "" and first["revision"] == git(repo, "rev-parse", "HEAD")

    edit(repo, DEV, 'teamChannel: "#apply-dev"', 'teamChannel: "#apply-dev-alerts"')
    merged = commit(repo, "a new channel for laa-apply-dev")
    done = deadlines.poll(lambda: applied(civic, merged), timeout=30, what="the change applied")
    assert done["summary"] == {"create": 0, "update": 1, "delete": 0, "unchanged": 11}
    assert "(last change: 0 created, 1 updated, 0 deleted)" in civic.civic("status").stdout
    assert "0 to create, 0 to update, 0 to delete" in plan(civic).stdout, "the store holds what the files say"
    history = json.loads(civic.civic("history", "laa-apply-dev", "--estate", repo, "-o", "json").stdout)
    assert history[0]["git_revision"] == merged

    edit(repo, DEV, "  team: laa-apply\n", "  team: laa-apply\n  team: laa-apply\n")
    edit(repo, DEV, 'teamChannel: "#apply-dev-alerts"', 'teamChannel: "#never-applied"')
    broken = commit(repo, "a duplicate key, and a change that must wait for it")
    failed = deadlines.poll(lambda: refused(civic), timeout=30, what="the error reported")
    assert "not applied, the last good state keeps running" in failed["error"]
    assert f"{DEV}:" in failed["error"] and "duplicate key 'team'" in failed["error"]
    assert failed["revision"] == merged != broken
    spec = json.loads(civic.civic("history", "laa-apply-dev", "--estate", repo, "-o", "json").stdout)
    assert spec[0]["git_revision"] == merged, "nothing of the broken commit was applied"
    text = civic.civic("status").stdout
    assert "the estate's files now are not applied" in text

    edit(repo, DEV, "  team: laa-apply\n  team: laa-apply\n", "  team: laa-apply\n")
    mended = commit(repo, "mend it")
    deadlines.poll(lambda: applied(civic, mended), timeout=30, what="the mended estate applied")
    assert "0 to create, 0 to update, 0 to delete" in plan(civic).stdout


def test_a_policy_denial_keeps_the_last_good_state(civic, repo):
    civic.up("--sync-interval", "0.5")
    start = git(repo, "rev-parse", "HEAD")
    edit(repo, DEV, "environmentName: development", "environmentName: production")
    commit(repo, "a non-production environment named production")
    failed = deadlines.poll(lambda: refused(civic), timeout=30, what="the denial reported")
    assert "denied by policy" in failed["error"] and "[production-flag]" in failed["error"]
    assert f"{DEV}:" in failed["error"]
    assert failed["revision"] == start
    history = json.loads(civic.civic("history", "laa-apply-dev", "--estate", repo, "-o", "json").stdout)
    assert [h["operation"] for h in history] == ["create"], "the denied change was not applied"


def test_an_environment_removed_from_the_estate_stops_its_services(civic, repo):
    civic.up("--sync-interval", "0.5")
    assert civic.civic("deploy", ENV, "-f", SITE).returncode == 0
    with civic.client("site") as client:
        assert client.get("/").status_code == 200
    pids = [r["pid"] for r in json.loads(civic.civic("status", ENV, "-o", "json").stdout)["replicas"]]
    assert pids
    shutil.rmtree(os.path.join(repo, "environments", ENV))
    commit(repo, f"retire {ENV}")
    deadlines.poll(lambda: not any(os.path.exists(f"/proc/{p}") for p in pids), timeout=30, what="its replicas stopped")
    with civic.client("site") as client:
        assert client.get("/").status_code in (404, 503)
    assert "0 to create, 0 to update, 0 to delete" in plan(civic).stdout


def test_the_sync_can_be_turned_off(civic, repo):
    civic.up("--sync-interval", "0")
    assert estate_status(civic) == {"sync": "off"}
    edit(repo, DEV, 'teamChannel: "#apply-dev"', 'teamChannel: "#apply-dev-alerts"')
    assert "1 to update" in plan(civic).stdout
