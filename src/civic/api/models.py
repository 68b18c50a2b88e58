"""The API's answers as typed models: what each route returns, and so what the client reads.

Field names are the JSON names the API has always used (camelCase where it was, plain
otherwise), so the CLI and scripts read the same documents as before. Answers that
pass on what Alertmanager says (alerts, silences) keep its fields as they come.
"""

from __future__ import annotations

from typing import Any

import pydantic


class Answer(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(populate_by_name=True, frozen=True)


class Health(Answer):
    ok: bool


class Deployed(Answer):
    environment: str
    service: str
    revision: int
    url: str
    warnings: list[str]
    progress_deadline_seconds: float = pydantic.Field(alias="progressDeadlineSeconds")
    build: BuildDone | None = None


class BuildDone(Answer):
    """The build a deploy of uploaded code made."""

    id: str
    kind: str
    cached: bool
    seconds: float


class Artifact(Answer):
    digest: str
    size: int | None = None
    present: bool


class Build(Answer):
    id: str
    environment: str
    service: str
    artifact: str
    status: str
    kind: str
    cached: bool
    size: int
    started_at: float = pydantic.Field(alias="startedAt")
    seconds: float
    started_by: str = pydantic.Field(alias="startedBy")
    message: str


class BuildLog(Answer):
    id: str
    status: str
    log: str


class Latest(Answer):
    revision: int
    status: str
    message: str


class ServiceState(Answer):
    environment: str
    service: str
    revision: int
    latest: Latest
    observed_revision: int | None = pydantic.Field(alias="observedRevision")
    desired: int | None
    ready: int
    health: str
    message: str
    url: str


class Replica(Answer):
    id: str
    environment: str
    service: str
    revision: int
    pid: int
    port: int
    phase: str
    started_at: float
    reason: str
    limited: bool
    isolated: bool


class RolledBack(Answer):
    environment: str
    service: str
    revision: int
    url: str


class Scaled(Answer):
    environment: str
    service: str
    replicas: int


class Restarted(Answer):
    environment: str
    service: str
    generation: int


class Token(Answer):
    token: str
    team: str | None


class TokenListed(Answer):
    """A token as ``civic token list`` shows it: never its secret."""

    id: str
    team: str | None
    created: float


class Revoked(Answer):
    id: str
    team: str | None
    revoked: bool


class Recorded(Answer):
    recorded: int


class Passed(pydantic.BaseModel):
    """A document another server made (Alertmanager's alerts and silences), passed on whole."""

    model_config = pydantic.ConfigDict(extra="allow")


class AlertEvent(Answer):
    id: int
    received_at: float
    status: str
    alertname: str
    environment: str
    service: str
    team: str
    severity: str
    summary: str
    starts_at: str
    labels: dict[str, str]


class Silenced(Answer):
    id: str
    matchers: dict[str, str]


class Monitoring(Answer):
    monitoring: str
    reason: str | None = None
    prometheus: str | None = None
    alertmanager: str | None = None
    pushgateway: str | None = None
    retention: str | None = None


class SyncOff(Answer):
    """``civic up --sync-interval 0``: the estate is applied only at start."""

    sync: str = "off"


class EstateSync(Answer):
    """What the estate sync last did (:class:`civic.control.syncing.Status`)."""

    sync: str = "on"
    root: str
    interval: float
    revision: str | None
    applied_at: float | None = pydantic.Field(alias="appliedAt")
    summary: dict[str, int] | None
    checked_at: float | None = pydantic.Field(alias="checkedAt")
    seconds: float
    error: str


class Stopping(Answer):
    stopping: bool


def passed(items: list[dict[str, Any]]) -> list[Passed]:
    return [Passed.model_validate(item) for item in items]
