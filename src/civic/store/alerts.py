"""Alert history: every notification Alertmanager sent to Civic's own webhook.

The API's webhook receiver records them; ``civic alerts --history`` lists them, and
later capabilities (runbooks as code) act on them. The table is on
:data:`civic.store.database.metadata`, created and changed by the store's migrations.
"""

from __future__ import annotations

import json
import time
from typing import Any

import sqlalchemy as sa

from civic.store import database as db
from civic.store.state import StateStore

events = sa.Table(
    "civic_alert_events",
    db.metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("received_at", sa.Float, nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("alertname", sa.String(200), nullable=False),
    sa.Column("environment", sa.String(100), nullable=False, default=""),
    sa.Column("service", sa.String(100), nullable=False, default=""),
    sa.Column("team", sa.String(100), nullable=False, default="", index=True),
    sa.Column("severity", sa.String(20), nullable=False, default=""),
    sa.Column("summary", sa.Text, nullable=False, default=""),
    sa.Column("starts_at", sa.String(40), nullable=False, default=""),
    sa.Column("labels", sa.Text, nullable=False, default="{}"),
)


def record(store: StateStore, payload: dict[str, Any]) -> int:
    """Record each alert of one Alertmanager webhook payload; returns how many."""
    rows = []
    now = time.time()
    for alert in payload.get("alerts", []):
        labels = alert.get("labels", {})
        rows.append(
            {
                "received_at": now,
                "status": alert.get("status", ""),
                "alertname": labels.get("alertname", ""),
                "environment": labels.get("environment", ""),
                "service": labels.get("service", ""),
                "team": labels.get("team", ""),
                "severity": labels.get("severity", ""),
                "summary": alert.get("annotations", {}).get("summary", ""),
                "starts_at": alert.get("startsAt", ""),
                "labels": json.dumps(labels, sort_keys=True),
            }
        )
    if rows:
        with store.engine.begin() as conn:
            conn.execute(events.insert(), rows)
    return len(rows)


def history(store: StateStore, *, team: str | None = None, limit: int = 200) -> list[dict[str, Any]]:
    q = sa.select(events).order_by(events.c.id.desc()).limit(limit)
    if team:
        q = q.where(events.c.team == team)
    with store.engine.begin() as conn:
        return [
            {k: v for k, v in row._mapping.items() if k != "labels"} | {"labels": json.loads(row.labels)}
            for row in conn.execute(q)
        ]
