"""A tenant's process reaches neither the control plane's files nor another tenant's (issue 12, item 2).

Real replicas of the test web app, which tries what it is asked to (``/read?path=``,
``/write?path=``) and says who it is (``/id``). The estate lies in a folder every user may
traverse, as many estates do (pytest's own temporary folders are private to root, which would
hide what Civic's modes do), so only what Civic sets stands between a replica and its files.
"""

from __future__ import annotations

import logging
import os
import shutil
import stat
import tempfile
from collections.abc import Iterator

import psutil
import pytest

from civic.backends.local import identities, processes, tenancy
from civic.client import config
from civic.control import plane
from civic.store import crypto

root_only = pytest.mark.skipif(os.geteuid() != 0, reason="replicas are isolated only when Civic runs as root")


@pytest.fixture
def estate(monkeypatch) -> Iterator[str]:
    root = tempfile.mkdtemp(prefix="civic-estate-")
    os.chmod(root, 0o755)
    monkeypatch.setenv(config.CONFIG_ENV, os.path.join(root, "client.json"))
    monkeypatch.delenv(crypto.KEY_ENV, raising=False)
    try:
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def tenants(estate, harness_at):
    """Two services of one environment, run as ``civic up`` runs them from ``estate``."""
    h = harness_at(os.path.join(estate, ".civic"))  # the store, then the key, then the runtime, as civic up does
    crypto.SecretBox.load(os.path.join(estate, ".civic", "secret.key"))
    config.save(config.Config("http://127.0.0.1:7470", "civic_the-admin-token"))
    h.deploy("web")
    h.deploy("other", environ={"DB_PASSWORD": "hunter2"})
    h.wait_for("both ready", lambda: h.status("web").ready == 1 and h.status("other").ready == 1)
    return h


def _ask(h, service: str, what: str, path: str | None = None):
    with h.client(service) as client:
        return client.get(what, params={"path": path} if path else None)


def _id(h, service: str) -> dict:
    answer = _ask(h, service, "/id")
    assert answer.status_code == 200, answer.text
    return answer.json()


@root_only
def test_a_replica_runs_as_an_unprivileged_user_of_its_own_with_a_private_home(tenants, estate):
    web, other = _id(tenants, "web"), _id(tenants, "other")
    assert web["uid"] != 0 and web["euid"] == web["uid"]
    assert identities.FIRST <= web["uid"] <= identities.LAST
    assert web["gid"] == web["uid"] and web["groups"] == [], "no supplementary groups"
    assert other["uid"] != web["uid"], "one user per service"
    for folder in (web["home"], web["tmpdir"], web["cwd"]):
        assert not os.path.realpath(folder).startswith(os.path.realpath(estate) + os.sep)
    for folder in (web["home"], web["tmpdir"]):
        found = os.stat(folder)
        assert (found.st_uid, stat.S_IMODE(found.st_mode)) == (web["uid"], 0o700), folder
    written = _ask(tenants, "web", "/write", os.path.join(web["tmpdir"], "mine"))
    assert written.status_code == 200, written.text
    assert written.json() == {"uid": web["uid"], "gid": web["uid"], "mode": 0o600}, "its files are its own"
    assert [r.isolated for r in tenants.replicas("web")] == [True]


@root_only
def test_a_replica_cannot_read_the_state_store_the_key_the_client_config_or_the_run_dir(tenants, estate):
    civic = os.path.join(estate, ".civic")
    run_dir = tenants.run_dir
    replica = tenants.replicas("web")[0]
    private = {
        os.path.join(civic, "state.db"): 0o600,
        os.path.join(civic, "secret.key"): 0o600,
        os.path.join(estate, "client.json"): 0o600,
        civic: 0o700,
        run_dir: 0o700,
    }
    private.update({os.path.join(civic, f"state.db{end}"): 0o600 for end in ("-wal", "-shm")})
    for path, mode in private.items():
        assert stat.S_IMODE(os.stat(path).st_mode) == mode, path
    log = os.path.join(run_dir, "logs", replica.environment, replica.service, f"{replica.id}.err")
    for path in [*private, os.path.join(run_dir, "logs"), log]:
        assert os.path.exists(path), path
        answer = _ask(tenants, "web", "/read", path)
        assert answer.status_code == 403, f"{path}: {answer.status_code} {answer.text}"


@root_only
def test_a_replica_cannot_reach_another_services_folder_or_its_environment(tenants):
    web, other = _id(tenants, "web"), _id(tenants, "other")
    web_pid, other_pid = tenants.replicas("web")[0].pid, tenants.replicas("other")[0].pid
    mine = os.path.join(web["home"], "notes")
    assert _ask(tenants, "web", "/write", mine).status_code == 200
    # What a replica may read, it can: the probes below are refused for the right reason.
    for path in (mine, f"/proc/{web_pid}/environ", web["home"]):
        assert _ask(tenants, "web", "/read", path).status_code == 200, path
    theirs = os.path.join(other["home"], "notes")
    assert _ask(tenants, "other", "/write", theirs).status_code == 200
    for path in (theirs, other["home"], other["tmpdir"], os.path.dirname(other["home"])):
        answer = _ask(tenants, "web", "/read", path)
        assert answer.status_code == 403, f"{path}: {answer.text}"
    for pid in (other_pid, os.getpid()):  # another tenant's replica, and the control plane itself
        answer = _ask(tenants, "web", "/read", f"/proc/{pid}/environ")
        assert answer.status_code in (403, 404), f"/proc/{pid}/environ: {answer.text}"  # refused, or hidden
        assert "hunter2" not in answer.text
        if processes.can_hide_processes():  # a private /proc, hidepid=invisible: not even there
            assert _ask(tenants, "web", "/read", f"/proc/{pid}").status_code == 404


def test_where_replicas_cannot_be_isolated_civic_up_says_so_once(monkeypatch, caplog, tmp_path):
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    reason = tenancy.why_not_isolated()
    assert reason is not None and "uid 1000, not root" in reason
    with caplog.at_level(logging.WARNING, logger="civic"):
        plane.preflight(plane.Settings(run_dir=str(tmp_path / "run")))
    said = [r.getMessage() for r in caplog.records if "isolated" in r.getMessage()]
    assert said == [f"replicas will not be isolated: {reason}."]


def test_replicas_that_cannot_be_isolated_run_as_civics_user_and_are_marked_so(harness_at, tmp_path):
    h = harness_at(str(tmp_path), isolated=False)
    h.deploy("web")
    h.wait_for("web ready", lambda: h.status().ready == 1)
    [view] = h.replicas("web")
    assert view.isolated is False
    assert psutil.Process(view.pid).uids().real == os.geteuid()
    home = _id(h, "web")["home"]
    assert stat.S_IMODE(os.stat(home).st_mode) == 0o700, "still a private folder of its own"
