"""Which replica sits in which HAProxy server slot: the supervisor's routing bookkeeping.

HAProxy has one backend per service, with a fixed number of server *slots*
(:mod:`civic.backends.local.haproxy`). A replica takes a free slot when it first becomes
ready, leaves it in ``maint`` while it is not ready, drains it before it is stopped, and
gives it back when it exits. Each of these is one runtime-API command and needs no
reload. Only a change of *shape* (a service comes or goes, its routes change, or it needs
more slots than its backend has) rewrites the configuration and reloads HAProxy, once a
tick, in :meth:`Router.route`.

When the last routed replica of a service dies and its replacement starts at once, its
slot is *held* for :data:`HOLD` seconds instead of being freed: HAProxy keeps retrying
the refused connection, so the requests that arrive meanwhile wait for the replacement
instead of failing at once. The slot is let go when the replacement is ready, or when
the hold runs out.

The supervisor (:mod:`civic.backends.local.supervision`) owns one :class:`Router` and
gives each service one :class:`Pool`; it calls the router as replicas become ready,
fall unready, stop and exit. After a restart of the control plane,
:meth:`Router.adopt` takes over a running HAProxy and the slots the adopted replicas
hold.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import time
from collections.abc import Coroutine, Iterable, Sequence
from typing import Any

from civic.backends.local import haproxy
from civic.backends.local.replicas import Replica

log = logging.getLogger("civic.backends.local")

HOLD = 2.0
"""How long the slot of a service's last replica stays routed after the replica dies.
HAProxy retries a refused connection every 250 ms for 2 s (haproxy.render), so requests
that arrive meanwhile wait for the replacement instead of failing at once."""


@dataclasses.dataclass(eq=False)
class Pool:
    """One service's HAProxy backend: its routes, its server slots, and the slots held."""

    name: str  # "<service>.<environment>", the HAProxy backend's name
    routes: tuple[str, ...] = ()  # set once the service should run (Supervisor.set_environment)
    slots: list[haproxy.Slot] = dataclasses.field(default_factory=list)
    held: dict[int, float] = dataclasses.field(default_factory=dict)  # slot number -> until (monotonic)

    def set(self, number: int, *, port: int | None, state: str) -> None:
        """Record what slot ``number`` now is (the runtime API is told separately)."""
        self.slots = [haproxy.Slot(number, port, state) if s.number == number else s for s in self.slots]

    def free_slot(self) -> haproxy.Slot:
        """A slot no replica holds; when there is none, the backend grows (a reload)."""
        free = next((s for s in self.slots if s.port is None), None)
        if free is None:
            start = len(self.slots) + 1
            grow = max(haproxy.SLOTS, len(self.slots))
            self.slots += [haproxy.Slot(n) for n in range(start, start + grow)]
            free = self.slots[start - 1]
        return free


class Router:
    """Every service's pool, and the HAProxy they are routed through."""

    def __init__(self, dataplane: haproxy.DataPlane) -> None:
        self.dataplane = dataplane
        self.pools: dict[str, Pool] = {}
        self.background: set[asyncio.Task[Any]] = set()  # runtime-API commands in flight

    def __repr__(self) -> str:
        return f"Router(dataplane={self.dataplane!r}, pools={len(self.pools)})"

    def pool(self, name: str) -> Pool:
        """The pool of HAProxy backend ``name``; an empty one the first time."""
        if name not in self.pools:
            self.pools[name] = Pool(name)
        return self.pools[name]

    def forget(self, pool: Pool) -> None:
        """The service is gone: its backend leaves HAProxy at the next reload."""
        if self.pools.get(pool.name) is pool:
            del self.pools[pool.name]

    # --- a replica's slot -------------------------------------------------------------

    def attach(self, pool: Pool, replica: Replica) -> None:
        """``replica`` is ready: it takes a free slot and serves (the caller records the slot).

        A slot held for a dead replica is let go: its replacement serves now.
        """
        free = pool.free_slot()
        replica.slot = free.number
        pool.set(free.number, port=replica.port, state="ready")
        if not self.dataplane.needs_reload(self.backends()):
            self._spawn(self._put(pool, free.number, port=replica.port, state="ready"))
        for number in list(pool.held):
            self._release(pool, number)

    def detach(self, pool: Pool, replica: Replica) -> None:
        """``replica`` is no longer ready: its slot stays its own but takes no requests."""
        if replica.slot is not None:
            pool.set(replica.slot, port=replica.port, state="maint")
            if not self.dataplane.needs_reload(self.backends()):
                self._spawn(self._put(pool, replica.slot, port=replica.port, state="maint"))

    async def take_out(self, pool: Pool, replica: Replica, *, drain: bool, timeout: float) -> None:
        """Before ``replica`` is stopped: no new requests; with ``drain``, first let the
        requests in flight finish (for up to ``timeout`` seconds)."""
        if drain and replica.slot is not None:
            await self._put(pool, replica.slot, port=replica.port, state="drain")
            await self._until_idle(pool, replica, timeout=timeout)
        if replica.slot is not None:
            await self._put(pool, replica.slot, port=replica.port, state="maint")

    def vacate(self, pool: Pool, replica: Replica, *, others: Sequence[Replica], replaced: bool, now: float) -> None:
        """``replica`` has exited; ``others`` are the service's replicas still there.

        Its slot is freed, unless it was the last routed one and ``replaced`` (a replacement
        starts now): then the slot stays routed, held for :data:`HOLD` seconds.
        """
        last = replica.slot is not None and not any(r.slot is not None for r in others)
        if last and replaced and replica.slot is not None:
            pool.held[replica.slot] = now + HOLD
            replica.slot = None
            return
        if replica.slot is not None:
            number, replica.slot = replica.slot, None
            self._release(pool, number)

    def expire(self, pool: Pool, now: float) -> None:
        """Let go of the slots whose hold has run out."""
        for number, until in list(pool.held.items()):
            if now >= until:
                self._release(pool, number)

    def _release(self, pool: Pool, number: int) -> None:
        pool.held.pop(number, None)
        pool.set(number, port=None, state="maint")
        if not self.dataplane.needs_reload(self.backends()):
            self._spawn(self.dataplane.api.set_slot(pool.name, haproxy.Slot(number, None, "maint")))

    async def _put(self, pool: Pool, number: int, *, port: int | None, state: str) -> None:
        pool.set(number, port=port, state=state)
        await self.dataplane.api.set_slot(pool.name, haproxy.Slot(number, port, state))

    async def _until_idle(self, pool: Pool, replica: Replica, *, timeout: float) -> None:
        """Until HAProxy has no request in flight on the replica's server."""
        deadline = time.monotonic() + timeout
        server = f"r{replica.slot}"
        while time.monotonic() < deadline:
            rows = await self.dataplane.api.stats()
            row = next((r for r in rows if r["pxname"] == pool.name and r["svname"] == server), None)
            if row is None or (row.get("scur") or "0") == "0":
                return
            await asyncio.sleep(0.05)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coro)
        self.background.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[Any]) -> None:
        self.background.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("a data-plane command has failed: %s", task.exception())

    # --- HAProxy's shape --------------------------------------------------------------

    def backends(self) -> list[haproxy.ServiceBackend]:
        """Every pool as HAProxy sees it; a service that should run gets its first slots."""
        out = []
        for pool in self.pools.values():
            if not pool.slots and pool.routes:
                pool.slots = [haproxy.Slot(n) for n in range(1, haproxy.SLOTS + 1)]
            if pool.slots:
                out.append(haproxy.ServiceBackend(pool.name, pool.routes, tuple(pool.slots)))
        return out

    async def route(self) -> None:
        """Once a tick: start HAProxy, or reload it when its shape has changed."""
        backends = self.backends()
        if self.dataplane.handle is None:
            await self.dataplane.start(backends)
        elif self.dataplane.needs_reload(backends):
            await self.dataplane.reload(backends)

    async def adopt(self, held: Iterable[tuple[Pool, Sequence[Replica]]]) -> bool:
        """Take over the HAProxy a previous control plane left running; False if none runs.

        ``held`` pairs each pool with its adopted replicas; each keeps the slot it is
        recorded in, and the backend keeps as many slots as HAProxy has for it.
        """
        if not self.dataplane.adopt():
            return False
        rows = await self.dataplane.api.stats()
        counts: dict[str, int] = {}
        for row in rows:
            if row["svname"] not in ("FRONTEND", "BACKEND") and not row["pxname"].startswith("civic"):
                counts[row["pxname"]] = counts.get(row["pxname"], 0) + 1
        for pool, replicas in held:
            ports = {r.slot: r.port for r in replicas if r.slot}
            pool.slots = [
                haproxy.Slot(n, ports.get(n), "ready" if n in ports else "maint")
                for n in range(1, counts.get(pool.name, 0) + 1)
            ]
        self.dataplane.shape = adopted_shape(self.dataplane.settings.run_dir, counts)
        return True


def adopted_shape(run_dir: str, counts: dict[str, int]) -> tuple[Any, ...]:
    """The shape of a running HAProxy, from its route map and its count of slots per backend,
    so that adopting it does not reload it."""
    routes: dict[str, list[str]] = {}
    try:
        with open(os.path.join(run_dir, "routes.map")) as f:
            for line in f:
                if line.strip():
                    key, name = line.split()
                    routes.setdefault(name, []).append(key)
    except OSError:
        return ()
    return tuple(sorted((name, tuple(sorted(routes.get(name, []))), n) for name, n in counts.items()))
