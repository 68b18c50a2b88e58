"""Uploaded code and its builds: which environment may use which archive, and every build's record.

A client uploads a service's folder as a ``.tar.gz`` archive named by its digest
(``sha256:<hex>``); the control plane keeps the file itself (:mod:`civic.control.releasing`)
and records here which environment uploaded it (``civic_artifacts``), so that a team's token
deploys only the code uploaded to its own environments. Each deploy of uploaded code is
built first; ``civic_builds`` keeps every build: its service, archive, outcome, how long it
took, whether its dependencies came from the cache, and its output (the last
:data:`MAX_LOG` bytes), for ``civic builds ENV/SERVICE [--logs]``. A revision names the
build it runs (``civic_service_revisions.release``).
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import sqlalchemy as sa

from civic.errors import NotFound
from civic.store import database as db
from civic.store.state import StateStore

MAX_LOG = 1 << 20
"""The most of a build's output kept: its end, where a failure shows."""

artifacts = sa.Table(
    "civic_artifacts",
    db.metadata,
    sa.Column("digest", sa.String(80), primary_key=True),  # "sha256:<hex>"
    sa.Column("environment", sa.String(100), primary_key=True),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("uploaded_at", sa.Float, nullable=False),
    sa.Column("uploaded_by", sa.String(200), nullable=False),
)

builds = sa.Table(
    "civic_builds",
    db.metadata,
    sa.Column("id", sa.String(40), primary_key=True),  # "bld_" and 12 hex digits
    sa.Column("environment", sa.String(100), nullable=False),
    sa.Column("service", sa.String(100), nullable=False),
    sa.Column("artifact", sa.String(80), nullable=False),
    sa.Column("status", sa.String(20), nullable=False),  # building, succeeded, failed, removed
    sa.Column("kind", sa.String(40), nullable=False, default=""),
    sa.Column("cached", sa.Boolean, nullable=False, default=False),
    sa.Column("size", sa.BigInteger, nullable=False, default=0),
    sa.Column("started_at", sa.Float, nullable=False),
    sa.Column("seconds", sa.Float, nullable=False, default=0.0),
    sa.Column("started_by", sa.String(200), nullable=False),
    sa.Column("message", sa.Text, nullable=False, default=""),
    sa.Column("log", sa.Text, nullable=False, default=""),
    sa.Index("ix_civic_builds_service", "environment", "service"),
)


@dataclasses.dataclass(frozen=True)
class Build:
    id: str
    environment: str
    service: str
    artifact: str
    status: str
    kind: str
    cached: bool
    size: int
    started_at: float
    seconds: float
    started_by: str
    message: str


class Releases:
    """Artifact and build records on top of a :class:`~civic.store.state.StateStore`'s engine."""

    def __init__(self, store: StateStore) -> None:
        self.store = store

    def __repr__(self) -> str:
        return f"Releases(store={self.store!r})"

    def _tx(self):  # noqa: ANN202 - the store's transaction context manager
        return self.store._tx()

    # --- artifacts -----------------------------------------------------------------

    def add_artifact(self, digest: str, environment: str, *, size: int, by: str) -> None:
        """Record that ``environment`` uploaded ``digest`` (again: nothing changes)."""
        with self._tx() as conn:
            if not self._has(conn, digest, environment):
                conn.execute(
                    artifacts.insert().values(
                        digest=digest, environment=environment, size=size, uploaded_at=time.time(), uploaded_by=by
                    )
                )

    def has_artifact(self, digest: str, environment: str) -> bool:
        with self._tx() as conn:
            return self._has(conn, digest, environment)

    def _has(self, conn: sa.Connection, digest: str, environment: str) -> bool:
        q = sa.select(artifacts.c.digest).where(
            (artifacts.c.digest == digest) & (artifacts.c.environment == environment)
        )
        return conn.execute(q).first() is not None

    def forget_artifacts(self, digests: set[str]) -> None:
        """Forget archives that retention removed (in every environment)."""
        if digests:
            with self._tx() as conn:
                conn.execute(artifacts.delete().where(artifacts.c.digest.in_(sorted(digests))))

    def artifacts_in_use(self) -> set[str]:
        """The archives of every build still on disk (building or succeeded)."""
        q = sa.select(builds.c.artifact).where(builds.c.status.in_(("building", "succeeded"))).distinct()
        with self._tx() as conn:
            return set(conn.execute(q).scalars())

    def recent_artifacts(self, *, since: float) -> set[str]:
        q = sa.select(artifacts.c.digest).where(artifacts.c.uploaded_at >= since).distinct()
        with self._tx() as conn:
            return set(conn.execute(q).scalars())

    def artifact_digests(self) -> set[str]:
        with self._tx() as conn:
            return set(conn.execute(sa.select(artifacts.c.digest).distinct()).scalars())

    # --- builds --------------------------------------------------------------------

    def start_build(self, build_id: str, *, environment: str, service: str, artifact: str, by: str) -> None:
        with self._tx() as conn:
            conn.execute(
                builds.insert().values(
                    id=build_id,
                    environment=environment,
                    service=service,
                    artifact=artifact,
                    status="building",
                    kind="",
                    cached=False,
                    size=0,
                    started_at=time.time(),
                    seconds=0.0,
                    started_by=by,
                    message="",
                    log="",
                )
            )

    def finish_build(
        self,
        build_id: str,
        *,
        status: str,
        log: str,
        message: str = "",
        kind: str = "",
        cached: bool = False,
        size: int = 0,
        seconds: float = 0.0,
    ) -> None:
        kept = log if len(log) <= MAX_LOG else "[... earlier output left out ...]\n" + log[-MAX_LOG:]
        with self._tx() as conn:
            conn.execute(
                builds.update()
                .where(builds.c.id == build_id)
                .values(status=status, log=kept, message=message, kind=kind, cached=cached, size=size, seconds=seconds)
            )

    def mark_removed(self, build_ids: set[str]) -> None:
        if build_ids:
            with self._tx() as conn:
                conn.execute(builds.update().where(builds.c.id.in_(sorted(build_ids))).values(status="removed", size=0))

    def build(self, build_id: str) -> Build:
        with self._tx() as conn:
            row = conn.execute(sa.select(*_FIELDS).where(builds.c.id == build_id)).first()
        if row is None:
            raise NotFound(f"there is no build '{build_id}'; 'civic builds ENV/SERVICE' lists a service's builds.")
        return _build(row)

    def build_log(self, build_id: str) -> str:
        with self._tx() as conn:
            log = conn.execute(sa.select(builds.c.log).where(builds.c.id == build_id)).scalar()
        if log is None:
            raise NotFound(f"there is no build '{build_id}'; 'civic builds ENV/SERVICE' lists a service's builds.")
        return str(log)

    def builds(self, environment: str, service: str, *, limit: int = 50) -> list[Build]:
        """The service's builds, newest first."""
        q = (
            sa.select(*_FIELDS)
            .where((builds.c.environment == environment) & (builds.c.service == service))
            .order_by(builds.c.started_at.desc(), builds.c.id.desc())
            .limit(limit)
        )
        with self._tx() as conn:
            return [_build(r) for r in conn.execute(q)]

    def abandon_unfinished(self) -> int:
        """Builds a previous control plane left running (it stopped mid-build) are failed."""
        with self._tx() as conn:
            done = conn.execute(
                builds.update()
                .where(builds.c.status == "building")
                .values(status="failed", message="the control plane stopped during the build; deploy again")
            )
            return int(done.rowcount or 0)


_FIELDS = [c for c in builds.c if c.name != "log"]


def _build(row: Any) -> Build:
    return Build(
        row.id,
        row.environment,
        row.service,
        row.artifact,
        row.status,
        row.kind,
        bool(row.cached),
        int(row.size),
        row.started_at,
        row.seconds,
        row.started_by,
        row.message,
    )
