"""The store's tables and how to connect: SQLite by default, PostgreSQL by URL.

:class:`~civic.store.state.StateStore` calls ``connect(state)``, which returns an engine
with the schema migrated to the newest revision (:mod:`civic.store.migrations`);
``civic migrate`` calls :func:`migrate`. SQLite runs in WAL mode with a busy timeout, so
a second writer waits instead of failing at once.
"""

from __future__ import annotations

import os
import time

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from civic.errors import StoreError
from civic.store import migrations

metadata = sa.MetaData()

revisions = sa.Table(
    "civic_revisions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("git_revision", sa.String(64)),
    sa.Column("applied_at", sa.Float, nullable=False),
    sa.Column("applied_by", sa.String(200), nullable=False),
    sa.Column("summary", sa.Text, nullable=False),
)

objects = sa.Table(
    "civic_objects",
    metadata,
    sa.Column("kind", sa.String(40), primary_key=True),
    sa.Column("name", sa.String(100), primary_key=True),
    sa.Column("spec", sa.Text, nullable=False),
    sa.Column("fingerprint", sa.String(64), nullable=False),
    sa.Column("secrets", sa.Text, nullable=False, default="{}"),
    sa.Column("revision_id", sa.Integer, nullable=False),
    sa.Column("applied_at", sa.Float, nullable=False),
)

history = sa.Table(
    "civic_history",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("revision_id", sa.Integer, nullable=False, index=True),
    sa.Column("kind", sa.String(40), nullable=False),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("operation", sa.String(10), nullable=False),
    sa.Column("spec", sa.Text),
    sa.Column("changes", sa.Text, nullable=False, default="[]"),
    sa.Index("ix_civic_history_object", "kind", "name"),
)

secrets = sa.Table(
    "civic_secrets",
    metadata,
    sa.Column("scope", sa.String(120), primary_key=True),
    sa.Column("name", sa.String(253), primary_key=True),
    sa.Column("ciphertext", sa.LargeBinary, nullable=False),
    sa.Column("fingerprint", sa.String(64), nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
)

locks = sa.Table(
    "civic_locks",
    metadata,
    sa.Column("name", sa.String(100), primary_key=True),
    sa.Column("holder", sa.String(200), nullable=False),
    sa.Column("acquired_at", sa.Float, nullable=False),
    sa.Column("expires_at", sa.Float, nullable=False),
)


def url_for(state: str) -> str:
    """A ``--state`` value (a path or a URL) as an SQLAlchemy URL."""
    if state.startswith(("postgresql://", "postgres://")):
        return "postgresql+psycopg://" + state.split("://", 1)[1]
    if "://" in state:
        return state
    return "sqlite:///" + os.path.abspath(state)


def open_engine(state: str) -> sa.Engine:
    """An engine for ``state``, the schema left as it is (:func:`connect` migrates it)."""
    url = url_for(state)
    if url.startswith("sqlite:///"):
        path = url.removeprefix("sqlite:///")
        folder = os.path.dirname(path)
        if folder:
            os.makedirs(folder, mode=0o700, exist_ok=True)
        _private(path)
        engine = sa.create_engine(url, connect_args={"timeout": 30})
        sa.event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return sa.create_engine(url, pool_pre_ping=True)


def _private(path: str) -> None:
    """The database file (and its WAL and shared-memory files) readable by its owner only.

    SQLite makes ``-wal`` and ``-shm`` with the mode of the database file, so a file made
    0600 before SQLite first opens it keeps all three private; files an earlier release
    made 0644 are narrowed here.
    """
    if path in ("", ":memory:"):
        return
    try:
        os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
        for end in ("", "-wal", "-shm"):
            if os.path.exists(path + end) and os.stat(path + end).st_mode & 0o077:
                os.chmod(path + end, 0o600)
    except OSError:
        pass  # a path SQLite cannot open either: it says so, with the path, when it connects


def connect(state: str) -> sa.Engine:
    """An engine for ``state`` with the schema at the newest revision."""
    engine = open_engine(state)
    try:
        _upgrade(engine, state)
    except BaseException:
        engine.dispose()
        raise
    return engine


def migrate(state: str) -> migrations.Migrated:
    """``civic migrate``: bring the store to the newest revision; what it was and is now."""
    engine = open_engine(state)
    try:
        return _upgrade(engine, state)
    finally:
        engine.dispose()


def _upgrade(engine: sa.Engine, state: str) -> migrations.Migrated:
    for attempt in range(5):
        try:
            return migrations.upgrade(engine, where=redact(state))
        except sa.exc.SQLAlchemyError as e:
            # SQLite may answer "locked" at once instead of waiting out its busy timeout
            # (when waiting could deadlock two writers): the loser tries again.
            if attempt < 4 and "locked" in str(e):
                time.sleep(0.05 * (attempt + 1))
                continue
            raise StoreError(
                f"cannot open the state store at {redact(state)}: {_reason(e)}. "
                "Check the path or URL given with --state."
            ) from e
    raise AssertionError("unreachable")  # pragma: no cover


def _sqlite_pragmas(dbapi_connection, _record) -> None:  # noqa: ANN001 - DB-API types
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def redact(state: str) -> str:
    """A store path or URL fit to print: any password replaced by ***."""
    if "://" not in state:
        return state
    try:
        return make_url(state).render_as_string(hide_password=True)
    except sa.exc.ArgumentError:  # not a URL SQLAlchemy can read: show no more than its scheme
        return state.split("://", 1)[0] + "://***"


def _reason(e: Exception) -> str:
    text = str(getattr(e, "orig", None) or e).strip().splitlines()
    return text[0] if text else type(e).__name__
