"""Apply into the store: idempotent, scoped to the change, on SQLite and on PostgreSQL."""

from __future__ import annotations

import os

import pytest

from civic.control import applying
from civic.errors import StoreError
from civic.spec import estate as estate_mod
from civic.store.state import StateStore


@pytest.fixture(params=["sqlite", "postgresql"])
def state(request, tmp_path):
    if request.param == "sqlite":
        return str(tmp_path / "state.db")
    return request.getfixturevalue("postgres_url")


def _edit(root: str, rel: str, old: str, new: str) -> None:
    path = os.path.join(root, rel)
    with open(path) as f:
        text = f.read()
    with open(path, "w") as f:
        f.write(text.replace(old, new))


def test_apply_is_idempotent_and_records_history(estate_dir, state):
    store = StateStore(state)
    loaded = estate_mod.load(estate_dir)
    first = applying.apply(loaded, store, revision="abc123")
    assert first.revision_id is not None
    assert first.plan.count("create") == 12
    second = applying.apply(loaded, store, revision="abc123")
    assert second.revision_id is None and second.plan.empty
    assert sum(second.plan.unchanged.values()) == 12

    _edit(estate_dir, "environments/laa-apply-dev/environment.yaml", 'cpu: "2"', 'cpu: "3"')
    third = applying.apply(estate_mod.load(estate_dir), store, revision="def456")
    assert [(a.verb, a.name) for a in third.plan.actions] == [("update", "laa-apply-dev")]
    history = store.history("Environment", "laa-apply-dev")
    assert [(h.operation, h.git_revision) for h in history] == [("update", "def456"), ("create", "abc123")]
    assert history[0].changes == ['~ spec.quota.cpu: "2" → "3"']
    assert (
        store.specs({("Environment", "laa-apply-dev")})[("Environment", "laa-apply-dev")]["spec"]["quota"]["cpu"] == "3"
    )
    store.close()


def test_plan_reads_only_the_changed_specs(estate_dir, tmp_path):
    store = StateStore(str(tmp_path / "state.db"))
    applying.apply(estate_mod.load(estate_dir), store)
    fetched = []
    original = store.specs
    store.specs = lambda keys: (fetched.append(set(keys)), original(keys))[1]
    _edit(estate_dir, "environments/opg-lpa-dev/environment.yaml", "#opg-lpa-dev", "#opg-lpa-devs")
    plan = applying.plan(estate_mod.load(estate_dir), store)
    assert fetched == [{("Environment", "opg-lpa-dev")}]
    assert plan.count("update") == 1
    store.close()


def test_changed_since_scopes_the_plan(cli, estate_dir):
    import subprocess

    git = ["git", "-C", estate_dir, "-c", "user.email=t@example.org", "-c", "user.name=t"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", "base"], check=True)
    assert cli("apply", "--estate", estate_dir).code == 0
    _edit(estate_dir, "environments/opg-lpa-dev/environment.yaml", "#opg-lpa-dev", "#opg-lpa-devs")
    import json

    body = json.loads(cli("plan", "--estate", estate_dir, "--changed-since", "HEAD", "-o", "json").out)
    assert body["scoped"] is True
    assert [c["name"] for c in body["changes"]] == ["opg-lpa-dev"]
    assert body["summary"]["unchanged"] == 0
    assert body["revision"].endswith("-dirty")
    bad = cli("plan", "--estate", estate_dir, "--changed-since", "no-such-ref")
    assert bad.code == 2
    assert "--changed-since 'no-such-ref': git cannot compare with it" in bad.err


def test_an_unreachable_store_is_a_clear_error(estate_dir):
    with pytest.raises(StoreError) as e:
        StateStore("postgresql://civic:hunter2@127.0.0.1:1/nowhere")
    assert "cannot open the state store at postgresql://civic:***@127.0.0.1:1/nowhere" in e.value.message
    assert "hunter2" not in e.value.message
