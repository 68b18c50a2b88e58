"""The control plane in one process, and the one place that assembles it.

``civic up`` calls :func:`boot` (check the machine, judge and apply the estate, make the
admin token) and then :class:`ControlPlane`, which constructs the backend (the only
place that does: nothing else reaches around :class:`civic.backends.base.Backend`),
the reconcilers, monitoring and the estate sync. :mod:`civic.api.serving` serves the API
around it.

Start-up order matters for static stability: adopt the replicas and HAProxy a previous
control plane left running, reconcile every environment once (so adopted replicas are
wanted, not retired), then supervise, keep the store in step with the estate's files
(:mod:`civic.control.syncing`: apply on merge) and serve the API. :meth:`ControlPlane.stop`
on ``civic down`` or Ctrl-C stops replicas cleanly; if the process is killed instead,
replicas and HAProxy keep serving.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime
import functools
import logging
import os
import secrets
from typing import Any

from civic import aiotasks, deadlines, policy, vcs
from civic.backends import base
from civic.control import applying, deploying, releasing, syncing
from civic.errors import CivicError, NotFound, PolicyDenied, UsageError
from civic.observability import exposition, stack
from civic.policy.definitions import PolicySet
from civic.reconcile import desired, loops, monitoring
from civic.spec import estate as estate_mod
from civic.spec import models
from civic.store import deployments
from civic.store import releases as release_records
from civic.store.crypto import SecretBox
from civic.store.state import StateStore

log = logging.getLogger("civic")


@dataclasses.dataclass(frozen=True)
class Settings:
    """How ``civic up`` runs; every field has the default ``civic up`` uses."""

    run_dir: str
    """Where the local backend keeps HAProxy's files, replica logs and monitoring."""
    port: int = 8080
    """HAProxy's frontend port: services are served here."""
    api_port: int = 7470
    """The API's port, on 127.0.0.1."""
    stats_port: int = 8404
    """HAProxy's stats and /metrics port."""
    grace: float = 10.0
    """Seconds a replica has to stop after SIGTERM."""
    monitoring: bool = True
    """Run Prometheus, Alertmanager and the Pushgateway."""
    monitoring_ports: stack.Ports = stack.Ports()
    metrics_retention: str = "15d"
    """How long Prometheus keeps samples."""
    estate_root: str | None = None
    """The estate repository to keep applying (apply on merge); None: only what was applied."""
    sync_interval: float = 2.0
    """Seconds between looks at the estate's files; 0 turns the sync off."""
    estate_revision: str | None = None
    """The git revision of the estate as applied at start."""
    backend: str = "local"
    """``local`` (processes and HAProxy on this machine) or ``kubernetes``."""
    cluster: models.Cluster | None = None
    """With ``backend="kubernetes"``: the cluster of civic.yaml to run on."""


def context(store: StateStore, box: SecretBox, *, policies: PolicySet | None = None) -> desired.Context:
    return desired.Context(store=store, records=deployments.Deployments(store), box=box, policies=policies)


def run_dir(estate_root: str) -> str:
    return os.path.join(estate_root, ".civic", "run")


def preflight(settings: Settings) -> None:
    """What ``civic up`` needs of the machine, checked before anything starts."""
    if settings.backend == "local":
        from civic.backends.local import haproxy, tenancy

        haproxy.require()
        reason = tenancy.why_not_isolated()
        if reason is not None:  # said once, at start; `civic status` marks each replica "not isolated"
            log.warning("replicas will not be isolated: %s.", reason)
    stack.check_retention(settings.metrics_retention)


@dataclasses.dataclass(frozen=True)
class Booted:
    """The estate applied at start, and the context the control plane runs on."""

    ctx: desired.Context
    applied_revision: int | None
    """The store's revision made by this start's apply; None when nothing changed."""
    estate_revision: str | None
    """The git revision of the estate as applied (None outside git)."""
    admin_token: str


def boot(
    loaded: estate_mod.Estate,
    store: StateStore,
    box: SecretBox,
    *,
    root: str,
    saved_token: str | None,
    today: datetime.date | None = None,
) -> Booted:
    """Judge the estate (a denial refuses to start), apply it, and make sure of an admin token
    (``saved_token`` is kept when the store still knows it)."""
    report = policy.check_estate(loaded, today=today or datetime.date.today())
    if report.denied:
        raise PolicyDenied(report.denial_message())
    revision = vcs.revision(root)
    done = applying.apply(loaded, store, revision=revision)
    ctx = context(store, box, policies=policy.policy_set(loaded))
    return Booted(ctx, done.revision_id, revision, _admin_token(ctx.records, saved_token))


def _admin_token(records: deployments.Deployments, saved: str | None) -> str:
    if saved is not None and records.token_team(saved) == (True, None):
        return saved
    token = "civic_" + secrets.token_urlsafe(32)
    records.add_token(token, team=None)
    return token


def make_backend(ctx: desired.Context, settings: Settings) -> base.Backend:
    """The one place a backend is constructed."""
    platform = desired.platform(ctx)
    if settings.backend == "kubernetes":
        from civic.backends.kubernetes import backend as kube_backend
        from civic.backends.kubernetes import client as kube_client

        if settings.cluster is None:
            raise UsageError("the Kubernetes backend needs a cluster named in civic.yaml.")
        api = kube_client.Client.from_kubeconfig(context=settings.cluster.context)
        return kube_backend.KubernetesBackend(settings.cluster, api, base_domain=platform.spec.base_domain)
    if settings.backend != "local":
        raise UsageError(f"there is no backend '{settings.backend}'; use 'local' or 'kubernetes'.")
    from civic.backends.local import backend as local_backend

    return local_backend.create(
        run_dir=settings.run_dir,
        records=ctx.records,
        port=settings.port,
        stats_port=settings.stats_port,
        base_domain=platform.spec.base_domain,
    )


def make_builder(settings: Settings) -> base.Builder | None:
    """What builds uploaded code into releases: the local runtime's builder; None on Kubernetes,
    which runs the images its teams' CI built."""
    if settings.backend != "local":
        return None
    from civic.backends.local import builds, tenancy

    return builds.Builder(tenancy.of(settings.run_dir))


def artifacts_dir(run_dir: str) -> str:
    """Where uploaded archives are kept: beside the run dir, in the estate's ``.civic`` folder."""
    return os.path.join(os.path.dirname(os.path.abspath(run_dir)), "artifacts")


class ControlPlane:
    """The API's one dependency: every use case, over one backend and the store."""

    def __init__(
        self,
        ctx: desired.Context,
        settings: Settings,
        *,
        backend: base.Backend | None = None,
        builder: base.Builder | None = None,
    ) -> None:
        self.ctx = ctx
        self.settings = settings
        self.backend = backend if backend is not None else make_backend(ctx, settings)
        self.builder = builder if builder is not None or backend is not None else make_builder(settings)
        self.artifacts = releasing.Artifacts(artifacts_dir(settings.run_dir))
        self.releases = release_records.Releases(ctx.store)
        self.releases.abandon_unfinished()
        self.reconciler = loops.Reconciler(
            ctx, self.backend, on_failed=functools.partial(deploying.fail_and_roll_back, ctx.records)
        )
        self.monitor = monitoring.Monitor(
            ctx,
            workdir=os.path.join(settings.run_dir, "monitoring"),
            ports=settings.monitoring_ports,
            api_port=settings.api_port,
            stats_port=settings.stats_port,
            replicas=self._ready_replicas,
            service_url=self.url,
            enabled=settings.monitoring,
            retention=settings.metrics_retention,
        )
        self.stopping = asyncio.Event()
        self.sync = (
            syncing.EstateSync(
                settings.estate_root, ctx.store, interval=settings.sync_interval, on_applied=self._estate_applied
            )
            if settings.estate_root and settings.sync_interval > 0
            else None
        )
        if self.sync is not None:
            self.sync.prime(settings.estate_revision)
        self._tasks: list[asyncio.Task[None]] = []
        self._loop: asyncio.AbstractEventLoop | None = None

    def __repr__(self) -> str:
        return f"ControlPlane(settings={self.settings!r}, backend={self.backend.name!r})"

    # --- life ------------------------------------------------------------------------

    async def start(self) -> int:
        """Adopt what runs, reconcile everything once, then start every loop; how many adopted."""
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

    def _estate_applied(self, touched: set[str], everything: bool, policies: PolicySet) -> None:
        """From the sync's thread: deploys are judged by the new policies; the environments
        the change touched are reconciled now (all of them when the platform or a team changed)."""
        self.ctx = dataclasses.replace(self.ctx, policies=policies)
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._reconcile_soon, touched, everything)

    def _reconcile_soon(self, touched: set[str], everything: bool) -> None:
        for environment in desired.environments(self.ctx) if everything else sorted(touched):
            self.reconciler.trigger(environment)

    def _ready_replicas(self) -> list[monitoring.Replica]:
        return [
            monitoring.Replica(r.environment, r.service, r.revision, r.id, r.port)
            for r in self.backend.replicas()
            if r.phase == "ready"
        ]

    # --- reading ---------------------------------------------------------------------

    def environment(self, name: str) -> models.Environment:
        spec = desired.environment_spec(self.ctx, name)
        if spec is None:
            raise NotFound(f"environment '{name}' has not been applied; add it to the estate and run 'civic apply'.")
        return spec

    def environment_or_none(self, name: str) -> models.Environment | None:
        return desired.environment_spec(self.ctx, name)

    def environments_of(self, team: str) -> set[str]:
        """The applied environments that ``team`` owns."""
        return {n for n, env in self.ctx.store.environments().items() if env.spec.team == team}

    def url(self, environment: str, service: str) -> str:
        return self.backend.url(environment, service)

    async def describe(self, environment: str, service: str) -> dict[str, Any]:
        records = self.ctx.records
        current = await asyncio.to_thread(records.current_of, environment, service)
        latest = (await asyncio.to_thread(records.revisions, environment, service))[0]
        observed = await self.backend.observe(environment)
        status = next((s for s in observed.services if s.name == service), None)
        return {
            "environment": environment,
            "service": service,
            "revision": current.revision,
            "latest": {"revision": latest.revision, "status": latest.status, "message": latest.message},
            "observedRevision": status.revision if status else None,
            "desired": status.desired if status else None,
            "ready": status.ready if status else 0,
            "health": status.health.value if status else "missing",
            "message": status.message if status else "",
            "url": self.url(environment, service),
        }

    def replicas(self, environment: str | None) -> list[dict[str, Any]]:
        return [dataclasses.asdict(r) for r in self.backend.replicas(environment)]

    async def exposition(self) -> str:
        """Civic's /metrics: every service as the backend observes it, and quota in use."""
        platform = await asyncio.to_thread(desired.platform, self.ctx)
        services, quotas = [], []
        for env in sorted({c.environment for c in await asyncio.to_thread(self.ctx.records.current, None)}):
            spec = await asyncio.to_thread(desired.environment_spec, self.ctx, env)
            if spec is None:
                continue
            observed = await self.backend.observe(env)
            team = spec.spec.team
            services += [
                exposition.ServiceSample(
                    env, team, s.name, s.desired, s.ready, s.health is base.Health.CRASH_LOOPING, s.revision
                )
                for s in observed.services
            ]
            quota, defaults = spec.spec.quota, platform.spec.defaults.quota
            limits = {
                "replicas": quota.replicas if quota.replicas is not None else defaults.replicas,
                "services": quota.services if quota.services is not None else defaults.services,
            }
            used = {"replicas": sum(s.desired for s in observed.services), "services": len(observed.services)}
            quotas += [exposition.QuotaSample(env, team, k, used[k], limits[k] or 0) for k in limits]
        return exposition.render(services, quotas)

    # --- acting ----------------------------------------------------------------------

    def deploy(
        self,
        environment: models.Environment,
        *,
        text: str,
        file: str,
        overrides: list[str],
        by: str,
        artifact: str | None = None,
        only_if_changed: bool = False,
    ) -> dict[str, Any]:
        """Check one deploy, build its uploaded code (if any), record it (the API's and ``civic up --deploy``'s)."""
        env = environment.metadata.name
        built: dict[str, Any] = {}
        if artifact is not None:
            releasing.check_digest(artifact)
            if self.builder is None:
                raise UsageError(
                    f"environment '{env}' runs on Kubernetes, which runs images: name the image your CI builds in "
                    "spec.image and deploy the spec alone ('civic deploy ENV -f civic.service.yaml'); "
                    "the local runtime is the one that builds uploaded code."
                )

        def build(service: models.Service) -> str:
            assert self.builder is not None and artifact is not None  # checked above
            build_id, result = releasing.build(
                self.builder, self.releases, self.artifacts, environment=env, service=service, artifact=artifact, by=by
            )
            built.update(id=build_id, kind=result.kind, cached=result.cached, seconds=round(result.seconds, 3))
            return build_id

        done = deploying.deploy(
            self.ctx,
            environment,
            text=text,
            file=file,
            overrides=overrides,
            by=by,
            only_if_changed=only_if_changed,
            artifact=artifact,
            build=build,
        )
        if done.changed:
            self.reconciler.trigger(done.environment)
            if built and self.builder is not None:
                self._prune(done.environment, done.service)
        return {
            "environment": done.environment,
            "service": done.service,
            "revision": done.revision,
            "url": self.url(done.environment, done.service),
            "warnings": list(done.warnings),
            "progressDeadlineSeconds": done.progress_deadline_seconds,
            "build": built or None,
        }

    def _prune(self, environment: str, service: str) -> None:
        assert self.builder is not None
        keep = desired.platform(self.ctx).spec.releases.keep
        try:
            removed = releasing.prune(
                self.builder,
                self.releases,
                self.ctx.records,
                self.artifacts,
                environment=environment,
                service=service,
                keep=keep,
            )
        except CivicError as e:  # retention is housekeeping: the deploy stands, the next one tries again
            log.warning("could not remove old releases of %s/%s: %s", environment, service, e)
            return
        if removed:
            log.info("removed %d old release(s) of %s/%s: %s", len(removed), environment, service, ", ".join(removed))

    def has_artifact(self, environment: str, digest: str) -> bool:
        releasing.check_digest(digest)
        return self.releases.has_artifact(digest, environment) and self.artifacts.exists(digest)

    def artifact_received(self, environment: str, digest: str, *, size: int, by: str) -> None:
        self.releases.add_artifact(digest, environment, size=size, by=by)

    def builds(self, environment: str, service: str) -> list[release_records.Build]:
        return self.releases.builds(environment, service)

    def build_of(self, build_id: str) -> release_records.Build:
        return self.releases.build(build_id)

    def build_log(self, build_id: str) -> str:
        return self.releases.build_log(build_id)

    def roll_back(self, environment: str, service: str, *, to: int | None) -> int:
        builder = self.builder
        kept = (lambda release: builder.has(environment, service, release)) if builder is not None else None
        target = deploying.roll_back(self.ctx.records, environment, service, to=to, kept=kept)
        self.reconciler.trigger(environment)
        return target

    def scale(self, environment: str, service: str, replicas: int) -> None:
        deploying.scale(self.ctx.records, environment, service, replicas)
        self.reconciler.trigger(environment)

    def restart(self, environment: str, service: str) -> int:
        generation = deploying.restart(self.ctx.records, environment, service)
        self.reconciler.trigger(environment)
        return generation

    def create_token(self, team: str | None) -> str:
        """A new token for ``team`` as it is now (NotFound if it is not applied), or an admin token."""
        value = "civic_" + secrets.token_urlsafe(32)
        self.ctx.records.add_token(value, team=team)
        return value

    def tokens(self) -> list[deployments.TokenInfo]:
        return self.ctx.records.tokens()

    def revoke_token(self, token_id: str, *, caller: str | None = None) -> deployments.TokenInfo:
        """Revoke the token ``token_id``; a UsageError if it is ``caller``'s own (the request's)."""
        if caller is not None and token_id == caller:
            raise UsageError(
                f"'{token_id}' is the token making this request; revoke it with another admin token "
                "(a new one comes from 'civic token create')."
            )
        return self.ctx.records.revoke_token(token_id)


@dataclasses.dataclass(frozen=True)
class StartupDeploy:
    """``civic up --deploy ENV=FILE``: a service to have running once Civic is up."""

    environment: str
    path: str


def startup_deploy(item: str) -> StartupDeploy:
    env, sep, path = item.partition("=")
    if not sep or not env or not path:
        raise UsageError(f"--deploy takes ENV=FILE, got '{item}'.")
    return StartupDeploy(env, path)


def _upload_folder(control: ControlPlane, item: StartupDeploy) -> str:
    """Pack the folder of a ``--deploy`` spec, as ``civic deploy`` would, into the artifacts; its digest."""
    from civic.releases import packing

    os.makedirs(control.artifacts.folder, mode=0o700, exist_ok=True)
    packed = packing.pack(os.path.dirname(os.path.abspath(item.path)), dest_dir=control.artifacts.folder)
    try:
        os.replace(packed.path, control.artifacts.path(packed.digest))
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(packed.path)
    control.artifact_received(item.environment, packed.digest, size=packed.size, by="civic up")
    return packed.digest


async def deploy_at_startup(control: ControlPlane, startup: list[StartupDeploy]) -> list[dict[str, Any]]:
    """Deploy each ``--deploy`` (unchanged specs record nothing), then wait up to 60 s for health."""
    done = []
    for item in startup:
        environment = desired.environment_spec(control.ctx, item.environment)
        if environment is None:
            raise UsageError(f"--deploy names environment '{item.environment}', which the estate does not have.")
        try:
            with open(item.path, encoding="utf-8") as f:
                text = f.read()
        except OSError as e:
            raise UsageError(f"--deploy: cannot read {item.path}: {e.strerror}.") from e
        artifact = None
        if control.builder is not None:
            artifact = await asyncio.to_thread(_upload_folder, control, item)
        done.append(
            await asyncio.to_thread(
                functools.partial(
                    control.deploy,
                    environment,
                    text=text,
                    file=item.path,
                    overrides=[],
                    by="civic up",
                    artifact=artifact,
                    only_if_changed=True,
                )
            )
        )

    async def healthy() -> bool:
        states = [await control.describe(d["environment"], d["service"]) for d in done]
        return all(s["health"] == "healthy" for s in states)

    if done:
        try:
            await deadlines.apoll(healthy, timeout=60, what="the --deploy services to be healthy")
        except deadlines.Timeout:
            pass  # Civic is up all the same; 'civic services' shows what is not healthy yet
    return done
