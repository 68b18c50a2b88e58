"""Schema migrations of the state store (Alembic), run whenever a store is opened.

:func:`civic.store.database.connect` calls :func:`upgrade` each time a
:class:`~civic.store.state.StateStore` opens, and ``civic migrate`` calls it to print
the revision before and after. What it finds decides what it does:

- a store at :data:`HEAD`: nothing; one query answers, and Alembic is not even imported;
- a new, empty store: every revision runs, from the baseline up;
- a store made by the last release before migrations (Civic's tables, no
  ``alembic_version``): the tables that release created only on first use are added, it
  is stamped as :data:`BASELINE`, then upgraded;
- a store at a revision this code does not know (a newer Civic migrated it): a
  :class:`~civic.errors.StoreError` that says to upgrade Civic.

The upgrade runs in one transaction under a lock (an advisory lock on PostgreSQL,
``BEGIN IMMEDIATE`` on SQLite), so processes that start together migrate once and a
failed migration leaves the store as it was.

To change a table: change it in code, add ``versions/rNNNN_what.py`` whose
``down_revision`` is the current head, and move :data:`HEAD` to it;
``tests/store/test_migrations.py`` checks that the migrated schema equals the tables in
code. Alembic can draft the revision from a store at head::

    from alembic import command
    from civic.store import database, migrations
    with database.open_engine("draft.db").begin() as conn:
        command.revision(migrations.config(conn), "what changed", autogenerate=True, rev_id="0002_what")
"""

from __future__ import annotations

import dataclasses
import os
from typing import TYPE_CHECKING

import sqlalchemy as sa

from civic.errors import StoreError
from civic.store.migrations import baseline

if TYPE_CHECKING:
    from alembic.config import Config

BASELINE = "0001_baseline"
"""The revision of the schema of the last release before migrations."""
HEAD = "0003_releases"
"""The newest revision in ``versions/`` (a test keeps the two equal)."""
VERSION_TABLE = "alembic_version"
LEGACY_MARK = "civic_objects"
"""The table by which a store from before migrations is recognised: every release made it."""
SCRIPT_LOCATION = os.path.dirname(os.path.abspath(__file__))
"""Where Alembic finds ``env.py``, ``versions/`` and the template of a new revision."""
_PG_LOCK = 0x6369766963_6D6967  # "civicmig": the key of PostgreSQL's advisory lock


@dataclasses.dataclass(frozen=True)
class Migrated:
    """The revision :func:`upgrade` found and the one it left."""

    before: str | None
    """None: a new store, or one made before migrations (``legacy``)."""
    after: str
    legacy: bool = False
    """The store was made by a release before migrations, and stamped as the baseline."""

    @property
    def changed(self) -> bool:
        return self.before != self.after


def config(connection: sa.Connection | None = None) -> Config:
    """Alembic's configuration for the migrations in this package, run on ``connection``
    (None: only to read the revisions)."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", SCRIPT_LOCATION.replace("%", "%%"))
    cfg.set_main_option("file_template", "r%%(rev)s")
    cfg.attributes["connection"] = connection
    return cfg


def current(connection: sa.Connection) -> str | None:
    """The revision the store is at; None when it has no ``alembic_version`` (yet)."""
    if not sa.inspect(connection).has_table(VERSION_TABLE):
        return None
    return connection.execute(sa.text(f"SELECT version_num FROM {VERSION_TABLE}")).scalar()


def upgrade(engine: sa.Engine, *, where: str) -> Migrated:
    """Bring the store behind ``engine`` to :data:`HEAD`; ``where`` names it in errors."""
    with engine.connect() as conn:
        found = current(conn)
    if found == HEAD:
        return Migrated(HEAD, HEAD)
    with engine.begin() as conn:
        _lock(conn)
        return _upgrade(conn, where=where)


def _lock(conn: sa.Connection) -> None:
    """Hold the store's write lock until the transaction ends: one migrator at a time."""
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK})
    elif conn.dialect.name == "sqlite":
        conn.exec_driver_sql("BEGIN IMMEDIATE")  # the driver has not begun one: DDL does not


def _upgrade(conn: sa.Connection, *, where: str) -> Migrated:
    from alembic import command
    from alembic.script import ScriptDirectory
    from alembic.util import CommandError

    cfg = config(conn)
    before = current(conn)  # again: another process may have migrated while we waited
    legacy = before is None and sa.inspect(conn).has_table(LEGACY_MARK)
    known = {script.revision for script in ScriptDirectory.from_config(cfg).walk_revisions()}
    if before is not None and before not in known:
        raise StoreError(
            f"the state store at {where} is at schema revision '{before}', which this version of "
            f"Civic does not know (it knows up to '{HEAD}'): a newer Civic has migrated it. Upgrade "
            "Civic to the release that store was last used with, or give --state another store."
        )
    try:
        if legacy:
            baseline.create(conn)
            command.stamp(cfg, BASELINE)
        command.upgrade(cfg, "head")
    except CommandError as e:
        raise StoreError(
            f"cannot migrate the state store at {where}: {e}. Nothing was changed; "
            "report this with the output of 'civic migrate'."
        ) from e
    after = current(conn)
    assert after is not None, "an upgrade to head leaves a revision"
    return Migrated(before, after, legacy)
