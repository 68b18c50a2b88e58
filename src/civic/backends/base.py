"""The one small protocol every backend implements: the local runtime and Kubernetes.

A backend is level-based: :meth:`Backend.apply` is given the whole desired state of one
environment (its spec and every service revision that should run there) and converges
to it, however it got to where it is; :meth:`Backend.observe` says what is there now.
Calling ``apply`` twice with the same desired state changes nothing the second time.
Names of what a backend creates are derived from environment and service names, so a
repeat finds the thing instead of making a second one.

Backends raise only ``civic.errors`` types, chaining the library's error. Only the
control plane (:mod:`civic.control.plane`) constructs a backend; everything else reaches
it through this protocol. A backend that must remember what it started (the local one
records each replica's pid, to adopt it after a restart) is handed a
:class:`ReplicaRecords`: it never writes the store itself. A backend that builds releases
from uploaded code (the local one) is also a :class:`Builder`.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Collection, Mapping, Sequence
from typing import IO, Protocol

from civic.spec import models
from civic.store.deployments import ReplicaRecord


class Health(str, enum.Enum):
    """As Argo CD says it: healthy, progressing, degraded, missing (plus crash-looping)."""

    HEALTHY = "healthy"
    PROGRESSING = "progressing"
    DEGRADED = "degraded"
    CRASH_LOOPING = "crash-looping"
    MISSING = "missing"
    SUSPENDED = "suspended"  # scaled to zero on purpose


@dataclasses.dataclass(frozen=True)
class ServiceRevision:
    """One service as it should run: the spec of a numbered deploy, with its variables.

    ``environ`` holds the resolved variables (references filled in); values may be
    secret, so a ServiceRevision is never logged or printed whole.
    """

    environment: str
    name: str
    revision: int
    spec: models.ServiceSpec
    environ: Mapping[str, str] = dataclasses.field(default_factory=dict, repr=False)
    replicas: int | None = None  # set by scale or the autoscaler; None: the spec's replicas
    generation: int = 0  # bumped by `civic restart`: replicas of an older one are replaced
    release: str | None = None  # the build id of the uploaded code it runs (None: no code of its own)


@dataclasses.dataclass(frozen=True)
class DesiredEnvironment:
    """Everything one environment should have. ``environment`` None: it should not exist."""

    name: str
    platform: models.Platform
    environment: models.Environment | None
    services: tuple[ServiceRevision, ...] = ()
    teams: Mapping[str, models.Team] = dataclasses.field(default_factory=dict)
    """The teams the environment names (owner, access grants): who gets access to it."""
    secrets: Mapping[str, str] = dataclasses.field(default_factory=dict, repr=False)
    """Values of references, keyed ``secrets.<name>`` / ``services.<db>.<attribute>``, for a
    backend that must place them itself (a development cluster's plain Secret). Often empty."""


@dataclasses.dataclass(frozen=True)
class ServiceStatus:
    name: str
    revision: int | None
    desired: int
    ready: int
    health: Health
    message: str = ""
    url: str | None = None
    failed_revision: int | None = None  # a revision that never became ready; the reconciler rolls back


@dataclasses.dataclass(frozen=True)
class Observed:
    """What one environment has now, as the backend sees it."""

    name: str
    exists: bool
    services: tuple[ServiceStatus, ...] = ()


@dataclasses.dataclass(frozen=True)
class ReplicaView:
    """One running replica, as ``civic ps`` shows it."""

    id: str
    environment: str
    service: str
    revision: int
    pid: int
    port: int
    phase: str
    started_at: float
    reason: str
    limited: bool = False  # inside its cpu and memory limits (a control group)
    isolated: bool = False  # runs as its service's own unprivileged user (not Civic's)


class ReplicaRecords(Protocol):
    """Where a backend keeps what it started, so that a new control plane adopts it."""

    def replica_records(self) -> Sequence[ReplicaRecord]: ...

    def record_replica(self, record: ReplicaRecord) -> None: ...

    def forget_replica(self, replica_id: str) -> None: ...


class Backend(Protocol):
    """What the control plane asks of any backend.

    ``apply``, ``observe`` and ``aclose`` are the heart of it. ``adopt`` and ``start``
    bracket the first reconcile of every environment (adopt what runs, then act);
    ``stop_all`` is ``civic down``; ``url`` and ``replicas`` answer the API.
    """

    name: str

    async def adopt(self) -> int: ...

    def start(self) -> None: ...

    async def observe(self, environment: str) -> Observed: ...

    async def apply(self, desired: DesiredEnvironment) -> None: ...

    def url(self, environment: str, service: str) -> str: ...

    def replicas(self, environment: str | None = None) -> list[ReplicaView]: ...

    async def stop_all(self) -> None: ...

    async def aclose(self) -> None: ...


@dataclasses.dataclass(frozen=True)
class BuildRequest:
    """Build the uploaded code ``archive`` (a .tar.gz whose digest is ``artifact``) of one
    service into the release ``build_id``, as its spec's ``build`` says."""

    environment: str
    service: str
    build_id: str
    artifact: str  # "sha256:<hex>"
    archive: str  # the path of the archive (Civic's own, read-only)
    spec: models.ServiceSpec


@dataclasses.dataclass(frozen=True)
class BuildResult:
    """A release made: where it is, what kind of build made it, and whether its dependencies came
    from the cache (the lock file's digest seen before)."""

    folder: str
    kind: str  # "uv.lock", "requirements.txt", "pyproject.toml", "package-lock.json", "command", "none"
    lock_digest: str | None
    cached: bool
    seconds: float
    size: int  # bytes on disk: code and runtime


class Builder(Protocol):
    """What the control plane asks of a backend that builds releases from uploaded code (the local one;
    Kubernetes runs images its teams' CI built)."""

    def build(self, request: BuildRequest, log: IO[str]) -> BuildResult:
        """Build; write its output to ``log``; raise BuildFailed (nothing left behind) if it fails."""
        ...

    def has(self, environment: str, service: str, build_id: str) -> bool:
        """Whether the release ``build_id`` is still on disk (retention may have removed it)."""
        ...

    def prune(self, environment: str, service: str, keep: Collection[str]) -> list[str]:
        """Remove the service's releases not in ``keep``; the build ids removed."""
        ...
