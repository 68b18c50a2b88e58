"""Releases: uploaded code, its builds, and the build each revision runs.

``civic_artifacts`` records which environment uploaded which archive (by digest);
``civic_builds`` keeps every build with its outcome and output; ``civic_service_revisions``
gains ``artifact`` and ``release`` (the build id). Revisions recorded before hold neither:
they run no uploaded code, as before.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_releases"
down_revision = "0002_tokens_routes"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "civic_artifacts",
        sa.Column("digest", sa.String(80), primary_key=True),
        sa.Column("environment", sa.String(100), primary_key=True),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("uploaded_at", sa.Float, nullable=False),
        sa.Column("uploaded_by", sa.String(200), nullable=False),
    )
    op.create_table(
        "civic_builds",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("environment", sa.String(100), nullable=False),
        sa.Column("service", sa.String(100), nullable=False),
        sa.Column("artifact", sa.String(80), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("cached", sa.Boolean, nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("started_at", sa.Float, nullable=False),
        sa.Column("seconds", sa.Float, nullable=False),
        sa.Column("started_by", sa.String(200), nullable=False),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("log", sa.Text, nullable=False),
    )
    op.create_index("ix_civic_builds_service", "civic_builds", ["environment", "service"])
    with op.batch_alter_table("civic_service_revisions") as batch:
        batch.add_column(sa.Column("artifact", sa.String(80)))
        batch.add_column(sa.Column("release", sa.String(40)))


def downgrade() -> None:
    with op.batch_alter_table("civic_service_revisions") as batch:
        batch.drop_column("release")
        batch.drop_column("artifact")
    op.drop_index("ix_civic_builds_service", "civic_builds")
    op.drop_table("civic_builds")
    op.drop_table("civic_artifacts")
