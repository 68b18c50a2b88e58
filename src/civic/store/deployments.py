"""What has been deployed and what is running: service revisions, replicas, API tokens and
who holds which hostname.

The API records every deploy here as a numbered revision (kept, so a rollback can go
back to any of them); the reconciler reads the current revision of each service; the
local runtime records each replica's pid and process start time, so a control plane
that restarts adopts the processes it finds instead of starting duplicates. Tokens
are stored as SHA-256 digests, never in clear, each with a short public id and the
incarnation of its team (the revision that created the team), so that a team deleted and
created again under its name does not bring back the old team's tokens.

A hostname belongs to the environment that claimed it first: by the estate (an
environment's ``spec.hosts``, kept in step by each apply) or by a deploy (a service's
generated host and its ``routes[].host``, claimed in the transaction that records the
revision). Claims are kept until the environment is no longer applied.

The tables live on :data:`civic.store.database.metadata`; the store's migrations create
and change them (:mod:`civic.store.migrations`), so they exist once a store is open.
Callers read a revision's spec as a model with :meth:`Deployments.service_spec` and
:meth:`Deployments.current_services`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import secrets
import time
from collections.abc import Collection, Mapping
from typing import Any

import sqlalchemy as sa

from civic.errors import NotFound, PolicyDenied
from civic.spec import models
from civic.store import database as db
from civic.store import releases as _releases  # noqa: F401 - its tables belong to the same schema
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
    sa.Column("artifact", sa.String(80)),  # the uploaded code it runs ("sha256:<hex>"); None: none
    sa.Column("release", sa.String(40)),  # the build of that code (civic_builds.id)
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
    sa.Column("id", sa.String(20), nullable=False),  # public: "tok_" and 10 hex digits
    # the team's incarnation the token was made for: the revision that created the team
    sa.Column("team_revision", sa.Integer),
    sa.Index("ix_civic_tokens_id", "id", unique=True),
)

host_claims = sa.Table(
    "civic_host_claims",
    db.metadata,
    sa.Column("host", sa.String(253), primary_key=True),
    sa.Column("environment", sa.String(100), primary_key=True),
    sa.Column("service", sa.String(100), primary_key=True),  # "": the estate (spec.hosts)
    sa.Column("claimed_at", sa.Float, nullable=False),
    sa.Index("ix_civic_host_claims_environment", "environment"),
)
ESTATE = ""
"""The ``service`` of a claim made by the estate (an environment's ``spec.hosts``)."""
_CLAIMS_LOCK = 0x6369766963_686F73  # "civichos": PostgreSQL's advisory lock over new claims


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
    artifact: str | None = None
    release: str | None = None


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


@dataclasses.dataclass(frozen=True)
class TokenInfo:
    """What may be shown of an API token: never its secret, nor its digest."""

    id: str
    team: str | None  # None: an admin token
    created_at: float


@dataclasses.dataclass(frozen=True)
class Claim:
    """An environment's claim on a hostname: by the estate (``service`` is :data:`ESTATE`) or by a
    deploy of ``service``."""

    host: str
    environment: str
    service: str

    def describe(self) -> str:
        by = "in the estate" if self.service == ESTATE else f"by a deploy of service '{self.service}'"
        return f"environment '{self.environment}' ({by})"


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token_id() -> str:
    return "tok_" + secrets.token_hex(5)


def _incarnation(team: str | sa.ColumnElement[Any]) -> Any:
    """The revision that created ``team`` as it is now (a team deleted and created again is a new
    incarnation); NULL when the team is not applied."""
    h, o = db.history.c, db.objects.c
    exists = sa.select(o.name).where(o.kind == "Team", o.name == team).exists()
    created = sa.select(sa.func.max(h.revision_id)).where(h.kind == "Team", h.name == team, h.operation == "create")
    return sa.case((exists, created.scalar_subquery()), else_=sa.null())


class Deployments:
    """Deploy records on top of a :class:`~civic.store.state.StateStore`'s engine."""

    def __init__(self, store: StateStore) -> None:
        self.store = store

    def __repr__(self) -> str:
        return f"Deployments(store={self.store!r})"

    def _tx(self):  # noqa: ANN202 - the store's transaction context manager
        return self.store._tx()

    # --- revisions -----------------------------------------------------------------

    def add_revision(
        self,
        environment: str,
        service: str,
        *,
        spec: dict[str, Any],
        by: str,
        hosts: Collection[str] = (),
        artifact: str | None = None,
        release: str | None = None,
    ) -> int:
        """Record a new numbered revision and make it the current one; claim ``hosts`` for
        ``environment`` in the same transaction (PolicyDenied, nothing recorded, if another
        environment holds one of them)."""
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
                    artifact=artifact,
                    release=release,
                )
            )
            self._set_current(conn, environment, service, revision=number)
            self._claim(conn, environment, service, hosts)
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

    def add_token(self, token: str, *, team: str | None) -> TokenInfo:
        """Record ``token`` (its digest) for ``team``'s present incarnation, or as an admin token."""
        info = TokenInfo(new_token_id(), team, time.time())
        with self._tx() as conn:
            incarnation = conn.execute(sa.select(_incarnation(team))).scalar() if team is not None else None
            if team is not None and incarnation is None:
                raise NotFound(f"team '{team}' is not in the applied estate; 'civic validate' lists the teams.")
            conn.execute(
                tokens.insert().values(
                    digest=digest(token), id=info.id, team=team, team_revision=incarnation, created_at=info.created_at
                )
            )
        return info

    def token(self, token: str) -> TokenInfo | None:
        """The token, if it is valid: known, and made for its team as the team is now."""
        t = tokens.c
        q = sa.select(t.id, t.team, t.created_at).where(
            t.digest == digest(token), t.team.is_(None) | (t.team_revision == _incarnation(t.team))
        )
        with self._tx() as conn:
            row = conn.execute(q).first()
        return TokenInfo(row.id, row.team, row.created_at) if row is not None else None

    def token_team(self, token: str) -> tuple[bool, str | None]:
        """(known, team): team None with known True means an admin token."""
        info = self.token(token)
        return (info is not None, info.team if info is not None else None)

    def tokens(self) -> list[TokenInfo]:
        """Every valid token, oldest first."""
        t = tokens.c
        q = (
            sa.select(t.id, t.team, t.created_at)
            .where(t.team.is_(None) | (t.team_revision == _incarnation(t.team)))
            .order_by(t.created_at, t.id)
        )
        with self._tx() as conn:
            return [TokenInfo(r.id, r.team, r.created_at) for r in conn.execute(q)]

    def revoke_token(self, token_id: str) -> TokenInfo:
        """Delete the token whose public id is ``token_id``; NotFound if there is none."""
        with self._tx() as conn:
            row = conn.execute(sa.select(tokens).where(tokens.c.id == token_id)).first()
            if row is None:
                raise NotFound(f"there is no token '{token_id}'; 'civic token list' shows the tokens there are.")
            conn.execute(tokens.delete().where(tokens.c.id == token_id))
        return TokenInfo(row.id, row.team, row.created_at)

    def delete_team_tokens(self, team: str) -> int:
        """Delete every token of ``team`` (it is being deleted); how many there were."""
        with self._tx() as conn:
            return conn.execute(tokens.delete().where(tokens.c.team == team)).rowcount

    def prune_tokens(self) -> int:
        """Delete the tokens whose team is gone or was created again since; how many."""
        t = tokens.c
        with self._tx() as conn:
            stale = (
                sa.select(t.digest)
                .where(t.team.is_not(None), (t.team_revision != _incarnation(t.team)) | _incarnation(t.team).is_(None))
                .scalar_subquery()
            )
            return conn.execute(tokens.delete().where(t.digest.in_(stale))).rowcount

    # --- hostnames -----------------------------------------------------------------

    def claims(self, hosts: Collection[str] | None = None) -> list[Claim]:
        """The claims on ``hosts`` (None: on every hostname), in a stable order."""
        c = host_claims.c
        q = sa.select(c.host, c.environment, c.service).order_by(c.host, c.environment, c.service)
        if hosts is not None:
            if not hosts:
                return []
            q = q.where(c.host.in_(sorted(set(hosts))))
        with self._tx() as conn:
            return [Claim(r.host, r.environment, r.service) for r in conn.execute(q)]

    def host_owners(self, hosts: Collection[str]) -> dict[str, tuple[str, ...]]:
        """Each of ``hosts`` that is claimed, and the environments that hold it."""
        out: dict[str, set[str]] = {}
        for claim in self.claims(hosts):
            out.setdefault(claim.host, set()).add(claim.environment)
        return {host: tuple(sorted(envs)) for host, envs in out.items()}

    def _claim(self, conn: sa.Connection, environment: str, service: str, hosts: Collection[str]) -> None:
        """Claim ``hosts`` for ``environment``'s ``service``: first come, first served."""
        if not hosts:
            return
        if conn.dialect.name == "postgresql":  # one claimant at a time: no two first claims
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _CLAIMS_LOCK})
        c = host_claims.c
        held = conn.execute(sa.select(c.host, c.environment, c.service).where(c.host.in_(sorted(set(hosts))))).all()
        holders: dict[str, set[str]] = {}
        for r in held:
            holders.setdefault(r.host, set()).add(r.environment)
        taken = [Claim(r.host, r.environment, r.service) for r in held if environment not in holders[r.host]]
        if taken:
            raise PolicyDenied(
                f"deploying service '{service}' to '{environment}' is denied by policy; nothing was changed:\n"
                + "".join(
                    f"  Service {service}: hostname '{t.host}' belongs to {t.describe()}, which claimed it first. "
                    "[hostname-owned]\n"
                    for t in taken
                ).rstrip("\n")
            )
        mine = {(r.host, r.service) for r in held if r.environment == environment}
        now = time.time()
        for host in sorted(set(hosts)):
            if (host, service) not in mine:
                conn.execute(
                    host_claims.insert().values(host=host, environment=environment, service=service, claimed_at=now)
                )

    def set_estate_hosts(self, hosts: Mapping[str, Collection[str]]) -> None:
        """Make the estate's claims those of ``hosts`` (environment → its ``spec.hosts``), as
        applied; an environment no longer applied loses every claim, its deploys' too."""
        c = host_claims.c
        want = {(host, env) for env, names in hosts.items() for host in names}
        with self._tx() as conn:
            rows = conn.execute(sa.select(c.host, c.environment, c.service)).all()
            have = {(r.host, r.environment) for r in rows if r.service == ESTATE}
            gone = {r.environment for r in rows} - set(hosts)
            for env in sorted(gone):
                conn.execute(host_claims.delete().where(c.environment == env))
            for host, env in sorted(have - want):
                if env not in gone:
                    conn.execute(
                        host_claims.delete().where((c.host == host) & (c.environment == env) & (c.service == ESTATE))
                    )
            now = time.time()
            for host, env in sorted(want - have):
                conn.execute(host_claims.insert().values(host=host, environment=env, service=ESTATE, claimed_at=now))


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
        row.artifact,
        row.release,
    )
