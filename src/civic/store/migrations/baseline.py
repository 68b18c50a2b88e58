"""The schema of the last release before migrations, frozen: the baseline revision's tables.

Copied from ``civic.store.database``, ``civic.store.deployments`` and
``civic.store.alerts`` as they were at commit a3b85c5 (less the Python-side column
defaults, which never reach the database), on a metadata of its own so that later
changes to the tables in code never change it. Two callers: the baseline revision
(``versions/r0001_baseline.py``) creates these tables in a new store, and
:mod:`civic.store.migrations` completes a store that release made, because it created
the deployment and alert tables only when they were first used.

Never edit this file: a change to a table is a new revision in ``versions/``.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

sa.Table(
    "civic_revisions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("git_revision", sa.String(64)),
    sa.Column("applied_at", sa.Float, nullable=False),
    sa.Column("applied_by", sa.String(200), nullable=False),
    sa.Column("summary", sa.Text, nullable=False),
)

sa.Table(
    "civic_objects",
    metadata,
    sa.Column("kind", sa.String(40), primary_key=True),
    sa.Column("name", sa.String(100), primary_key=True),
    sa.Column("spec", sa.Text, nullable=False),
    sa.Column("fingerprint", sa.String(64), nullable=False),
    sa.Column("secrets", sa.Text, nullable=False),
    sa.Column("revision_id", sa.Integer, nullable=False),
    sa.Column("applied_at", sa.Float, nullable=False),
)

sa.Table(
    "civic_history",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("revision_id", sa.Integer, nullable=False, index=True),
    sa.Column("kind", sa.String(40), nullable=False),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("operation", sa.String(10), nullable=False),
    sa.Column("spec", sa.Text),
    sa.Column("changes", sa.Text, nullable=False),
    sa.Index("ix_civic_history_object", "kind", "name"),
)

sa.Table(
    "civic_secrets",
    metadata,
    sa.Column("scope", sa.String(120), primary_key=True),
    sa.Column("name", sa.String(253), primary_key=True),
    sa.Column("ciphertext", sa.LargeBinary, nullable=False),
    sa.Column("fingerprint", sa.String(64), nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
)

sa.Table(
    "civic_locks",
    metadata,
    sa.Column("name", sa.String(100), primary_key=True),
    sa.Column("holder", sa.String(200), nullable=False),
    sa.Column("acquired_at", sa.Float, nullable=False),
    sa.Column("expires_at", sa.Float, nullable=False),
)

sa.Table(
    "civic_service_revisions",
    metadata,
    sa.Column("environment", sa.String(100), primary_key=True),
    sa.Column("service", sa.String(100), primary_key=True),
    sa.Column("revision", sa.Integer, primary_key=True),
    sa.Column("spec", sa.Text, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("created_by", sa.String(200), nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("message", sa.Text, nullable=False),
)

sa.Table(
    "civic_services",
    metadata,
    sa.Column("environment", sa.String(100), primary_key=True),
    sa.Column("service", sa.String(100), primary_key=True),
    sa.Column("revision", sa.Integer, nullable=False),
    sa.Column("replicas", sa.Integer),
    sa.Column("generation", sa.Integer, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
)

sa.Table(
    "civic_replicas",
    metadata,
    sa.Column("id", sa.String(200), primary_key=True),
    sa.Column("environment", sa.String(100), nullable=False, index=True),
    sa.Column("service", sa.String(100), nullable=False),
    sa.Column("revision", sa.Integer, nullable=False),
    sa.Column("generation", sa.Integer, nullable=False),
    sa.Column("pid", sa.Integer, nullable=False),
    sa.Column("start_time", sa.Integer, nullable=False),
    sa.Column("port", sa.Integer, nullable=False),
    sa.Column("slot", sa.Integer),
    sa.Column("started_at", sa.Float, nullable=False),
)

sa.Table(
    "civic_tokens",
    metadata,
    sa.Column("digest", sa.String(64), primary_key=True),
    sa.Column("team", sa.String(100)),
    sa.Column("created_at", sa.Float, nullable=False),
)

sa.Table(
    "civic_alert_events",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("received_at", sa.Float, nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("alertname", sa.String(200), nullable=False),
    sa.Column("environment", sa.String(100), nullable=False),
    sa.Column("service", sa.String(100), nullable=False),
    sa.Column("team", sa.String(100), nullable=False, index=True),
    sa.Column("severity", sa.String(20), nullable=False),
    sa.Column("summary", sa.Text, nullable=False),
    sa.Column("starts_at", sa.String(40), nullable=False),
    sa.Column("labels", sa.Text, nullable=False),
)


def create(connection: sa.Connection) -> list[str]:
    """Create the tables (and their indexes) that ``connection``'s database lacks; their names."""
    missing = [t for t in metadata.sorted_tables if not sa.inspect(connection).has_table(t.name)]
    metadata.create_all(connection, tables=missing, checkfirst=False)
    return [t.name for t in missing]
