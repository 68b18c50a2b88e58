"""The HTTP API: deploy, roll back, scale, restart, list, status, tokens, shut down.

:func:`create` builds the FastAPI app around a :class:`~civic.api.server.ControlPlane`;
the CLI reaches it through :mod:`civic.client`. Every request carries a bearer token:
the admin token (made by the first ``civic up``) may do anything; a team token (``civic
token create --team T``) may act on that team's environments only and gets 403
elsewhere. Errors are Civic's own, mapped to statuses by :mod:`civic.api.problems`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import secrets
from typing import TYPE_CHECKING, Any

import fastapi
import pydantic
from fastapi import responses

from civic.api import problems
from civic.errors import CivicError, NotFound, UsageError
from civic.observability import alertmanager
from civic.reconcile import desired
from civic.spec import models
from civic.store import alerts as alerts_store

if TYPE_CHECKING:
    from civic.api.server import ControlPlane


@dataclasses.dataclass(frozen=True)
class Principal:
    team: str | None  # None: admin

    def may(self, team: str) -> bool:
        return self.team is None or self.team == team


class DeployBody(pydantic.BaseModel):
    file: str
    text: str
    set: list[str] = []
    workdir: str | None = None


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
    ctx = control.ctx

    @app.exception_handler(CivicError)
    async def civic_error(_request: fastapi.Request, e: CivicError) -> responses.JSONResponse:
        return responses.JSONResponse(problems.body_of(e), status_code=problems.status_of(e))

    def principal(authorization: str = fastapi.Header("")) -> Principal:
        token = authorization.removeprefix("Bearer ").strip()
        known, team = ctx.records.token_team(token) if token else (False, None)
        if not known:
            raise fastapi.HTTPException(401, "a valid bearer token is needed; 'civic up' saves the "
                                             "admin token where the CLI finds it.")
        return Principal(team)

    def admin(who: Principal = fastapi.Depends(principal)) -> Principal:
        if who.team is not None:
            raise fastapi.HTTPException(403, f"this token acts for team '{who.team}' only; this "
                                             "needs the admin token.")
        return who

    def environment_for(env: str, who: Principal) -> models.Environment:
        spec = desired.environment_spec(ctx, env)
        if spec is None:
            raise NotFound(f"environment '{env}' has not been applied; add it to the estate and "
                           "run 'civic apply'.")
        if not who.may(spec.spec.team):
            raise fastapi.HTTPException(403, f"this token acts for team '{who.team}'; environment "
                                             f"'{env}' belongs to team '{spec.spec.team}'.")
        return spec

    @app.get("/v1/health")
    async def health() -> dict[str, Any]:
        return {"ok": True}

    @app.post("/v1/environments/{env}/services")
    async def deploy(env: str, body: DeployBody, who: Principal = fastapi.Depends(principal)) -> dict:
        environment = environment_for(env, who)
        return control.deploy(environment, text=body.text, file=body.file, overrides=body.set,
                              workdir=body.workdir, by=who.team or "admin")

    @app.get("/v1/environments/{env}/services/{name}")
    async def service(env: str, name: str, who: Principal = fastapi.Depends(principal)) -> dict:
        environment_for(env, who)
        return await control.describe(env, name)

    @app.get("/v1/services")
    async def services(environment: str | None = None, who: Principal = fastapi.Depends(principal)) -> list:
        out = []
        for current in ctx.records.current(environment):
            spec = desired.environment_spec(ctx, current.environment)
            if spec is not None and who.may(spec.spec.team):
                out.append(await control.describe(current.environment, current.service))
        return out

    @app.get("/v1/replicas")
    async def replicas(environment: str | None = None, who: Principal = fastapi.Depends(principal)) -> list:
        if environment is not None:
            environment_for(environment, who)
        elif who.team is not None:
            raise UsageError("a team token must name an environment.")
        return control.replicas(environment)

    @app.post("/v1/environments/{env}/services/{name}/rollback")
    async def rollback(env: str, name: str, body: RollbackBody,
                       who: Principal = fastapi.Depends(principal)) -> dict:
        environment_for(env, who)
        current = ctx.records.current_of(env, name)
        if body.to is None:
            earlier = [r for r in ctx.records.revisions(env, name)
                       if r.revision < current.revision and r.status != "failed"]
            if not earlier:
                raise NotFound(f"service '{name}' of '{env}' has no earlier revision to roll back to.")
            target = earlier[0].revision
        else:
            target = body.to
        ctx.records.set_current(env, name, revision=target)
        control.reconciler.trigger(env)
        return {"environment": env, "service": name, "revision": target, "url": control.url(env, name)}

    @app.post("/v1/environments/{env}/services/{name}/scale")
    async def scale(env: str, name: str, body: ScaleBody, who: Principal = fastapi.Depends(principal)) -> dict:
        environment_for(env, who)
        current = ctx.records.current_of(env, name)
        spec = models.Service.model_validate(ctx.records.revision(env, name, current.revision).spec).spec
        if spec.autoscaling is not None:
            raise UsageError(f"service '{name}' autoscales between {spec.autoscaling.min} and "
                             f"{spec.autoscaling.max} replicas; change spec.autoscaling and deploy "
                             "instead of scaling it by hand.")
        ctx.records.set_replicas(env, name, body.replicas)
        control.reconciler.trigger(env)
        return {"environment": env, "service": name, "replicas": body.replicas}

    @app.post("/v1/environments/{env}/services/{name}/restart")
    async def restart(env: str, name: str, who: Principal = fastapi.Depends(principal)) -> dict:
        environment_for(env, who)
        generation = ctx.records.bump_generation(env, name)
        control.reconciler.trigger(env)
        return {"environment": env, "service": name, "generation": generation}

    @app.post("/v1/tokens")
    async def token(body: TokenBody, _who: Principal = fastapi.Depends(admin)) -> dict:
        if body.team is not None and ("Team", body.team) not in ctx.store.all_specs("Team"):
            raise NotFound(f"team '{body.team}' is not in the applied estate; 'civic validate' "
                           "lists the teams.")
        value = "civic_" + secrets.token_urlsafe(32)
        ctx.records.add_token(value, team=body.team)
        return {"token": value, "team": body.team}

    @app.get("/metrics", response_class=responses.PlainTextResponse)
    async def metrics() -> str:
        """Civic's own metrics, for the Prometheus it runs (no secrets: no token needed)."""
        return await control.exposition()

    @app.post("/v1/alerts/webhook")
    async def alert_webhook(request: fastapi.Request, authorization: str = fastapi.Header("")) -> dict:
        token = authorization.removeprefix("Bearer ").strip()
        if not control.monitor.webhook_token or not secrets.compare_digest(token, control.monitor.webhook_token):
            raise fastapi.HTTPException(401, "only Civic's Alertmanager posts here.")
        return {"recorded": alerts_store.record(ctx.store, await request.json())}

    def team_filter(team: str | None, who: Principal) -> str | None:
        if who.team is not None and team not in (None, who.team):
            raise fastapi.HTTPException(403, f"this token acts for team '{who.team}' only.")
        return team or who.team

    @app.get("/v1/alerts")
    async def firing(team: str | None = None, who: Principal = fastapi.Depends(principal)) -> list:
        am = _alertmanager(control)
        try:
            return await asyncio.to_thread(am.alerts, team=team_filter(team, who))
        finally:
            am.close()

    @app.get("/v1/alerts/history")
    async def alert_history(team: str | None = None, who: Principal = fastapi.Depends(principal)) -> list:
        return alerts_store.history(ctx.store, team=team_filter(team, who))

    @app.post("/v1/silences")
    async def silence(body: SilenceBody, who: Principal = fastapi.Depends(principal)) -> dict:
        environment_for(body.environment, who)
        matchers = {"environment": body.environment} | ({"service": body.service} if body.service else {})
        am = _alertmanager(control)
        try:
            silence_id = await asyncio.to_thread(
                am.silence, matchers=matchers, duration=datetime.timedelta(hours=body.hours),
                reason=body.reason, author=who.team or "admin")
        finally:
            am.close()
        return {"id": silence_id, "matchers": matchers}

    @app.get("/v1/silences")
    async def silences(who: Principal = fastapi.Depends(principal)) -> list:
        am = _alertmanager(control)
        try:
            found = await asyncio.to_thread(am.silences)
        finally:
            am.close()
        if who.team is None:
            return found
        mine = {n for (_, n), s in ctx.store.all_specs("Environment").items() if s["spec"]["team"] == who.team}
        return [s for s in found if any(m["name"] == "environment" and m["value"] in mine for m in s["matchers"])]

    @app.get("/v1/monitoring")
    async def monitoring_state(_who: Principal = fastapi.Depends(principal)) -> dict:
        return control.monitor.describe()

    @app.get("/v1/estate")
    async def estate(_who: Principal = fastapi.Depends(admin)) -> dict:
        if control.sync is None:
            return {"sync": "off"}
        return {"sync": "on", **control.sync.status.as_dict()}

    @app.post("/v1/shutdown")
    async def shutdown(_who: Principal = fastapi.Depends(admin)) -> dict:
        asyncio.get_running_loop().call_later(0.05, control.stopping.set)
        return {"stopping": True}

    return app


def _alertmanager(control: ControlPlane) -> alertmanager.Alertmanager:
    if not control.monitor.on:
        raise UsageError(f"monitoring is off: {control.monitor.off_reason}.")
    return alertmanager.Alertmanager(control.monitor.stack.alertmanager_url)
