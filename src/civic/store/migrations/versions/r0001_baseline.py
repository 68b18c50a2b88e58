"""Baseline: the schema of the last release before migrations (commit a3b85c5).

Alembic runs it on a new store. A store that release made is stamped at this revision
instead (by :mod:`civic.store.migrations`), after the tables it had not yet created are
added.
"""

from __future__ import annotations

from alembic import op

from civic.store.migrations import baseline

revision = "0001_baseline"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    baseline.metadata.create_all(op.get_bind(), checkfirst=False)


def downgrade() -> None:
    baseline.metadata.drop_all(op.get_bind(), checkfirst=False)
