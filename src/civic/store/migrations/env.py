"""Alembic's environment for the state store, run by Alembic's commands.

:mod:`civic.store.migrations` calls those commands with a connection already open, in
its transaction and under its lock (``config.attributes["connection"]``); so there is no
``alembic.ini``, no URL here and no offline (SQL script) mode. The target metadata is
every table in code, for ``compare_metadata`` and for drafting a revision.
"""

from __future__ import annotations

from alembic import context

from civic.store import alerts, database, deployments, releases  # noqa: F401 - each adds its tables to the metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError(
        "civic's migrations run through civic.store.migrations, which opens the "
        "connection; run 'civic migrate' instead of the alembic command."
    )
context.configure(connection=connection, target_metadata=database.metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
