"""The store's migration revisions, oldest first; Alembic reads them, nothing imports them.

Each file is named ``rNNNN_what.py`` (an importable name, for the linters) and holds one
revision whose ``down_revision`` is the one before; :data:`civic.store.migrations.HEAD`
names the newest.
"""
