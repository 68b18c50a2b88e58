"""The one small protocol every backend implements: the local runtime and Kubernetes.

A backend is level-based: :meth:`Backend.apply` is given the whole desired state of one
environment (its spec and every service revision that should run there) and converges
to it, however it got to where it is; :meth:`Backend.observe` says what is there now.
Calling ``apply`` twice with the same desired state changes nothing the second time.
Names of what a backend creates are derived from environment and service names, so a
repeat finds the thing instead of making a second one.

Backends raise only ``civic.errors`` types, chaining the library's error.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping
from typing import Protocol

from civic.spec import models


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


class Backend(Protocol):
    name: str

    async def observe(self, environment: str) -> Observed: ...

    async def apply(self, desired: DesiredEnvironment) -> None: ...

    async def aclose(self) -> None: ...
