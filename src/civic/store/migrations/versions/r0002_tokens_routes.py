"""Tokens get a public id and their team's incarnation; hostnames get owners.

``civic_tokens`` gains ``id`` (``tok_`` and 10 hex digits, shown by ``civic token list``
and taken by ``civic token revoke``) and ``team_revision``: the revision that created the
team the token was made for, so that a team deleted and created again does not bring back
its old tokens. A team token whose team is gone, or was created again after the token was
made, is deleted here.

``civic_host_claims`` records which environment holds which hostname: here, the applied
environments' ``spec.hosts`` first, then each deployed revision's generated host and
``routes[].host`` in the order they were deployed; a hostname another environment holds
already is not claimed again (the first claim wins).
"""

from __future__ import annotations

import json
import secrets
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0002_tokens_routes"
down_revision = "0001_baseline"
branch_labels = None
depends_on = None

_history = sa.table(
    "civic_history",
    sa.column("revision_id", sa.Integer),
    sa.column("kind", sa.String),
    sa.column("name", sa.String),
    sa.column("operation", sa.String),
)
_revisions = sa.table("civic_revisions", sa.column("id", sa.Integer), sa.column("applied_at", sa.Float))
_objects = sa.table("civic_objects", sa.column("kind", sa.String), sa.column("name", sa.String), sa.column("spec"))
_tokens = sa.table(
    "civic_tokens",
    sa.column("digest", sa.String),
    sa.column("team", sa.String),
    sa.column("created_at", sa.Float),
    sa.column("id", sa.String),
    sa.column("team_revision", sa.Integer),
)
_service_revisions = sa.table(
    "civic_service_revisions",
    sa.column("environment", sa.String),
    sa.column("service", sa.String),
    sa.column("revision", sa.Integer),
    sa.column("spec", sa.Text),
    sa.column("created_at", sa.Float),
)


def upgrade() -> None:
    conn = op.get_bind()
    with op.batch_alter_table("civic_tokens") as batch:
        batch.add_column(sa.Column("id", sa.String(20), nullable=True))
        batch.add_column(sa.Column("team_revision", sa.Integer))
    _tokens_of_their_team(conn)
    with op.batch_alter_table("civic_tokens") as batch:
        batch.alter_column("id", existing_type=sa.String(20), nullable=False)
        batch.create_index("ix_civic_tokens_id", ["id"], unique=True)
    claims = op.create_table(
        "civic_host_claims",
        sa.Column("host", sa.String(253), primary_key=True),
        sa.Column("environment", sa.String(100), primary_key=True),
        sa.Column("service", sa.String(100), primary_key=True),
        sa.Column("claimed_at", sa.Float, nullable=False),
    )
    op.create_index("ix_civic_host_claims_environment", "civic_host_claims", ["environment"])
    rows = _claims_so_far(conn)
    if rows:
        op.bulk_insert(claims, rows)


def _tokens_of_their_team(conn: sa.Connection) -> None:
    """Give each token an id and its team's incarnation; delete those their team outlived."""
    teams = {r.name for r in conn.execute(sa.select(_objects.c.name).where(_objects.c.kind == "Team"))}
    h = _history.c
    latest = (
        sa.select(h.name, sa.func.max(h.revision_id).label("revision_id"))
        .where(h.kind == "Team", h.operation == "create")
        .group_by(h.name)
        .subquery()
    )
    created = {
        r.name: (r.revision_id, r.applied_at)
        for r in conn.execute(
            sa.select(latest.c.name, latest.c.revision_id, _revisions.c.applied_at).join(
                _revisions, _revisions.c.id == latest.c.revision_id
            )
        )
    }
    for row in conn.execute(sa.select(_tokens.c.digest, _tokens.c.team, _tokens.c.created_at)).all():
        incarnation = created.get(row.team) if row.team is not None and row.team in teams else None
        if row.team is not None and (incarnation is None or row.created_at < incarnation[1]):
            conn.execute(_tokens.delete().where(_tokens.c.digest == row.digest))
            continue
        conn.execute(
            _tokens.update()
            .where(_tokens.c.digest == row.digest)
            .values(id="tok_" + secrets.token_hex(5), team_revision=incarnation[0] if incarnation else None)
        )


def _claims_so_far(conn: sa.Connection) -> list[dict[str, Any]]:
    """The claims the store's history implies: the estate's hosts, then each deploy's, oldest first."""
    specs = {
        (r.kind, r.name): json.loads(r.spec)
        for r in conn.execute(sa.select(_objects.c.kind, _objects.c.name, _objects.c.spec))
    }
    platform: dict[str, Any] = next((spec for (kind, _), spec in specs.items() if kind == "Platform"), {})
    base = (platform.get("spec") or {}).get("baseDomain") or "localhost"
    held: dict[str, set[str]] = {}
    rows: dict[tuple[str, str, str], float] = {}

    def claim(host: Any, environment: str, service: str, at: float) -> None:
        if not isinstance(host, str) or held.get(host, {environment}) - {environment}:
            return  # not a hostname, or another environment's already: the first claim wins
        held.setdefault(host, set()).add(environment)
        rows.setdefault((host, environment, service), at)

    for (kind, name), spec in sorted(specs.items()):
        if kind == "Environment":
            for host in (spec.get("spec") or {}).get("hosts") or []:
                claim(host.get("name") if isinstance(host, dict) else host, name, "", 0.0)
    deployed = sa.select(_service_revisions).order_by(_service_revisions.c.created_at, _service_revisions.c.revision)
    for r in conn.execute(deployed):
        if ("Environment", r.environment) not in specs:
            continue
        spec = json.loads(r.spec).get("spec") or {}
        claim(f"{r.service}.{r.environment}.{base}", r.environment, r.service, r.created_at)
        for route in spec.get("routes") or []:
            claim(route.get("host") if isinstance(route, dict) else None, r.environment, r.service, r.created_at)
    return [{"host": h, "environment": e, "service": s, "claimed_at": at} for (h, e, s), at in rows.items()]


def downgrade() -> None:
    op.drop_index("ix_civic_host_claims_environment", "civic_host_claims")
    op.drop_table("civic_host_claims")
    with op.batch_alter_table("civic_tokens") as batch:
        batch.drop_index("ix_civic_tokens_id")
        batch.drop_column("team_revision")
        batch.drop_column("id")
