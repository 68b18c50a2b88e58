"""The control plane in one process: the API, the reconcilers and the local runtime.

``civic up`` calls :func:`run`. Start-up order matters for static stability: adopt the
replicas and HAProxy a previous control plane left running, reconcile every
environment once (so adopted replicas are wanted, not retired), then supervise, keep
the store in step with the estate's files (:mod:`civic.reconcile.syncing`: apply on
merge) and serve the API. :meth:`ControlPlane.stop` on ``civic down`` or Ctrl-C stops replicas
cleanly; if the process is killed instead, replicas and HAProxy keep serving.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import signal
from collections.abc import Callable

import uvicorn

from civic.api import app as app_mod
from civic.errors import UsageError
from civic.observability import exposition, stack
from civic.policy.definitions import PolicySet
from civic.reconcile import deploys, desired, loops, monitoring, syncing
from civic.runtime import aiotasks, local
from civic.spec import models
from civic.store import deployments

log = logging.getLogger("civic")


@dataclasses.dataclass(frozen=True)
class Settings:
    run_dir: str
    port: int = 8080
    api_port: int = 7470
    stats_port: int = 8404
    grace: float = 10.0
    monitoring: bool = True
    monitoring_ports: stack.Ports = stack.Ports()
    metrics_retention: str = "15d"
    estate_root: str | None = None
    """The estate repository to keep applying (apply on merge); None: only what was applied."""
    sync_interval: float = 2.0
    """Seconds between looks at the estate's files; 0 turns the sync off."""
    estate_revision: str | None = None
    """The git revision of the estate as applied at start."""


class _Server(uvicorn.Server):
    """uvicorn, minus its signal handling: the control plane owns SIGINT and SIGTERM."""

    @contextlib.contextmanager
    def capture_signals(self):  # noqa: ANN201 - uvicorn's hook
        yield

    def install_signal_handlers(self) -> None:  # older uvicorn
        pass


class ControlPlane:
    def __init__(self, ctx: desired.Context, settings: Settings) -> None:
        self.ctx = ctx
        self.settings = settings
        platform = desired.platform(ctx)
        self.backend = local.create(run_dir=settings.run_dir, records=ctx.records, port=settings.port,
                                    stats_port=settings.stats_port, base_domain=platform.spec.base_domain)
        self.reconciler = loops.Reconciler(ctx, self.backend)
        self.monitor = monitoring.Monitor(
            ctx, workdir=os.path.join(settings.run_dir, "monitoring"), ports=settings.monitoring_ports,
            api_port=settings.api_port, stats_port=settings.stats_port, replicas=self._ready_replicas,
            service_url=self.url, enabled=settings.monitoring, retention=settings.metrics_retention)
        self.stopping = asyncio.Event()
        self.sync = (syncing.EstateSync(settings.estate_root, ctx.store, interval=settings.sync_interval,
                                        on_applied=self._estate_applied)
                     if settings.estate_root and settings.sync_interval > 0 else None)
        if self.sync is not None:
            self.sync.prime(settings.estate_revision)
        self._tasks: list[asyncio.Task] = []
        self._loop: asyncio.AbstractEventLoop | None = None

    def _estate_applied(self, touched: set[str], everything: bool, policies: PolicySet) -> None:
        """From the sync's thread: deploys are judged by the new policies; the environments
        the change touched are reconciled now (all of them when the platform or a team changed)."""
        self.ctx = dataclasses.replace(self.ctx, policies=policies)
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._reconcile_soon, touched, everything)

    def _reconcile_soon(self, touched: set[str], everything: bool) -> None:
        for environment in (desired.environments(self.ctx) if everything else sorted(touched)):
            self.reconciler.trigger(environment)

    def _ready_replicas(self) -> list[monitoring.Replica]:
        return [monitoring.Replica(r.environment, r.service, r.revision, r.id, r.port)
                for r in self.backend.supervisor.replicas() if r.phase == "ready"]

    def __repr__(self) -> str:
        return f"ControlPlane(settings={self.settings!r})"

    def url(self, environment: str, service: str) -> str:
        return self.backend.supervisor.url(environment, service)

    async def describe(self, environment: str, service: str) -> dict:
        current = self.ctx.records.current_of(environment, service)
        latest = self.ctx.records.revisions(environment, service)[0]
        observed = await self.backend.observe(environment)
        status = next((s for s in observed.services if s.name == service), None)
        return {
            "environment": environment, "service": service, "revision": current.revision,
            "latest": {"revision": latest.revision, "status": latest.status, "message": latest.message},
            "observedRevision": status.revision if status else None,
            "desired": status.desired if status else None, "ready": status.ready if status else 0,
            "health": status.health.value if status else "missing",
            "message": status.message if status else "", "url": self.url(environment, service),
        }

    def deploy(self, environment: models.Environment, *, text: str, file: str, overrides: list[str],
               workdir: str | None, by: str, only_if_changed: bool = False) -> dict:
        """Check and record one deploy (the API's and ``civic up --deploy``'s)."""
        env = environment.metadata.name
        records = self.ctx.records
        service, doc = deploys.parse(text, file=file, overrides=overrides, workdir=workdir)
        name = service.metadata.name
        current = {c.service: c for c in records.current(env)}
        specs = {n: records.revision(env, n, c.revision).spec for n, c in current.items()}
        prepared = deploys.prepare(
            service, environment=environment, platform=desired.platform(self.ctx),
            others={n: models.Service.model_validate(s).spec for n, s in specs.items()},
            secret_names={s.name for s in self.ctx.store.list_secrets(env)}, doc=doc,
            replicas_override={n: c.replicas for n, c in current.items()}, policies=self.ctx.policies)
        if only_if_changed and specs.get(name) == service.canonical():
            number = current[name].revision
        else:
            number = records.add_revision(env, name, spec=service.canonical(), by=by)
            self.reconciler.trigger(env)
        return {"environment": env, "service": name, "revision": number, "url": self.url(env, name),
                "warnings": list(prepared.warnings),
                "progressDeadlineSeconds": service.spec.rollout.progress_deadline_seconds}

    async def exposition(self) -> str:
        """Civic's /metrics: every service as the backend observes it, and quota in use."""
        platform = desired.platform(self.ctx)
        services, quotas = [], []
        for env in sorted({c.environment for c in self.ctx.records.current(None)}):
            spec = desired.environment_spec(self.ctx, env)
            if spec is None:
                continue
            observed = await self.backend.observe(env)
            team = spec.spec.team
            services += [exposition.ServiceSample(env, team, s) for s in observed.services]
            quota, defaults = spec.spec.quota, platform.spec.defaults.quota
            limits = {"replicas": quota.replicas if quota.replicas is not None else defaults.replicas,
                      "services": quota.services if quota.services is not None else defaults.services}
            used = {"replicas": sum(s.desired for s in observed.services), "services": len(observed.services)}
            quotas += [exposition.QuotaSample(env, team, k, used[k], limits[k] or 0) for k in limits]
        return exposition.render(services, quotas)

    def replicas(self, environment: str | None) -> list[dict]:
        return [dataclasses.asdict(r) for r in self.backend.supervisor.replicas(environment)]

    async def start(self) -> int:
        adopted = await self.backend.adopt()
        await self.reconciler.reconcile_all()
        self.backend.start()
        self.reconciler.start()
        await self.monitor.start()
        self._loop = asyncio.get_running_loop()
        if self.sync is not None:
            self._tasks.append(aiotasks.guarded("estate sync", self.sync.run))
        return adopted

    async def stop(self, *, keep_running: bool = False) -> None:
        await aiotasks.cancel(self._tasks)
        await self.monitor.stop()
        await self.reconciler.aclose()
        if keep_running:
            await self.backend.aclose()
        else:
            await self.backend.stop_all()


@dataclasses.dataclass(frozen=True)
class StartupDeploy:
    """``civic up --deploy ENV=FILE``: a service to have running once Civic is up."""

    environment: str
    path: str


async def serve(control: ControlPlane, *, ready: Callable[[ControlPlane, int, list[dict]], None],
                startup: list[StartupDeploy] = ()) -> None:
    """Run until ``control.stopping`` is set (signal or ``civic down``), then stop replicas."""
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, control.stopping.set)
    config = uvicorn.Config(app_mod.create(control), host="127.0.0.1", port=control.settings.api_port,
                            log_level="warning", lifespan="off")
    server = _Server(config)
    adopted = await control.start()
    api = asyncio.create_task(server.serve(), name="api")
    while not server.started and not api.done():
        await asyncio.sleep(0.02)
    if api.done():
        await control.stop(keep_running=True)
        raise UsageError(f"the API cannot listen on 127.0.0.1:{control.settings.api_port} (is another "
                         "'civic up' running?); choose another port with --api-port.")
    try:
        deployed = await _deploy_at_startup(control, startup)
    except BaseException:
        server.should_exit = True
        await control.stop()
        await api
        raise
    ready(control, adopted, deployed)
    await control.stopping.wait()
    server.should_exit = True
    await control.stop()
    await api


async def _deploy_at_startup(control: ControlPlane, startup: list[StartupDeploy]) -> list[dict]:
    done = []
    for item in startup:
        environment = desired.environment_spec(control.ctx, item.environment)
        if environment is None:
            raise UsageError(f"--deploy names environment '{item.environment}', which the estate "
                             "does not have.")
        try:
            with open(item.path, encoding="utf-8") as f:
                text = f.read()
        except OSError as e:
            raise UsageError(f"--deploy: cannot read {item.path}: {e.strerror}.") from e
        done.append(control.deploy(environment, text=text, file=item.path, overrides=[],
                                   workdir=os.path.dirname(os.path.abspath(item.path)), by="civic up",
                                   only_if_changed=True))
    deadline = asyncio.get_running_loop().time() + 60
    while done and asyncio.get_running_loop().time() < deadline:
        states = [await control.describe(d["environment"], d["service"]) for d in done]
        if all(s["health"] == "healthy" for s in states):
            break
        await asyncio.sleep(0.1)
    return done


def context(store, box, *, policies=None) -> desired.Context:  # noqa: ANN001
    return desired.Context(store=store, records=deployments.Deployments(store), box=box, policies=policies)


def run_dir(estate_root: str) -> str:
    return os.path.join(estate_root, ".civic", "run")
