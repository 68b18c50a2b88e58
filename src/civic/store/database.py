"""The store's tables and how to connect: SQLite by default, PostgreSQL by URL.

``connect(url)`` returns an engine with the schema in place. SQLite runs in WAL mode
with a busy timeout, so a second writer waits instead of failing at once.
"""

from __future__ import annotations

import os
import time

import sqlalchemy as sa

from civic.errors import StoreError

metadata = sa.MetaData()

revisions = sa.Table(
    "civic_revisions", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("git_revision", sa.String(64)),
    sa.Column("applied_at", sa.Float, nullable=False),
    sa.Column("applied_by", sa.String(200), nullable=False),
    sa.Column("summary", sa.Text, nullable=False),
)

objects = sa.Table(
    "civic_objects", metadata,
    sa.Column("kind", sa.String(40), primary_key=True),
    sa.Column("name", sa.String(100), primary_key=True),
    sa.Column("spec", sa.Text, nullable=False),
    sa.Column("fingerprint", sa.String(64), nullable=False),
    sa.Column("secrets", sa.Text, nullable=False, default="{}"),
    sa.Column("revision_id", sa.Integer, nullable=False),
    sa.Column("applied_at", sa.Float, nullable=False),
)

history = sa.Table(
    "civic_history", metadata,
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
    "civic_secrets", metadata,
    sa.Column("scope", sa.String(120), primary_key=True),
    sa.Column("name", sa.String(253), primary_key=True),
    sa.Column("ciphertext", sa.LargeBinary, nullable=False),
    sa.Column("fingerprint", sa.String(64), nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
)

locks = sa.Table(
    "civic_locks", metadata,
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


def connect(state: str) -> sa.Engine:
    url = url_for(state)
    if url.startswith("sqlite:///"):
        folder = os.path.dirname(url.removeprefix("sqlite:///"))
        if folder:
            os.makedirs(folder, exist_ok=True)
        engine = sa.create_engine(url, connect_args={"timeout": 30})
        sa.event.listen(engine, "connect", _sqlite_pragmas)
    else:
        engine = sa.create_engine(url, pool_pre_ping=True)
    for attempt in range(5):
        try:
            metadata.create_all(engine)
            return engine
        except sa.exc.SQLAlchemyError as e:
            # Two processes creating the schema at once: the loser sees "already exists",
            # or on SQLite a read-to-write upgrade that fails at once with "locked".
            if attempt < 4 and any(w in str(e) for w in ("already exists", "duplicate key", "locked")):
                time.sleep(0.05 * (attempt + 1))
                continue
            raise StoreError(f"cannot open the state store at {redact(state)}: {_reason(e)}. "
                             "Check the path or URL given with --state.") from e
    raise AssertionError("unreachable")  # pragma: no cover


def _sqlite_pragmas(dbapi_connection, _record) -> None:  # noqa: ANN001 - DB-API types
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def redact(state: str) -> str:
    """A store URL fit to print: any password replaced by ***."""
    if "://" in state and "@" in state:
        scheme, rest = state.split("://", 1)
        creds, host = rest.rsplit("@", 1)
        user = creds.split(":", 1)[0]
        return f"{scheme}://{user}:***@{host}" if ":" in creds else state
    return state


def _reason(e: Exception) -> str:
    text = str(getattr(e, "orig", None) or e).strip().splitlines()
    return text[0] if text else type(e).__name__
