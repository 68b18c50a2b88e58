"""The reconciler: level-based loops that make a backend run what the store says.

A request names an environment, never what changed (controller-runtime's way): the
worker reads the environment's whole desired state, hands it to the backend's
``apply`` and forgets the request. A resync every few seconds re-queues every
environment, so a missed request or a crash mid-way heals by itself. A second loop
watches what the backend observes: a revision the backend reports as failed (it never
became ready) is handed to ``on_failed`` with the backend's reason; the control plane
passes :func:`civic.control.deploying.fail_and_roll_back`, which marks it failed and
rolls the service back.

The control plane (:mod:`civic.control.plane`) starts the loops as guarded tasks.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from civic.backends import base
from civic.errors import CivicError
from civic.reconcile import desired
from civic.store import deployments
from civic import aiotasks

log = logging.getLogger("civic.reconcile")


class Reconciler:
    def __init__(self, ctx: desired.Context, backend: base.Backend, *, resync: float = 5.0,
                 watch: float = 0.25,
                 on_failed: Callable[[deployments.Current, str], None] | None = None) -> None:
        self.ctx = ctx
        self.backend = backend
        self.on_failed = on_failed
        self.resync = resync
        self.watch = watch
        self.queue: asyncio.Queue[str] = asyncio.Queue()
        self.queued: set[str] = set()
        self.tasks: list[asyncio.Task] = []

    def __repr__(self) -> str:
        return f"Reconciler(backend={self.backend!r}, queued={sorted(self.queued)})"

    def trigger(self, environment: str) -> None:
        if environment not in self.queued:
            self.queued.add(environment)
            self.queue.put_nowait(environment)

    async def reconcile(self, environment: str) -> None:
        """One pass over one environment: read everything, apply everything."""
        state, warnings = await asyncio.to_thread(desired.environment, self.ctx, environment)
        for warning in warnings:
            log.debug("%s: %s", environment, warning)
        await self.backend.apply(state)

    async def reconcile_all(self) -> None:
        for environment in await asyncio.to_thread(desired.environments, self.ctx):
            await self.reconcile(environment)

    def start(self) -> None:
        self.tasks = [aiotasks.guarded("reconciler", self._work),
                      aiotasks.guarded("resync", self._resync),
                      aiotasks.guarded("rollback watcher", self._watch)]

    async def aclose(self) -> None:
        await aiotasks.cancel(self.tasks)

    async def _work(self) -> None:
        while True:
            environment = await self.queue.get()
            self.queued.discard(environment)
            try:
                await self.reconcile(environment)
            except CivicError as e:
                log.warning("reconciling %s failed temporarily: %s; will try again in %g s",
                            environment, e.message, self.resync)

    async def _resync(self) -> None:
        while True:
            await asyncio.sleep(self.resync)
            for environment in await asyncio.to_thread(desired.environments, self.ctx):
                self.trigger(environment)

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(self.watch)
            for current in await asyncio.to_thread(self.ctx.records.current):
                observed = await self.backend.observe(current.environment)
                status = next((s for s in observed.services if s.name == current.service), None)
                if status is not None and status.failed_revision == current.revision:
                    if self.on_failed is not None:
                        await asyncio.to_thread(self.on_failed, current, status.message)
                    self.trigger(current.environment)
