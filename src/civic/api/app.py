"""The HTTP API's routes: deploy, roll back, scale, restart, list, status, tokens, shut down.

:func:`create` builds the FastAPI app around a :class:`~civic.control.plane.ControlPlane`;
the CLI reaches it through :mod:`civic.client`. Routes are thin: they check who is
asking, call the control plane, and answer with a model of :mod:`civic.api.models`.
Every request carries a bearer token (``Authorization: Bearer <token>``, RFC 6750; any
other form is a 401 with a ``WWW-Authenticate: Bearer`` challenge): the admin token (made
by the first ``civic up``) may do anything, including listing and revoking tokens; a team
token (``civic token create --team T``) may act on that team's environments only, and
dies with its team. Errors are Civic's own, mapped to statuses by :mod:`civic.api.problems`.

Work that reads the database or evaluates policy runs in a worker thread
(``asyncio.to_thread``), so that it never stalls the event loop that also drives
supervision and health checks.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import re
import secrets
from typing import TYPE_CHECKING

import fastapi
import pydantic
from fastapi import responses

from civic.api import models as answers
from civic.api import problems
from civic.control import releasing
from civic.errors import CivicError, Forbidden, Unauthorized, UsageError
from civic.observability import alertmanager
from civic.spec import models
from civic.store import alerts as alerts_store

if TYPE_CHECKING:
    from civic.control.plane import ControlPlane


_BEARER = re.compile(r"bearer +([A-Za-z0-9\-._~+/]+=*) *", re.IGNORECASE)
"""RFC 6750's ``credentials = "Bearer" 1*SP b64token``; the scheme's case does not matter."""
CHALLENGE = {"WWW-Authenticate": 'Bearer realm="civic"'}


def bearer_token(authorization: str) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header; None for anything else."""
    found = _BEARER.fullmatch(authorization)
    return found.group(1) if found else None


@dataclasses.dataclass(frozen=True)
class Principal:
    team: str | None  # None: admin
    token_id: str = ""

    def may(self, team: str) -> bool:
        return self.team is None or self.team == team


class DeployBody(pydantic.BaseModel):
    file: str = pydantic.Field(max_length=1000)
    text: str
    set: list[str] = pydantic.Field([], max_length=200)
    artifact: str | None = pydantic.Field(None, description="The uploaded code it runs: 'sha256:<hex>'.")


class RollbackBody(pydantic.BaseModel):
    to: int | None = None


class ScaleBody(pydantic.BaseModel):
    replicas: int = pydantic.Field(ge=0)


class TokenBody(pydantic.BaseModel):
    team: str | None = None


class SilenceBody(pydantic.BaseModel):
    environment: str
    service: str | None = None
    hours: float = pydantic.Field(gt=0, le=24 * 30)
    reason: str = pydantic.Field(min_length=1)


def create(control: ControlPlane) -> fastapi.FastAPI:
    app = fastapi.FastAPI(title="Civic", docs_url=None, redoc_url=None, openapi_url=None)
    run = asyncio.to_thread

    @app.exception_handler(CivicError)
    async def civic_error(_request: fastapi.Request, e: CivicError) -> responses.JSONResponse:
        status = problems.status_of(e)
        return responses.JSONResponse(
            problems.body_of(e), status_code=status, headers=CHALLENGE if status == 401 else None
        )

    async def principal(authorization: str = fastapi.Header("")) -> Principal:
        token = bearer_token(authorization)
        if token is None:
            raise Unauthorized(
                "send the token as 'Authorization: Bearer <token>'; 'civic up' saves the admin token "
                "where the CLI finds it, and 'civic token create' makes more."
            )
        found = await run(control.ctx.records.token, token)
        if found is None:
            raise Unauthorized(
                "this token is not valid (unknown, revoked, or its team was deleted); send a valid one as "
                "'Authorization: Bearer <token>'. 'civic up' saves the admin token where the CLI finds it."
            )
        return Principal(found.team, found.id)

    def admin(who: Principal = fastapi.Depends(principal)) -> Principal:
        if who.team is not None:
            raise Forbidden(f"this token acts for team '{who.team}' only; this needs the admin token.")
        return who

    async def environment_for(env: str, who: Principal) -> models.Environment:
        spec = await run(control.environment, env)
        if not who.may(spec.spec.team):
            raise Forbidden(
                f"this token acts for team '{who.team}'; environment '{env}' belongs to team '{spec.spec.team}'."
            )
        return spec

    caller = fastapi.Depends(principal)

    @app.get("/v1/health")
    async def health() -> answers.Health:
        return answers.Health(ok=True)

    @app.post("/v1/environments/{env}/services")
    async def deploy(env: str, body: DeployBody, who: Principal = caller) -> answers.Deployed:
        environment = await environment_for(env, who)
        done = await run(
            lambda: control.deploy(
                environment,
                text=body.text,
                file=body.file,
                overrides=body.set,
                by=who.team or "admin",
                artifact=body.artifact,
            )
        )
        return answers.Deployed.model_validate(done)

    @app.get("/v1/environments/{env}/artifacts/{digest}")
    async def artifact(env: str, digest: str, who: Principal = caller) -> answers.Artifact:
        """Whether ``env`` has this archive already: a client uploads only what is missing."""
        await environment_for(env, who)
        return answers.Artifact(digest=digest, present=await run(control.has_artifact, env, digest))

    @app.put("/v1/environments/{env}/artifacts/{digest}")
    async def upload(env: str, digest: str, request: fastapi.Request, who: Principal = caller) -> answers.Artifact:
        """The archive of a service's folder, as its raw bytes; kept only if they match ``digest``."""
        await environment_for(env, who)
        length = request.headers.get("content-length", "")
        if length.isdigit() and int(length) > releasing.MAX_ARCHIVE:
            raise UsageError(
                f"the archive is larger than {releasing.MAX_ARCHIVE >> 20} MiB; leave out what the service does "
                "not need to run (a .civicignore file, as .gitignore)."
            )
        async with control.artifacts.receiving(digest) as upload:
            async for chunk in request.stream():
                upload.write(chunk)  # hashing and writing a chunk of a few KiB: too short to leave the loop for
        await run(lambda: control.artifact_received(env, digest, size=upload.size, by=who.team or "admin"))
        return answers.Artifact(digest=digest, size=upload.size, present=True)

    @app.get("/v1/environments/{env}/services/{name}/builds")
    async def builds(env: str, name: str, who: Principal = caller) -> list[answers.Build]:
        await environment_for(env, who)
        return [answers.Build.model_validate(dataclasses.asdict(b)) for b in await run(control.builds, env, name)]

    @app.get("/v1/builds/{build_id}")
    async def build_log(build_id: str, who: Principal = caller) -> answers.BuildLog:
        found = await run(control.build_of, build_id)
        await environment_for(found.environment, who)
        return answers.BuildLog(id=found.id, status=found.status, log=await run(control.build_log, build_id))

    @app.get("/v1/environments/{env}/services/{name}")
    async def service(env: str, name: str, who: Principal = caller) -> answers.ServiceState:
        await environment_for(env, who)
        return answers.ServiceState.model_validate(await control.describe(env, name))

    @app.get("/v1/services")
    async def services(environment: str | None = None, who: Principal = caller) -> list[answers.ServiceState]:
        if environment is not None:
            await environment_for(environment, who)  # another team's, or none: refused, as everywhere
        out = []
        for current in await run(control.ctx.records.current, environment):
            spec = await run(control.environment_or_none, current.environment)
            if spec is not None and who.may(spec.spec.team):
                out.append(
                    answers.ServiceState.model_validate(await control.describe(current.environment, current.service))
                )
        return out

    @app.get("/v1/replicas")
    async def replicas(environment: str | None = None, who: Principal = caller) -> list[answers.Replica]:
        if environment is not None:
            await environment_for(environment, who)
        elif who.team is not None:
            raise UsageError("a team token must name an environment.")
        return [answers.Replica.model_validate(r) for r in control.replicas(environment)]

    @app.post("/v1/environments/{env}/services/{name}/rollback")
    async def rollback(env: str, name: str, body: RollbackBody, who: Principal = caller) -> answers.RolledBack:
        await environment_for(env, who)
        target = await run(lambda: control.roll_back(env, name, to=body.to))
        return answers.RolledBack(environment=env, service=name, revision=target, url=control.url(env, name))

    @app.post("/v1/environments/{env}/services/{name}/scale")
    async def scale(env: str, name: str, body: ScaleBody, who: Principal = caller) -> answers.Scaled:
        await environment_for(env, who)
        await run(control.scale, env, name, body.replicas)
        return answers.Scaled(environment=env, service=name, replicas=body.replicas)

    @app.post("/v1/environments/{env}/services/{name}/restart")
    async def restart(env: str, name: str, who: Principal = caller) -> answers.Restarted:
        await environment_for(env, who)
        generation = await run(control.restart, env, name)
        return answers.Restarted(environment=env, service=name, generation=generation)

    @app.post("/v1/tokens")
    async def token(body: TokenBody, _who: Principal = fastapi.Depends(admin)) -> answers.Token:
        return answers.Token(token=await run(control.create_token, body.team), team=body.team)

    @app.get("/v1/tokens")
    async def tokens(_who: Principal = fastapi.Depends(admin)) -> list[answers.TokenListed]:
        return [answers.TokenListed(id=t.id, team=t.team, created=t.created_at) for t in await run(control.tokens)]

    @app.delete("/v1/tokens/{token_id}")
    async def revoke_token(token_id: str, who: Principal = fastapi.Depends(admin)) -> answers.Revoked:
        gone = await run(lambda: control.revoke_token(token_id, caller=who.token_id))
        return answers.Revoked(id=gone.id, team=gone.team, revoked=True)

    @app.get("/metrics", response_class=responses.PlainTextResponse)
    async def metrics() -> str:
        """Civic's own metrics, for the Prometheus it runs (no secrets: no token needed)."""
        return await control.exposition()

    @app.post("/v1/alerts/webhook")
    async def alert_webhook(request: fastapi.Request, authorization: str = fastapi.Header("")) -> answers.Recorded:
        token = bearer_token(authorization) or ""
        expected = control.monitor.webhook_token
        if not expected or not secrets.compare_digest(token, expected):
            raise Unauthorized("only Civic's Alertmanager posts here.")
        payload = await request.json()
        return answers.Recorded(recorded=await run(alerts_store.record, control.ctx.store, payload))

    @app.post("/v1/alerts/relay/{team}/{channel}", status_code=204)
    async def alert_relay(
        team: str, channel: str, request: fastapi.Request, authorization: str = fastapi.Header("")
    ) -> None:
        """A team's plain webhook, through Civic: Alertmanager 0.25 would show its URL (observability/relay.py)."""
        control.monitor.check_webhook_token(bearer_token(authorization))
        await run(control.monitor.relay, team, channel, await request.body())

    def team_filter(team: str | None, who: Principal) -> str | None:
        if who.team is not None and team not in (None, who.team):
            raise Forbidden(f"this token acts for team '{who.team}' only.")
        return team or who.team

    @app.get("/v1/alerts")
    async def firing(team: str | None = None, who: Principal = caller) -> list[answers.Passed]:
        allowed = team_filter(team, who)  # who may ask, before whether monitoring is on
        with _alertmanager(control) as am:
            return answers.passed(await run(am.alerts, team=allowed))

    @app.get("/v1/alerts/history")
    async def alert_history(team: str | None = None, who: Principal = caller) -> list[answers.AlertEvent]:
        rows = await run(alerts_store.history, control.ctx.store, team=team_filter(team, who))
        return [answers.AlertEvent.model_validate(r) for r in rows]

    @app.post("/v1/silences")
    async def silence(body: SilenceBody, who: Principal = caller) -> answers.Silenced:
        await environment_for(body.environment, who)
        matchers = {"environment": body.environment} | ({"service": body.service} if body.service else {})
        with _alertmanager(control) as am:
            silence_id = await run(
                am.silence,
                matchers=matchers,
                duration=datetime.timedelta(hours=body.hours),
                reason=body.reason,
                author=who.team or "admin",
            )
        return answers.Silenced(id=silence_id, matchers=matchers)

    @app.get("/v1/silences")
    async def silences(who: Principal = caller) -> list[answers.Passed]:
        with _alertmanager(control) as am:
            found = await run(am.silences)
        if who.team is not None:
            mine = await run(control.environments_of, who.team)
            found = [s for s in found if any(m["name"] == "environment" and m["value"] in mine for m in s["matchers"])]
        return answers.passed(found)

    @app.get("/v1/monitoring", response_model_exclude_none=True)
    async def monitoring_state(_who: Principal = caller) -> answers.Monitoring:
        return answers.Monitoring.model_validate(control.monitor.describe())

    @app.get("/v1/estate")
    async def estate(_who: Principal = fastapi.Depends(admin)) -> answers.EstateSync | answers.SyncOff:
        if control.sync is None:
            return answers.SyncOff()
        return answers.EstateSync.model_validate(control.sync.status.as_dict())

    @app.post("/v1/shutdown")
    async def shutdown(_who: Principal = fastapi.Depends(admin)) -> answers.Stopping:
        asyncio.get_running_loop().call_later(0.05, control.stopping.set)
        return answers.Stopping(stopping=True)

    return app


def _alertmanager(control: ControlPlane) -> alertmanager.Alertmanager:
    if not control.monitor.on:
        raise UsageError(f"monitoring is off: {control.monitor.off_reason}.")
    return control.monitor.stack.alertmanager()
