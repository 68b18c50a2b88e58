"""The local backend: the backend protocol on this machine, with processes and HAProxy.

The reconciler calls :meth:`LocalBackend.apply` with an environment's whole desired
state and :meth:`LocalBackend.observe` for what runs; ``civic up`` creates one with
:func:`create`, calls :meth:`LocalBackend.start` (adopt what a previous control plane
left, then supervise), and on ``civic down`` :meth:`LocalBackend.stop_all`.
:meth:`LocalBackend.aclose` leaves replicas and HAProxy serving: that is what makes
the platform statically stable.
"""

from __future__ import annotations

import asyncio
import logging

from civic import aiotasks
from civic.backends import base
from civic.backends.local import haproxy, limits, supervision

log = logging.getLogger("civic.backends.local")


class LocalBackend:
    name = "local"

    def __init__(self, supervisor: supervision.Supervisor) -> None:
        self.supervisor = supervisor
        self.task: asyncio.Task | None = None

    def __repr__(self) -> str:
        return f"LocalBackend(supervisor={self.supervisor!r})"

    async def adopt(self) -> int:
        """Take over what a previous control plane left running; how many replicas."""
        count = await self.supervisor.adopt()
        if count:
            log.info("adopted %d running replica(s)", count)
        return count

    def start(self) -> None:
        """Begin supervising (call after the first ``apply`` of every environment)."""
        if self.task is None:
            self.task = aiotasks.guarded("supervisor", self.supervisor.run)

    async def apply(self, desired: base.DesiredEnvironment) -> None:
        self.supervisor.set_environment(desired)

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
        if self.task is not None:
            await aiotasks.cancel([self.task])
            self.task = None


def create(
    *, run_dir: str, records: base.ReplicaRecords, port: int, stats_port: int, base_domain: str = "localhost"
) -> LocalBackend:
    dataplane = haproxy.DataPlane(haproxy.Settings(port=port, stats_port=stats_port, run_dir=run_dir))
    return LocalBackend(
        supervision.Supervisor(
            run_dir=run_dir, dataplane=dataplane, records=records, base_domain=base_domain, limiter=limits.enforcer()
        )
    )
