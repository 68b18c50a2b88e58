"""The supervisor: keeps each service's replicas running, healthy, routed and scaled.

The local backend hands it the desired revision of every service
(:meth:`Supervisor.set_environment`); its loop (:meth:`Supervisor.tick`, ten times a
second) converges, level-based, on what it is given:

- a replica that exits, or fails its liveness check, is replaced; restarts back off
  exponentially (0, 0.5, 1, 2 ... 30 s; a replica that had been ready for 10 s resets
  the count), and three crashes in a minute without the service being ready is
  *crash-looping*;
- readiness gates traffic: a replica joins its service's HAProxy backend only once
  ready, and leaves it while not;
- a new revision (or a restart) rolls: a new replica must be ready before an old one
  is drained (no new requests; the in-flight ones finish), then stopped (SIGTERM,
  SIGKILL after the grace period). A revision that is not ready within its progress
  deadline is marked failed with the reason, and its replicas are stopped; the old
  ones never left. One whose replicas exit before any of them is ready is failed
  sooner, after :data:`START_FAILURES` such starts in a row, with the exit code and the
  last lines of the output: waiting out the deadline would not help;
- autoscaled services get their count from :mod:`civic.backends.local.autoscaling`;
- one service's failure is its own: each service's step of a tick (reap, probe, scale,
  roll, check progress) runs on its own, so an exception in one (an environment the
  operating system refuses, a bug) is logged with the service named and shown in its
  status, and every other service's step still runs in the same tick. The failing
  step is tried again with back-off; after :data:`STEP_FAILURES` in a row the revision
  is failed, so the reconciler rolls it back.

Which replica sits in which HAProxy server slot is kept by a
:class:`~civic.backends.local.slots.Router`; the supervisor tells it when a replica
becomes ready, falls unready, stops or exits. Replicas are recorded (pid, process start
time, port, slot) through the :class:`~civic.backends.base.ReplicaRecords` it is given,
so a restarted control plane adopts them (:meth:`Supervisor.adopt`, with
:mod:`civic.backends.local.adoption`).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import signal
import time

from civic import aiotasks
from civic.backends import base
from civic.backends.local import adoption, autoscaling, haproxy, health, limits, processes, slots
from civic.backends.local import replicas as replicas_mod
from civic.backends.local.replicas import Replica
from civic.spec import models
from civic.store.deployments import ReplicaRecord

log = logging.getLogger("civic.backends.local")

TICK = 0.1
CRASH_WINDOW = 60.0
MAX_BACKOFF = 30.0
STABLE = 10.0  # a replica that was ready this long before it died was not crash-looping
START_FAILURES = 3
"""Starts of a new revision that failed in a row (its replica exited, or could not be
spawned), none of its replicas ever ready, after which the revision is failed at once
rather than at its progress deadline. Only while an older revision still serves: with
nothing to fall back to, the service keeps trying with back-off (crash-looping)."""
STEP_FAILURES = 3
"""Ticks in a row in which supervising one service raised, after which its revision is failed."""
OUTPUT_LINES = 5
"""How many of a failed replica's last lines of output its revision's failure quotes."""


@dataclasses.dataclass(eq=False)
class Unit:
    """One service in one environment: what it should run and the replicas it has."""

    environment: str
    service: str
    pool: slots.Pool  # its HAProxy backend: routes and server slots
    desired: base.ServiceRevision | None = None
    generation: int = 0
    replicas: list[Replica] = dataclasses.field(default_factory=list)
    crashes: list[float] = dataclasses.field(default_factory=list)
    restart_after: float = 0.0
    target_since: float = 0.0  # when the current target revision was set
    failed_revision: int | None = None
    failure: str = ""
    last_problem: str = ""
    autoscaled: int | None = None
    stabiliser: autoscaling.Stabiliser | None = None
    requests: tuple[float, int] | None = None  # (monotonic, req_tot) at the last sample
    removing: bool = False
    start_failures: int = 0  # failed starts of the target in a row (reset when it changes)
    start_failure: str = ""  # how the last one failed: exit code and last lines of output
    started_ok: bool = False  # a replica of the target has been ready
    faults: int = 0  # ticks in a row in which supervising this service raised
    retry_at: float = 0.0  # monotonic: after a fault, its step waits until then

    @property
    def backend(self) -> str:
        return f"{self.service}.{self.environment}"

    @property
    def wanted(self) -> int:
        if self.desired is None or self.removing:
            return 0
        if self.desired.spec.autoscaling is not None and self.autoscaled is not None:
            return self.autoscaled
        if self.desired.replicas is not None:
            return self.desired.replicas
        return self.desired.spec.replicas

    def is_current(self, replica: Replica) -> bool:
        return (
            self.desired is not None
            and replica.revision == self.desired.revision
            and replica.generation == self.generation
        )

    def crash_looping(self, now: float) -> bool:
        recent = [t for t in self.crashes if t > now - CRASH_WINDOW]
        ready = sum(1 for r in self.replicas if r.phase == "ready" and self.is_current(r))
        return len(recent) >= 3 and ready < self.wanted


class Supervisor:
    def __init__(
        self,
        *,
        run_dir: str,
        dataplane: haproxy.DataPlane,
        records: base.ReplicaRecords,
        base_domain: str = "localhost",
        limiter: limits.Limiter | None = None,
    ) -> None:
        self.run_dir = run_dir
        self.limiter = limiter
        self.dataplane = dataplane
        self.router = slots.Router(dataplane)
        self.records = records
        self.base_domain = base_domain
        self.units: dict[tuple[str, str], Unit] = {}
        self.background: set[asyncio.Task] = set()
        self.stats: dict[tuple[str, str], dict[str, str]] = {}
        self._stats_at = 0.0

    def __repr__(self) -> str:
        return f"Supervisor(run_dir={self.run_dir!r}, units={len(self.units)})"

    # --- what should run --------------------------------------------------------------

    def set_environment(self, desired: base.DesiredEnvironment) -> None:
        """Level-based: the whole of one environment; services not named are removed."""
        wanted = {s.name: s for s in desired.services} if desired.environment is not None else {}
        for (env, name), unit in self.units.items():
            if env == desired.name and name not in wanted:
                unit.removing = True
        for name, revision in wanted.items():
            self._retarget(self._unit(desired.name, name), revision)

    def _unit(self, environment: str, service: str) -> Unit:
        key = (environment, service)
        if key not in self.units:
            self.units[key] = Unit(environment, service, self.router.pool(f"{service}.{environment}"))
        return self.units[key]

    def _retarget(self, unit: Unit, revision: base.ServiceRevision) -> None:
        generation = revision.generation
        changed = unit.desired is None or unit.desired.revision != revision.revision or unit.generation != generation
        if changed:
            unit.target_since = time.monotonic()
            unit.start_failures, unit.start_failure, unit.started_ok = 0, "", False
            unit.retry_at = 0.0
            if unit.desired is not None and unit.desired.revision != revision.revision:
                unit.crashes.clear()
                unit.restart_after = 0.0
        unit.desired, unit.generation, unit.removing = revision, generation, False
        unit.pool.routes = self.routes(revision)
        scaling = revision.spec.autoscaling
        if scaling is None:
            unit.stabiliser, unit.autoscaled = None, None
        elif unit.stabiliser is None or unit.stabiliser.window != scaling.stabilization_seconds:
            unit.stabiliser = autoscaling.Stabiliser(scaling.stabilization_seconds)
            unit.autoscaled = unit.autoscaled if unit.autoscaled is not None else scaling.min

    def host(self, environment: str, service: str) -> str:
        return f"{service}.{environment}.{self.base_domain}"

    def url(self, environment: str, service: str) -> str:
        return f"http://{self.host(environment, service)}:{self.dataplane.settings.port}/"

    def routes(self, revision: base.ServiceRevision) -> tuple[str, ...]:
        default = self.host(revision.environment, revision.name)
        keys = {default + "/"}
        for route in revision.spec.routes:
            keys.add((route.host or default) + route.path_prefix)
        return tuple(sorted(keys))

    # --- adoption ---------------------------------------------------------------------

    async def adopt(self) -> int:
        """Take over the replicas (and HAProxy) a previous control plane left running."""
        found = adoption.running(self.records, run_dir=self.run_dir, limiter=self.limiter)
        for replica in found:
            self._unit(replica.environment, replica.service).replicas.append(replica)
        if self.limiter is not None:
            self.limiter.sweep()  # groups whose replicas are gone (a crash of the control plane)
        if not await self.router.adopt((u.pool, u.replicas) for u in self.units.values()):
            for unit in self.units.values():  # HAProxy is gone: slots start afresh
                for replica in unit.replicas:
                    replica.slot, replica.phase = None, "starting"
        return len(found)

    # --- the loop ---------------------------------------------------------------------

    async def run(self) -> None:
        while True:
            await self.tick()
            await asyncio.sleep(TICK)

    async def tick(self) -> None:
        now = time.monotonic()
        await self._sample_stats(now)
        if self.limiter is not None and self.limiter.leftover:
            try:
                self.limiter.retry()
            except Exception:
                log.exception("retrying the cpu and memory limits has failed; will try again next tick")
        for unit in list(self.units.values()):
            if now < unit.retry_at:
                continue
            try:
                self._step(unit, now)
            except Exception as e:  # noqa: BLE001 - one service's failure must not stop the others; logged there
                self._step_failed(unit, e, now)
            else:
                unit.faults = 0
        await self.router.route()

    def _step(self, unit: Unit, now: float) -> None:
        """One service's share of a tick; what it raises stays its own (:meth:`_step_failed`)."""
        self._reap(unit, now)
        self._probe(unit, now)
        if unit.desired is not None or unit.removing:
            self._autoscale(unit, now)
            self._converge(unit, now)
            self._check_progress(unit, now)
        if unit.removing and not unit.replicas:
            del self.units[(unit.environment, unit.service)]
            self.router.forget(unit.pool)

    def _step_failed(self, unit: Unit, e: Exception, now: float) -> None:
        """Supervising ``unit`` raised: say so, back off, and fail its revision if it keeps on."""
        unit.faults += 1
        what = f"{type(e).__name__}: {e}"
        unit.last_problem = f"supervising service '{unit.service}' failed: {what}"
        delay = min(TICK * 2 ** (unit.faults - 1), MAX_BACKOFF)
        unit.retry_at = now + delay
        message = "%s/%s: %s; the other services are not affected; will try again in %g s"
        if unit.faults == 1:
            log.exception(message, unit.environment, unit.service, unit.last_problem, delay)
        else:
            log.warning(message, unit.environment, unit.service, unit.last_problem, delay)
        desired = unit.desired
        if desired is None or unit.removing or unit.faults < STEP_FAILURES or unit.failed_revision == desired.revision:
            return
        try:
            self._fail(
                unit,
                f"revision {desired.revision} could not be supervised ({unit.faults} times in a row): {what}",
            )
        except Exception:
            log.exception("%s/%s: failing revision %d has failed", unit.environment, unit.service, desired.revision)

    def _reap(self, unit: Unit, now: float) -> None:
        for replica in list(unit.replicas):
            running, code = processes.poll(replica.handle)
            if running:
                continue
            unit.replicas.remove(replica)
            self.records.forget_replica(replica.id)
            oom = self.limiter is not None and self.limiter.killed_for_memory(replica.id)
            if self.limiter is not None:
                self.limiter.remove(replica.id)
            if replica.live:
                how = (
                    f"exited with code {code}"
                    if code is not None and code >= 0
                    else (f"was killed by signal {-code}" if code is not None else "exited")
                )
                if oom:
                    how = (
                        f"was killed for using more than its memory limit "
                        f"({unit.desired.spec.resources.memory if unit.desired else '?'})"
                    )
                line = replica.last_error_line()
                unit.last_problem = f"replica {replica.id} {how}" + (f": {line}" if line else "")
                log.warning("%s/%s: %s", unit.environment, unit.service, unit.last_problem)
                if replica.ready_at and now - replica.ready_at >= STABLE:
                    unit.crashes.clear()
                if not replica.ready_at and unit.is_current(replica):
                    lines = last_lines(replica, OUTPUT_LINES)
                    self._start_failed(
                        unit, f"replica {replica.id} {how}" + (f"; its last output: {lines}" if lines else "")
                    )
                self._crashed(unit, now)
            replaced = replica.live and unit.restart_after <= now and not unit.removing
            self.router.vacate(unit.pool, replica, others=unit.replicas, replaced=replaced, now=now)
        self.router.expire(unit.pool, now)

    def _crashed(self, unit: Unit, now: float) -> None:
        unit.crashes = [t for t in unit.crashes if t > now - CRASH_WINDOW] + [now]
        count = len(unit.crashes)
        delay = 0.0 if count <= 1 else min(0.5 * 2 ** (count - 2), MAX_BACKOFF)
        unit.restart_after = now + delay

    def _probe(self, unit: Unit, now: float) -> None:
        if unit.desired is None:
            return
        spec = unit.desired.spec
        for replica in unit.replicas:
            if not replica.live:
                continue
            if replica.probing is not None:
                if replica.probing.done():
                    self._probed(unit, replica, replica.probing, spec, now)
                continue
            if now < replica.next_probe:
                continue
            replica.probing = asyncio.ensure_future(self._both(replica, spec))

    async def _both(self, replica: Replica, spec: models.ServiceSpec) -> tuple[str | None, str | None]:
        ready = await health.probe(replica.port, spec.readiness)
        alive = (
            await health.probe(replica.port, spec.liveness) if (spec.liveness and replica.phase == "ready") else None
        )
        return ready, alive

    def _probed(
        self,
        unit: Unit,
        replica: Replica,
        task: asyncio.Task[tuple[str | None, str | None]],
        spec: models.ServiceSpec,
        now: float,
    ) -> None:
        """Act on the finished probe ``task``, by ``spec`` (the desired revision's)."""
        replica.probing = None
        ready, alive = (
            task.result() if not task.cancelled() and task.exception() is None else ("the probe failed", None)
        )
        interval = spec.readiness.interval_seconds if spec.readiness else 1.0
        # A starting replica is probed often so it serves as soon as it can.
        replica.next_probe = now + (interval if replica.phase == "ready" else min(interval, 0.05))
        # A probe started under an earlier revision may report a liveness failure when the
        # revision now desired has no liveness check: that failure no longer counts.
        if alive is not None and spec.liveness is not None:
            replica.liveness_failures += 1
            threshold = spec.liveness.failure_threshold
            if replica.liveness_failures >= threshold:
                unit.last_problem = f"replica {replica.id} failed its liveness check: {alive}"
                log.warning("%s/%s: %s; restarting it", unit.environment, unit.service, unit.last_problem)
                self._stop(unit, replica, drain=False)
                self._crashed(unit, now)
                return
        else:
            replica.liveness_failures = 0
        if ready is None:
            replica.readiness_failures, replica.reason = 0, ""
            if replica.phase == "starting":
                replica.phase, replica.ready_at = "ready", now
                if unit.is_current(replica):
                    unit.started_ok, unit.start_failures = True, 0
                self.router.attach(unit.pool, replica)
                self._record(replica)
            return
        replica.reason = ready
        replica.readiness_failures += 1
        threshold = spec.readiness.failure_threshold if spec.readiness else 3
        if replica.phase == "ready" and replica.readiness_failures >= threshold:
            replica.phase = "starting"
            self.router.detach(unit.pool, replica)
        if replica.phase == "starting" and not replica.adopted:
            unit.last_problem = f"replica {replica.id} is not ready: {ready}"

    # --- rolling --------------------------------------------------------------------

    def _converge(self, unit: Unit, now: float) -> None:
        wanted = unit.wanted
        live = [r for r in unit.replicas if r.live]
        current = [r for r in live if unit.is_current(r)]
        old = [r for r in live if not unit.is_current(r)]
        if unit.desired is not None and not unit.removing:
            rollout = unit.desired.spec.rollout
            surge = rollout.max_surge if (rollout.max_surge or rollout.max_unavailable) else 1
            failed = unit.failed_revision == unit.desired.revision
            while not failed and len(current) < wanted and len(live) < wanted + surge and now >= unit.restart_after:
                replica = self._start(unit, now)
                if replica is None:
                    break
                current.append(replica)
                live.append(replica)
            floor = wanted - rollout.max_unavailable
        else:
            floor = 0
        ready = sum(1 for r in live if r.phase == "ready")
        for replica in sorted(old, key=lambda r: (r.phase == "ready", r.started_at)):
            if replica.phase != "ready":
                self._stop(unit, replica, drain=False)
            elif ready - 1 >= floor:
                self._stop(unit, replica, drain=True)
                ready -= 1
        excess = len(current) - wanted
        for replica in sorted(current, key=lambda r: (r.phase == "ready", -r.started_at))[: max(0, excess)]:
            self._stop(unit, replica, drain=replica.phase == "ready")

    def _start(self, unit: Unit, now: float) -> Replica | None:
        assert unit.desired is not None  # _converge starts replicas only for a unit with a desired revision
        try:
            replica = replicas_mod.start(
                unit.desired, generation=unit.generation, run_dir=self.run_dir, limiter=self.limiter
            )
        except processes.RuntimeFailure as e:
            unit.last_problem = e.message
            self._start_failed(unit, e.message)
            self._crashed(unit, now)
            return None
        unit.replicas.append(replica)
        self._record(replica)
        return replica

    def _start_failed(self, unit: Unit, how: str) -> None:
        unit.start_failures += 1
        unit.start_failure = how

    def _record(self, replica: Replica) -> None:
        self.records.record_replica(
            ReplicaRecord(
                id=replica.id,
                environment=replica.environment,
                service=replica.service,
                revision=replica.revision,
                generation=replica.generation,
                pid=replica.handle.pid,
                start_time=replica.handle.start_time,
                port=replica.port,
                slot=replica.slot,
                started_at=replica.started_at,
            )
        )

    def _check_progress(self, unit: Unit, now: float) -> None:
        desired = unit.desired
        if desired is None or unit.removing or unit.failed_revision == desired.revision:
            return
        current_ready = sum(1 for r in unit.replicas if r.phase == "ready" and unit.is_current(r))
        has_old = any(r.live and r.phase == "ready" and r.revision != desired.revision for r in unit.replicas)
        if current_ready >= min(1, unit.wanted) or not has_old:
            return
        if unit.start_failures >= START_FAILURES and not unit.started_ok:
            self._fail(
                unit,
                f"revision {desired.revision} failed to start {unit.start_failures} times in a row, "
                f"and no replica of it was ever ready: {unit.start_failure}",
            )
            return
        if now - unit.target_since < desired.spec.rollout.progress_deadline_seconds:
            return
        self._fail(
            unit,
            f"revision {desired.revision} did not become ready within "
            f"{desired.spec.rollout.progress_deadline_seconds:g} s"
            + (f": {unit.last_problem}" if unit.last_problem else ""),
        )

    def _fail(self, unit: Unit, failure: str) -> None:
        """Mark the desired revision failed (the reconciler rolls it back) and stop its replicas."""
        assert unit.desired is not None  # only a unit with a desired revision has one to fail
        unit.failed_revision, unit.failure = unit.desired.revision, failure
        log.warning("%s/%s: %s", unit.environment, unit.service, failure)
        for replica in [r for r in unit.replicas if r.live and unit.is_current(r)]:
            self._stop(unit, replica, drain=False)

    # --- stopping -------------------------------------------------------------------

    def _stop(self, unit: Unit, replica: Replica, *, drain: bool) -> None:
        replica.phase = "draining" if drain else "stopping"
        if replica.probing is not None:
            replica.probing.cancel()
            replica.probing = None
        grace = unit.desired.spec.rollout.termination_grace_seconds if unit.desired else 10.0
        task = asyncio.ensure_future(self._retire(unit, replica, drain=drain, grace=grace))
        self.background.add(task)
        task.add_done_callback(self.background.discard)

    async def _retire(self, unit: Unit, replica: Replica, *, drain: bool, grace: float) -> None:
        try:
            await self.router.take_out(unit.pool, replica, drain=drain, timeout=max(grace, 1.0))
            processes.signal_group(replica.handle, signal.SIGTERM)
            deadline = time.monotonic() + grace
            while processes.alive(replica.handle) and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            processes.signal_group(replica.handle, signal.SIGKILL)
        except Exception:
            log.exception("stopping replica %s has failed", replica.id)
            processes.signal_group(replica.handle, signal.SIGKILL)

    # --- measurements ---------------------------------------------------------------

    async def _sample_stats(self, now: float) -> None:
        if now - self._stats_at < 1.0 or self.dataplane.handle is None:
            return
        self._stats_at = now
        try:
            rows = await self.dataplane.api.stats()
        except processes.RuntimeFailure:
            return
        self.stats = {(r["pxname"], r["svname"]): r for r in rows}

    def _autoscale(self, unit: Unit, now: float) -> None:
        spec = unit.desired.spec.autoscaling if unit.desired else None
        if spec is None or unit.stabiliser is None:
            return
        row = self.stats.get((unit.backend, "BACKEND"))
        if row is None:
            return
        total = int(row.get("req_tot") or 0)
        previous, unit.requests = unit.requests, (self._stats_at, total)
        if previous is None or self._stats_at <= previous[0]:
            return
        rate = max(0, total - previous[1]) / (self._stats_at - previous[0])
        ready = [r for r in unit.replicas if r.phase == "ready"]
        unit.autoscaled = unit.stabiliser.add(
            now, autoscaling.recommend(spec, ready=len(ready), rate=rate, cpu_percent=_cpu_percent(ready, now))
        )

    # --- what there is --------------------------------------------------------------

    def observe(self, environment: str) -> base.Observed:
        now = time.monotonic()
        units = [u for (env, _), u in sorted(self.units.items()) if env == environment and not u.removing]
        return base.Observed(environment, bool(units), tuple(self._status(u, now) for u in units))

    def _status(self, unit: Unit, now: float) -> base.ServiceStatus:
        desired = unit.desired
        wanted = unit.wanted
        ready = sum(1 for r in unit.replicas if r.phase == "ready" and unit.is_current(r))
        old = any(r.live and not unit.is_current(r) for r in unit.replicas)
        message = ""
        if desired is None:
            health = base.Health.PROGRESSING
        elif unit.failed_revision == desired.revision:
            health, message = base.Health.DEGRADED, unit.failure
        elif wanted == 0:
            health = base.Health.SUSPENDED
        elif unit.crash_looping(now):
            health, message = base.Health.CRASH_LOOPING, unit.last_problem
        elif ready >= wanted and not old:
            health = base.Health.HEALTHY
        else:
            health, message = base.Health.PROGRESSING, unit.last_problem if ready < wanted else ""
        return base.ServiceStatus(
            name=unit.service,
            revision=desired.revision if desired else None,
            desired=wanted,
            ready=ready,
            health=health,
            message=message,
            url=self.url(unit.environment, unit.service),
            failed_revision=unit.failed_revision,
        )

    def replicas(self, environment: str | None = None) -> list[base.ReplicaView]:
        return [
            base.ReplicaView(
                r.id,
                r.environment,
                r.service,
                r.revision,
                r.handle.pid,
                r.port,
                r.phase,
                r.started_at,
                r.reason,
                r.limited,
                r.isolated,
            )
            for (env, _), u in sorted(self.units.items())
            if environment in (None, env)
            for r in u.replicas
        ]

    # --- shutting down --------------------------------------------------------------

    async def stop_all(self, *, grace: float = 10.0) -> None:
        """``civic down``: stop every replica (SIGTERM, then SIGKILL) and HAProxy."""
        await aiotasks.cancel([*self.background, *self.router.background])
        everyone = [r for u in self.units.values() for r in u.replicas]
        for replica in everyone:
            processes.signal_group(replica.handle, signal.SIGTERM)
        deadline = time.monotonic() + grace
        while any(processes.alive(r.handle) for r in everyone) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        for replica in everyone:
            processes.signal_group(replica.handle, signal.SIGKILL)
            processes.poll(replica.handle)
            self.records.forget_replica(replica.id)
            if self.limiter is not None:
                self.limiter.remove(replica.id)
        self.units.clear()
        self.router.pools.clear()
        self.dataplane.stop()

    async def aclose(self) -> None:
        """Stop supervising, leaving replicas and HAProxy running (static stability)."""
        await aiotasks.cancel([*self.background, *self.router.background])
        for unit in self.units.values():
            for replica in unit.replicas:
                if replica.probing is not None:
                    replica.probing.cancel()
        await asyncio.gather(
            *(r.probing for u in self.units.values() for r in u.replicas if r.probing is not None),
            return_exceptions=True,
        )


def last_lines(replica: Replica, count: int) -> str:
    """The last ``count`` non-empty lines of the replica's output (its stderr, else its
    stdout), joined with " | " to fit on one line of a status or a deploy's failure."""
    stdout = os.path.join(replica.log_dir, f"{replica.id}.out")
    for path in (replica.stderr, stdout):
        try:
            with open(path, "rb") as f:
                f.seek(max(0, os.path.getsize(path) - 8192))
                lines = [ln.strip() for ln in f.read().decode(errors="replace").splitlines() if ln.strip()]
        except OSError:
            continue
        if lines:
            return " | ".join(line[:300] for line in lines[-count:])
    return ""


def _cpu_percent(ready: list[Replica], now: float) -> float:
    """Mean CPU use of ``ready`` since their last sample, in percent of one core."""
    samples = []
    for replica in ready:
        used = processes.cpu_seconds(replica.handle.pid)
        then, before = replica.cpu
        replica.cpu = (now, used)
        if then and now > then:
            samples.append(100.0 * (used - before) / (now - then))
    return sum(samples) / len(samples) if samples else 0.0
