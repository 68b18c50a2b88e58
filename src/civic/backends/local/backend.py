"""The local backend: the backend protocol on this machine, with processes and HAProxy.

The reconciler calls :meth:`LocalBackend.apply` with an environment's whole desired
state and :meth:`LocalBackend.observe` for what runs; ``civic up`` creates one with
:func:`create`, calls :meth:`LocalBackend.start` (adopt what a previous control plane
left, then supervise), and on ``civic down`` :meth:`LocalBackend.stop_all`.
:meth:`LocalBackend.aclose` leaves replicas and HAProxy serving: that is what makes
the platform statically stable.

The backend's :class:`~civic.backends.local.tenancy.Instance` (by its run dir) gives each
service its user and folders; :meth:`LocalBackend.apply` makes each revision's release
(code and runtime, :mod:`civic.backends.local.releases`) in a worker thread before the
supervisor starts a replica of it, so a slow ``pip install`` never stalls the loop.
:meth:`LocalBackend.adopt` first stops the orphans an earlier control plane left
(:func:`civic.backends.local.adoption.stop_orphans`).
"""

from __future__ import annotations

import asyncio
import logging

from civic import aiotasks
from civic.backends import base
from civic.backends.local import adoption, haproxy, limits, processes, releases, supervision, tenancy

log = logging.getLogger("civic.backends.local")


class LocalBackend:
    name = "local"

    def __init__(self, supervisor: supervision.Supervisor, instance: tenancy.Instance | None = None) -> None:
        self.supervisor = supervisor
        self.instance = tenancy.register(instance or tenancy.Instance(supervisor.run_dir))
        self.task: asyncio.Task | None = None

    def __repr__(self) -> str:
        return f"LocalBackend(supervisor={self.supervisor!r}, instance={self.instance!r})"

    async def adopt(self) -> int:
        """Take over what a previous control plane left running; how many replicas."""
        await asyncio.to_thread(adoption.stop_orphans, self.supervisor.records, self.instance)
        swept = await asyncio.to_thread(tenancy.sweep, self.instance.root)
        if swept:
            log.info("removed the replicas' folders of %d Civic run dir(s) that are gone", len(swept))
        count = await self.supervisor.adopt()
        if count:
            log.info("adopted %d running replica(s)", count)
        return count

    def start(self) -> None:
        """Begin supervising (call after the first ``apply`` of every environment)."""
        if self.task is None:
            self.task = aiotasks.guarded("supervisor", self.supervisor.run)

    async def apply(self, desired: base.DesiredEnvironment) -> None:
        await asyncio.to_thread(self._prepare, desired)
        self.supervisor.set_environment(desired)

    def _prepare(self, desired: base.DesiredEnvironment) -> None:
        """Each revision's release, made now rather than in the supervisor's loop; a failure
        is kept, and the replica's start reports it."""
        if desired.environment is None:
            return
        if self.instance.isolated:
            processes.can_hide_processes()  # asked once, here rather than in the loop
        for revision in desired.services:
            if revision.spec.run is None:
                continue
            try:
                releases.prepare(self.instance, revision)
            except Exception as e:  # noqa: BLE001 - one service's build must not stop the others'
                log.warning("%s/%s revision %d: %s", revision.environment, revision.name, revision.revision, e)

    async def observe(self, environment: str) -> base.Observed:
        return self.supervisor.observe(environment)

    def url(self, environment: str, service: str) -> str:
        return self.supervisor.url(environment, service)

    def replicas(self, environment: str | None = None) -> list[base.ReplicaView]:
        return self.supervisor.replicas(environment)

    async def stop_all(self) -> None:
        await self._stop_loop()
        await self.supervisor.stop_all()

    async def aclose(self) -> None:
        await self._stop_loop()
        await self.supervisor.aclose()

    async def _stop_loop(self) -> None:
        """Cancel the supervisor's loop until it has ended. Once is not always enough: on
        Python 3.11 ``asyncio.wait_for`` (the HAProxy runtime API's calls, once a second)
        swallows a cancellation that arrives as its inner call completes, and the loop
        would tick on while ``civic down`` waited for it."""
        if self.task is None:
            return
        while not self.task.done():
            self.task.cancel()
            await asyncio.wait({self.task}, timeout=1.0)
        self.task = None


def create(
    *,
    run_dir: str,
    records: base.ReplicaRecords,
    port: int,
    stats_port: int,
    base_domain: str = "localhost",
    instance: tenancy.Instance | None = None,
) -> LocalBackend:
    """The local backend of ``run_dir``; ``instance`` chooses where and how its tenants run
    (by default: the data folder, isolated where Civic runs as root)."""
    tenancy.secure_run_dir(run_dir)
    dataplane = haproxy.DataPlane(haproxy.Settings(port=port, stats_port=stats_port, run_dir=run_dir))
    return LocalBackend(
        supervision.Supervisor(
            run_dir=run_dir, dataplane=dataplane, records=records, base_domain=base_domain, limiter=limits.enforcer()
        ),
        instance,
    )
