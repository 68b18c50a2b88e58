"""What has been deployed and what is running: service revisions, replicas and API tokens.

The API records every deploy here as a numbered revision (kept, so a rollback can go
back to any of them); the reconciler reads the current revision of each service; the
local runtime records each replica's pid and process start time, so a control plane
that restarts adopts the processes it finds instead of starting duplicates. Tokens
are stored as SHA-256 digests, never in clear.

The tables live on :data:`civic.store.database.metadata`; the store's migrations create
and change them (:mod:`civic.store.migrations`), so they exist once a store is open.
Callers read a revision's spec as a model with :meth:`Deployments.service_spec` and
:meth:`Deployments.current_services`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from typing import Any

import sqlalchemy as sa

from civic.errors import NotFound
from civic.spec import models
from civic.store import database as db
from civic.store.state import StateStore

service_revisions = sa.Table(
    "civic_service_revisions",
    db.metadata,
    sa.Column("environment", sa.String(100), primary_key=True),
    sa.Column("service", sa.String(100), primary_key=True),
    sa.Column("revision", sa.Integer, primary_key=True),
    sa.Column("spec", sa.Text, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("created_by", sa.String(200), nullable=False),
    sa.Column("status", sa.String(20), nullable=False),  # deployed, failed, superseded
    sa.Column("message", sa.Text, nullable=False, default=""),
)

services = sa.Table(
    "civic_services",
    db.metadata,
    sa.Column("environment", sa.String(100), primary_key=True),
    sa.Column("service", sa.String(100), primary_key=True),
    sa.Column("revision", sa.Integer, nullable=False),
    sa.Column("replicas", sa.Integer),  # set by `civic scale`; None: the spec's
    sa.Column("generation", sa.Integer, nullable=False, default=0),  # bumped by `civic restart`
    sa.Column("updated_at", sa.Float, nullable=False),
)

replicas = sa.Table(
    "civic_replicas",
    db.metadata,
    sa.Column("id", sa.String(200), primary_key=True),
    sa.Column("environment", sa.String(100), nullable=False, index=True),
    sa.Column("service", sa.String(100), nullable=False),
    sa.Column("revision", sa.Integer, nullable=False),
    sa.Column("generation", sa.Integer, nullable=False),
    sa.Column("pid", sa.Integer, nullable=False),
    sa.Column("start_time", sa.Integer, nullable=False),  # /proc/<pid>/stat field 22
    sa.Column("port", sa.Integer, nullable=False),
    sa.Column("slot", sa.Integer),
    sa.Column("started_at", sa.Float, nullable=False),
)

tokens = sa.Table(
    "civic_tokens",
    db.metadata,
    sa.Column("digest", sa.String(64), primary_key=True),
    sa.Column("team", sa.String(100)),  # None: an admin token
    sa.Column("created_at", sa.Float, nullable=False),
)


@dataclasses.dataclass(frozen=True)
class Revision:
    environment: str
    service: str
    revision: int
    spec: dict[str, Any]
    created_at: float
    created_by: str
    status: str
    message: str


@dataclasses.dataclass(frozen=True)
class Current:
    """The revision a service should run now, and the overrides on it."""

    environment: str
    service: str
    revision: int
    replicas: int | None
    generation: int


@dataclasses.dataclass(frozen=True)
class ReplicaRecord:
    id: str
    environment: str
    service: str
    revision: int
    generation: int
    pid: int
    start_time: int
    port: int
    slot: int | None
    started_at: float


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Deployments:
    """Deploy records on top of a :class:`~civic.store.state.StateStore`'s engine."""

    def __init__(self, store: StateStore) -> None:
        self.store = store

    def __repr__(self) -> str:
        return f"Deployments(store={self.store!r})"

    def _tx(self):  # noqa: ANN202 - the store's transaction context manager
        return self.store._tx()

    # --- revisions -----------------------------------------------------------------

    def add_revision(self, environment: str, service: str, *, spec: dict[str, Any], by: str) -> int:
        """Record a new numbered revision and make it the current one."""
        with self._tx() as conn:
            last = conn.execute(
                sa.select(sa.func.max(service_revisions.c.revision)).where(
                    (service_revisions.c.environment == environment) & (service_revisions.c.service == service)
                )
            ).scalar()
            number = (last or 0) + 1
            conn.execute(
                service_revisions.insert().values(
                    environment=environment,
                    service=service,
                    revision=number,
                    spec=json.dumps(spec, sort_keys=True),
                    created_at=time.time(),
                    created_by=by,
                    status="deployed",
                    message="",
                )
            )
            self._set_current(conn, environment, service, revision=number)
            return number

    def _set_current(self, conn: sa.Connection, environment: str, service: str, *, revision: int) -> None:
        key = (services.c.environment == environment) & (services.c.service == service)
        row = conn.execute(sa.select(services).where(key)).first()
        if row is None:
            conn.execute(
                services.insert().values(
                    environment=environment,
                    service=service,
                    revision=revision,
                    replicas=None,
                    generation=0,
                    updated_at=time.time(),
                )
            )
        else:
            conn.execute(services.update().where(key).values(revision=revision, updated_at=time.time()))

    def set_current(self, environment: str, service: str, *, revision: int) -> None:
        self.revision(environment, service, revision)  # raises NotFound
        with self._tx() as conn:
            self._set_current(conn, environment, service, revision=revision)

    def mark(self, environment: str, service: str, revision: int, *, status: str, message: str) -> None:
        with self._tx() as conn:
            conn.execute(
                service_revisions.update()
                .where(
                    (service_revisions.c.environment == environment)
                    & (service_revisions.c.service == service)
                    & (service_revisions.c.revision == revision)
                )
                .values(status=status, message=message)
            )

    def revision(self, environment: str, service: str, revision: int) -> Revision:
        q = sa.select(service_revisions).where(
            (service_revisions.c.environment == environment)
            & (service_revisions.c.service == service)
            & (service_revisions.c.revision == revision)
        )
        with self._tx() as conn:
            row = conn.execute(q).first()
        if row is None:
            raise NotFound(
                f"service '{service}' of environment '{environment}' has no revision "
                f"{revision}; 'civic services {environment}' shows the current ones."
            )
        return _revision(row)

    def service_spec(self, environment: str, service: str, revision: int) -> models.Service:
        """The Service of a recorded revision, as the model it was checked as."""
        return models.Service.model_validate(self.revision(environment, service, revision).spec)

    def revisions(self, environment: str, service: str) -> list[Revision]:
        q = (
            sa.select(service_revisions)
            .where((service_revisions.c.environment == environment) & (service_revisions.c.service == service))
            .order_by(service_revisions.c.revision.desc())
        )
        with self._tx() as conn:
            return [_revision(r) for r in conn.execute(q)]

    # --- current -------------------------------------------------------------------

    def current(self, environment: str | None = None) -> list[Current]:
        q = sa.select(services).order_by(services.c.environment, services.c.service)
        if environment is not None:
            q = q.where(services.c.environment == environment)
        with self._tx() as conn:
            return [Current(r.environment, r.service, r.revision, r.replicas, r.generation) for r in conn.execute(q)]

    def current_specs(self) -> dict[tuple[str, str], dict[str, Any]]:
        """The spec of every deployed service's current revision, keyed as the audit keys
        services: ("Service", "<environment>/<service>"), in one query."""
        return {("Service", f"{env}/{name}"): json.loads(spec) for env, name, spec in self._current_rows(None)}

    def current_services(self, environment: str | None = None) -> dict[tuple[str, str], models.Service]:
        """The Service of each deployed service's current revision (of ``environment``, or of
        all), keyed (environment, service), in one query."""
        return {
            (env, name): models.Service.model_validate(json.loads(spec))
            for env, name, spec in self._current_rows(environment)
        }

    def _current_rows(self, environment: str | None) -> list[tuple[str, str, str]]:
        r, s = service_revisions.c, services.c
        q = (
            sa.select(r.environment, r.service, r.spec)
            .join(services, (s.environment == r.environment) & (s.service == r.service) & (s.revision == r.revision))
            .order_by(r.environment, r.service)
        )
        if environment is not None:
            q = q.where(r.environment == environment)
        with self._tx() as conn:
            return [(row.environment, row.service, row.spec) for row in conn.execute(q)]

    def current_of(self, environment: str, service: str) -> Current:
        found = [c for c in self.current(environment) if c.service == service]
        if not found:
            raise NotFound(
                f"environment '{environment}' has no service '{service}'; "
                f"'civic services {environment}' lists what it has."
            )
        return found[0]

    def set_replicas(self, environment: str, service: str, replicas: int | None) -> None:
        self.current_of(environment, service)
        with self._tx() as conn:
            conn.execute(
                services.update()
                .where((services.c.environment == environment) & (services.c.service == service))
                .values(replicas=replicas, updated_at=time.time())
            )

    def bump_generation(self, environment: str, service: str) -> int:
        generation = self.current_of(environment, service).generation + 1
        with self._tx() as conn:
            conn.execute(
                services.update()
                .where((services.c.environment == environment) & (services.c.service == service))
                .values(generation=generation, updated_at=time.time())
            )
        return generation

    # --- replicas ------------------------------------------------------------------

    def record_replica(self, record: ReplicaRecord) -> None:
        with self._tx() as conn:
            conn.execute(replicas.delete().where(replicas.c.id == record.id))
            conn.execute(replicas.insert().values(**dataclasses.asdict(record)))

    def forget_replica(self, replica_id: str) -> None:
        with self._tx() as conn:
            conn.execute(replicas.delete().where(replicas.c.id == replica_id))

    def replica_records(self) -> list[ReplicaRecord]:
        with self._tx() as conn:
            return [ReplicaRecord(**r._asdict()) for r in conn.execute(sa.select(replicas))]

    # --- tokens --------------------------------------------------------------------

    def add_token(self, token: str, *, team: str | None) -> None:
        with self._tx() as conn:
            conn.execute(tokens.insert().values(digest=digest(token), team=team, created_at=time.time()))

    def token_team(self, token: str) -> tuple[bool, str | None]:
        """(known, team): team None with known True means an admin token."""
        with self._tx() as conn:
            row = conn.execute(sa.select(tokens).where(tokens.c.digest == digest(token))).first()
        return (row is not None, row.team if row is not None else None)


def _revision(row: Any) -> Revision:
    return Revision(
        row.environment,
        row.service,
        row.revision,
        json.loads(row.spec),
        row.created_at,
        row.created_by,
        row.status,
        row.message,
    )
