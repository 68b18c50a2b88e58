"""Schema migrations: a store the previous release made opens with today's code and keeps its
data; a new store is built at the head revision, equal to the tables in code; a second start
does nothing; a store migrated by a newer Civic is refused, saying what to do."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import time
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from civic.errors import StoreError
from civic.spec import estate as estate_mod
from civic.spec import models
from civic.store import alerts, database, deployments, migrations
from civic.store.state import StateStore

PREVIOUS_RELEASE = os.path.join(os.path.dirname(__file__), "previous_release")
"""The DDL the release before migrations (commit a3b85c5) ran, frozen, one file a dialect."""
FIRST_TABLES = {"civic_revisions", "civic_objects", "civic_history", "civic_secrets", "civic_locks"}
"""What that release created on opening a store; the others waited for a deploy or an alert."""
TOKEN = "civic_previous-release-token"
SHIPPED = migrations.SCRIPT_LOCATION
"""The migrations this release ships (a test adds one to a copy of them)."""


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def state(request, tmp_path) -> str:
    if request.param == "sqlite":
        return str(tmp_path / "state.db")
    return request.getfixturevalue("postgres_url")


def _previous_release_ddl(dialect: str, tables: set[str] | None = None) -> list[str]:
    with open(os.path.join(PREVIOUS_RELEASE, f"{dialect}.sql")) as f:
        body = "\n".join(line for line in f.read().splitlines() if not line.startswith("--"))
    statements = [s.strip() for s in body.split(";") if s.strip()]
    return [s for s in statements if tables is None or re.search(r"(?:CREATE TABLE|ON) (\w+)", s).group(1) in tables]


def _previous_release_store(
    state: str, loaded: estate_mod.Estate, *, tables: set[str] | None = None, ddl: bool = True
) -> None:
    """A store as the previous release left it: its tables (``ddl``: made here), an applied
    estate, and (when its deployment tables are there) a deployed service revision and a
    team's token."""
    engine = database.open_engine(state)
    with engine.begin() as conn:
        for statement in _previous_release_ddl(engine.dialect.name, tables) if ddl else ():
            conn.exec_driver_sql(statement)
        now = time.time()
        conn.execute(
            sa.text(
                "INSERT INTO civic_revisions (git_revision, applied_at, applied_by, summary) "
                "VALUES ('abc123', :now, 'ops@host pid 1', :summary)"
            ),
            {"now": now, "summary": json.dumps({"create": 12})},
        )
        for (kind, name), model in loaded.objects().items():
            spec = json.dumps(model.canonical(), sort_keys=True, default=str)
            conn.execute(
                sa.text("INSERT INTO civic_objects VALUES (:kind, :name, :spec, :fp, '{}', 1, :now)"),
                {"kind": kind, "name": name, "spec": spec, "fp": model.fingerprint(), "now": now},
            )
            conn.execute(
                sa.text(
                    "INSERT INTO civic_history (revision_id, kind, name, operation, spec, changes) "
                    "VALUES (1, :kind, :name, 'create', :spec, '[]')"
                ),
                {"kind": kind, "name": name, "spec": spec},
            )
        if tables is None:
            conn.execute(
                sa.text(
                    "INSERT INTO civic_service_revisions VALUES "
                    "('laa-apply-dev', 'hello', 1, :spec, :now, 'ops', 'deployed', '')"
                ),
                {"spec": json.dumps(_hello().canonical(), sort_keys=True), "now": now},
            )
            conn.execute(
                sa.text("INSERT INTO civic_services VALUES ('laa-apply-dev', 'hello', 1, NULL, 0, :now)"), {"now": now}
            )
            conn.execute(
                sa.text("INSERT INTO civic_tokens VALUES (:digest, 'laa-apply', :now)"),
                {"digest": deployments.digest(TOKEN), "now": now},
            )
    engine.dispose()


@contextlib.contextmanager
def _opened(state: str) -> Iterator[StateStore]:
    store = StateStore(state)
    try:
        yield store
    finally:
        store.close()


def _canonical(models_by_key: Mapping[Any, models.Kind]) -> dict[Any, dict[str, Any]]:
    return {key: model.canonical() for key, model in models_by_key.items()}


def _hello() -> models.Service:
    return models.Service.model_validate(
        {
            "apiVersion": "civic/v1",
            "kind": "Service",
            "metadata": {"name": "hello"},
            "spec": {"run": {"command": "python -m http.server $PORT"}, "replicas": 2, "env": {"GREETING": "hi"}},
        }
    )


def _revision(state: str) -> str | None:
    engine = database.open_engine(state)
    with engine.connect() as conn:
        found = migrations.current(conn)
    engine.dispose()
    return found


def _schema_differences(state: str) -> list:
    """What separates the store's schema from the tables in code (empty: nothing)."""
    engine = database.open_engine(state)
    with engine.connect() as conn:
        found = compare_metadata(MigrationContext.configure(conn), database.metadata)
    engine.dispose()
    return found


def test_a_store_from_the_previous_release_opens_with_its_data(state, estate_dir):
    loaded = estate_mod.load(estate_dir)
    _previous_release_store(state, loaded)
    assert _revision(state) is None

    with _opened(state) as store:
        records = deployments.Deployments(store)
        assert store.platform().canonical() == loaded.platform.canonical()
        assert store.environment("laa-apply-dev").canonical() == loaded.environments["laa-apply-dev"].canonical()
        assert store.environment("no-such-env") is None
        assert _canonical(store.environments()) == _canonical(loaded.environments)
        assert _canonical(store.teams()) == _canonical(loaded.teams)
        assert [h.operation for h in store.history("Environment", "laa-apply-dev")] == ["create"]
        assert records.service_spec("laa-apply-dev", "hello", 1).canonical() == _hello().canonical()
        assert _canonical(records.current_services()) == {("laa-apply-dev", "hello"): _hello().canonical()}
        assert records.token_team(TOKEN) == (True, "laa-apply")
        assert records.add_revision("laa-apply-dev", "hello", spec=_hello().canonical(), by="test") == 2

    assert _revision(state) == migrations.HEAD
    assert _schema_differences(state) == []


def test_a_store_with_only_the_first_tables_is_completed(state, estate_dir):
    """The previous release made its deployment and alert tables on first use: a store that
    never saw a deploy lacks them, and gets them before it is stamped."""
    _previous_release_store(state, estate_mod.load(estate_dir), tables=FIRST_TABLES)
    with _opened(state) as store:
        records = deployments.Deployments(store)
        assert records.add_revision("laa-apply-dev", "hello", spec=_hello().canonical(), by="test") == 1
        assert alerts.record(store, {"alerts": [{"status": "firing", "labels": {"alertname": "Down"}}]}) == 1
        assert [a["alertname"] for a in alerts.history(store)] == ["Down"]
    assert _revision(state) == migrations.HEAD
    assert _schema_differences(state) == []


def test_a_new_store_is_built_at_head_as_the_tables_in_code(state):
    StateStore(state).close()
    assert _revision(state) == migrations.HEAD
    assert _schema_differences(state) == []


def test_head_names_the_newest_revision():
    script = ScriptDirectory.from_config(migrations.config())
    assert script.get_heads() == [migrations.HEAD]
    assert script.get_base() == migrations.BASELINE


NEXT_REVISION = f'''"""A test's revision after the newest: tokens get a label."""

import sqlalchemy as sa
from alembic import op

revision = "0099_token_labels"
down_revision = "{migrations.HEAD}"


def upgrade() -> None:
    with op.batch_alter_table("civic_tokens") as batch:
        batch.add_column(sa.Column("label", sa.String(40), nullable=False, server_default="none"))
'''


@pytest.fixture
def next_revision(tmp_path, monkeypatch) -> str:
    """The package's migrations and one more revision, as the next release would ship them."""
    location = tmp_path / "migrations"
    shutil.copytree(migrations.SCRIPT_LOCATION, location, ignore=shutil.ignore_patterns("__pycache__"))
    (location / "versions" / "r0099_token_labels.py").write_text(NEXT_REVISION)
    monkeypatch.setattr(migrations, "SCRIPT_LOCATION", str(location))
    monkeypatch.setattr(migrations, "HEAD", "0099_token_labels")
    return "0099_token_labels"


def test_a_later_revision_upgrades_a_store_from_before_migrations(state, estate_dir, next_revision):
    _previous_release_store(state, estate_mod.load(estate_dir))
    with _opened(state) as store:
        assert deployments.Deployments(store).token_team(TOKEN) == (True, "laa-apply")
        with store.engine.connect() as conn:
            labels = conn.execute(sa.text("SELECT label FROM civic_tokens")).scalars().all()
    assert labels == ["none"]
    assert _revision(state) == next_revision


def _store_at(state: str, revision: str) -> None:
    """A new store migrated only as far as ``revision``, as the release that shipped it left it."""
    from alembic import command

    engine = database.open_engine(state)
    with engine.begin() as conn:
        cfg = migrations.config(conn)
        cfg.set_main_option("script_location", SHIPPED)
        command.upgrade(cfg, revision)
    engine.dispose()


def test_civic_migrate_upgrades_a_store_at_the_baseline(cli, state, next_revision):
    _store_at(state, migrations.BASELINE)
    assert _revision(state) == migrations.BASELINE
    result = cli("migrate", "--state", state)
    assert result.code == 0, result.err
    assert f"revision before: {migrations.BASELINE}\n" in result.out
    assert f"revision after:  {next_revision} (the newest)" in result.out
    assert "Migrated." in result.out


def _snapshot(state: str) -> tuple:
    engine = database.open_engine(state)
    with engine.connect() as conn:
        inspector = sa.inspect(conn)
        tables = sorted(
            (
                t,
                tuple(c["name"] for c in inspector.get_columns(t)),
                tuple(sorted(i["name"] for i in inspector.get_indexes(t))),
            )
            for t in inspector.get_table_names()
        )
        versions = conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalars().all()
        objects = conn.execute(sa.text("SELECT count(*) FROM civic_objects")).scalar()
    engine.dispose()
    return tables, versions, objects


def test_a_second_start_does_nothing(state, estate_dir):
    _previous_release_store(state, estate_mod.load(estate_dir))
    StateStore(state).close()
    first = _snapshot(state)
    StateStore(state).close()
    assert _snapshot(state) == first
    assert first[1] == [migrations.HEAD]
    assert database.migrate(state) == migrations.Migrated(migrations.HEAD, migrations.HEAD)


def test_a_store_from_a_newer_civic_is_refused(state, cli):
    StateStore(state).close()
    engine = database.open_engine(state)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = '0099_future'"))
    engine.dispose()
    with pytest.raises(StoreError) as e:
        StateStore(state)
    assert "at schema revision '0099_future', which this version of Civic does not know" in e.value.message
    assert "Upgrade Civic" in e.value.message
    result = cli("migrate", "--state", state)
    assert result.code == 1
    assert "error: the state store at" in result.err and "0099_future" in result.err
    assert _revision(state) == "0099_future"


def test_civic_migrate_prints_the_revisions(cli, estate_dir, state):
    created = cli("migrate", "--estate", estate_dir, "--state", state)
    assert created.code == 0, created.err
    assert "revision before: none (a new store)" in created.out
    assert f"revision after:  {migrations.HEAD} (the newest)" in created.out
    assert "Migrated." in created.out

    again = cli("migrate", "--estate", estate_dir, "--state", state)
    assert again.code == 0, again.err
    assert f"revision before: {migrations.HEAD}\n" in again.out
    assert "Already up to date: nothing to do." in again.out
    body = json.loads(cli("migrate", "--state", state, "-o", "json").out)
    assert body == {
        "state": database.redact(state),
        "before": migrations.HEAD,
        "after": migrations.HEAD,
        "legacy": False,
        "changed": False,
    }


def test_civic_migrate_recognises_a_store_from_before_migrations(cli, estate_dir):
    default = os.path.join(estate_dir, ".civic", "state.db")
    _previous_release_store(default, estate_mod.load(estate_dir))
    result = cli("migrate", "--estate", estate_dir)
    assert result.code == 0, result.err
    assert f"state store:     {default}" in result.out
    assert "revision before: none (made by a Civic release before migrations" in result.out
    assert "Migrated." in result.out
    assert _revision(default) == migrations.HEAD


def test_store_urls_are_redacted_with_sqlalchemy():
    assert (
        database.redact("postgresql://civic:p%40ss@db.example:5432/civic")
        == "postgresql://civic:***@db.example:5432/civic"
    )
    assert database.redact("postgresql://civic@db.example/civic") == "postgresql://civic@db.example/civic"
    assert database.redact("/var/lib/civic/state.db") == "/var/lib/civic/state.db"


ROUTED = "apply.service.justice.gov.uk"


def test_a_store_at_the_baseline_gets_token_ids_team_incarnations_and_host_claims(state, estate_dir):
    """0002_tokens_routes: each token gets a public id and its team's incarnation, a team token
    its team outlived is deleted, and the hostnames applied and deployed so far are claimed,
    the first claim winning."""
    loaded = estate_mod.load(estate_dir)
    _store_at(state, migrations.BASELINE)
    _previous_release_store(state, loaded, ddl=False)
    engine = database.open_engine(state)
    with engine.begin() as conn:
        applied_at = conn.execute(sa.text("SELECT applied_at FROM civic_revisions")).scalar()
        for digest, team, at in [
            (deployments.digest("civic_admin"), None, applied_at + 1),
            (deployments.digest("civic_ghost"), "no-such-team", applied_at + 1),
            (deployments.digest("civic_before"), "laa-apply", applied_at - 100),
        ]:
            conn.execute(
                sa.text("INSERT INTO civic_tokens VALUES (:digest, :team, :at)"),
                {"digest": digest, "team": team, "at": at},
            )
        routed = _hello().model_copy(
            update={"spec": _hello().spec.model_copy(update={"routes": [models.Route(host=ROUTED)]})}
        )
        for env, at in (("opg-lpa-dev", applied_at + 5), ("laa-apply-dev", applied_at + 10)):
            conn.execute(
                sa.text(
                    "INSERT INTO civic_service_revisions VALUES (:env, 'routed', 1, :spec, :at, 'ops', 'deployed', '')"
                ),
                {"env": env, "spec": json.dumps(routed.canonical()), "at": at},
            )
    engine.dispose()

    with _opened(state) as store:
        records = deployments.Deployments(store)
        assert records.token_team(TOKEN) == (True, "laa-apply")
        assert records.token_team("civic_admin") == (True, None)
        assert records.token_team("civic_ghost") == (False, None)
        assert records.token_team("civic_before") == (False, None)
        listed = records.tokens()
        assert sorted((t.team or "") for t in listed) == ["", "laa-apply"]
        assert all(re.fullmatch(r"tok_[0-9a-f]{10}", t.id) for t in listed)
        assert records.host_owners([ROUTED, "hello.laa-apply-dev.localhost", "routed.opg-lpa-dev.localhost"]) == {
            ROUTED: ("opg-lpa-dev",),
            "hello.laa-apply-dev.localhost": ("laa-apply-dev",),
            "routed.opg-lpa-dev.localhost": ("opg-lpa-dev",),
        }
        estate_hosts = {c.host: c.environment for c in records.claims() if c.service == deployments.ESTATE}
        assert estate_hosts == {h.name: name for name, env in loaded.environments.items() for h in env.spec.hosts}
    assert _revision(state) == migrations.HEAD
    assert _schema_differences(state) == []
