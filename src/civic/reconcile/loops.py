"""The reconciler: level-based loops that make a backend run what the store says.

A request names an environment, never what changed (controller-runtime's way): the
worker reads the environment's whole desired state, hands it to the backend's
``apply`` and forgets the request. A resync every few seconds re-queues every
environment, so a missed request or a crash mid-way heals by itself. A second loop
watches what the backend observes: a revision the backend reports as failed (it never
became ready) is handed to ``on_failed`` with the backend's reason; the control plane
passes :func:`civic.control.deploying.fail_and_roll_back`, which marks it failed and
rolls the service back.

A pass that fails is retried as kopf retries a handler (:mod:`civic.errors`):

- a :class:`~civic.errors.TemporaryError` after its ``delay`` (or the resync interval);
- a :class:`~civic.errors.PermanentError` is reported once, counted and kept in
  :attr:`Reconciler.failures`, and not applied again until the environment's desired
  state changes or someone triggers it (a deploy, a scale, a sync of the estate);
- any other :class:`~civic.errors.CivicError` with exponential back-off, capped.

The control plane (:mod:`civic.control.plane`) starts the loops as guarded tasks.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import logging
import time
from collections.abc import Callable, Mapping

import pydantic

from civic import aiotasks, errors
from civic.backends import base
from civic.reconcile import desired
from civic.store import deployments

log = logging.getLogger("civic.reconcile")


@dataclasses.dataclass(frozen=True)
class Failure:
    """A permanent failure of one environment, as the API could show it."""

    environment: str
    kind: str  # the error's class name
    message: str
    since: float  # wall clock, when this message was first reported
    state: object = dataclasses.field(default=None, repr=False, compare=False)
    """The desired state that failed, as plain data (:func:`_plain`); None when reading it failed."""


class Reconciler:
    def __init__(
        self,
        ctx: desired.Context,
        backend: base.Backend,
        *,
        resync: float = 5.0,
        watch: float = 0.25,
        backoff: float = 1.0,
        max_backoff: float = 60.0,
        on_failed: Callable[[deployments.Current, str], None] | None = None,
    ) -> None:
        self.ctx = ctx
        self.backend = backend
        self.on_failed = on_failed
        self.resync = resync
        self.watch = watch
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.queue: asyncio.Queue[str] = asyncio.Queue()
        self.queued: set[str] = set()
        self.tasks: list[asyncio.Task] = []
        self.failures: dict[str, Failure] = {}
        """Permanent failures in force, by environment."""
        self.counts: collections.Counter[str] = collections.Counter()
        """Failures by kind: ``temporary``, ``permanent`` (each reported once) and ``error``."""
        self.passes: collections.Counter[str] = collections.Counter()
        """Passes that read the desired state, by environment (those that then wait too)."""
        self._attempts: dict[str, int] = {}  # failures in a row that back off
        self._not_before: dict[str, float] = {}  # monotonic: a resync does not retry sooner
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._forced: set[str] = set()  # triggered: reconciled now, whatever failed before
        self._loop: asyncio.AbstractEventLoop | None = None

    def __repr__(self) -> str:
        return f"Reconciler(backend={self.backend!r}, queued={sorted(self.queued)})"

    def trigger(self, environment: str) -> None:
        """Reconcile ``environment`` soon, even one that failed: something asked for it.

        Safe to call from any thread (the API's use cases run in worker threads).
        """
        loop = self._loop
        if loop is not None and not _running_in(loop):
            try:
                loop.call_soon_threadsafe(self.trigger, environment)
            except RuntimeError:
                pass  # the loop has closed: nothing reconciles any more
            return
        self._forced.add(environment)
        self._enqueue(environment)

    async def reconcile(self, environment: str) -> None:
        """One pass over one environment: read everything, apply everything."""
        await self.backend.apply(await self._desired(environment))

    async def reconcile_all(self) -> None:
        for environment in await asyncio.to_thread(desired.environments, self.ctx):
            await self.reconcile(environment)

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self.tasks = [
            aiotasks.guarded("reconciler", self._work),
            aiotasks.guarded("resync", self._resync),
            aiotasks.guarded("rollback watcher", self._watch),
        ]

    async def aclose(self) -> None:
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        await aiotasks.cancel(self.tasks)

    # --- the worker -------------------------------------------------------------------

    def _enqueue(self, environment: str) -> None:
        if environment not in self.queued:
            self.queued.add(environment)
            self.queue.put_nowait(environment)

    async def _desired(self, environment: str) -> base.DesiredEnvironment:
        state, warnings = await asyncio.to_thread(desired.environment, self.ctx, environment)
        for warning in warnings:
            log.debug("%s: %s", environment, warning)
        return state

    async def _work(self) -> None:
        while True:
            environment = await self.queue.get()
            self.queued.discard(environment)
            await self._pass(environment)

    async def _pass(self, environment: str) -> None:
        """Reconcile once, unless backing off or failed permanently with this desired state."""
        forced = environment in self._forced
        self._forced.discard(environment)
        if not forced and time.monotonic() < self._not_before.get(environment, 0.0):
            return  # backing off: its timer queues it when the time comes
        self.passes[environment] += 1
        state = None
        try:
            state = await self._desired(environment)
            failure = self.failures.get(environment)
            if not forced and failure is not None and failure.state == _plain(state):
                return  # the same desired state would fail the same way
            await self.backend.apply(state)
        except errors.TemporaryError as e:
            delay = e.delay if e.delay is not None else self.resync
            log.warning("reconciling %s failed temporarily: %s; will try again in %g s", environment, e.message, delay)
            self.counts["temporary"] += 1
            self.failures.pop(environment, None)
            self._retry_in(environment, delay)
        except errors.PermanentError as e:
            self._failed_permanently(environment, e, state)
        except errors.CivicError as e:
            attempts = self._attempts.get(environment, 0) + 1
            delay = min(self.backoff * 2 ** (attempts - 1), self.max_backoff)
            log.warning(
                "reconciling %s failed: %s; will try again in %g s (attempt %d)",
                environment,
                e.message,
                delay,
                attempts,
            )
            self.counts["error"] += 1
            self.failures.pop(environment, None)
            self._retry_in(environment, delay)
            self._attempts[environment] = attempts
        else:
            self._succeeded(environment)

    def _failed_permanently(
        self, environment: str, e: errors.PermanentError, state: base.DesiredEnvironment | None
    ) -> None:
        previous = self.failures.get(environment)
        new = previous is None or previous.message != e.message
        since = previous.since if previous is not None and not new else time.time()
        plain = _plain(state) if state is not None else None
        self.failures[environment] = Failure(environment, type(e).__name__, e.message, since, plain)
        self._settle(environment)
        if new:
            log.error("reconciling %s failed permanently: %s", environment, e.message)
            self.counts["permanent"] += 1

    def _succeeded(self, environment: str) -> None:
        self._settle(environment)
        if self.failures.pop(environment, None) is not None:
            log.info("reconciling %s succeeded; its earlier failure is over", environment)

    def _settle(self, environment: str) -> None:
        """No retry pending and no back-off: the next pass is an ordinary one."""
        self._attempts.pop(environment, None)
        self._not_before.pop(environment, None)
        timer = self._timers.pop(environment, None)
        if timer is not None:
            timer.cancel()

    def _retry_in(self, environment: str, delay: float) -> None:
        self._settle(environment)
        self._not_before[environment] = time.monotonic() + delay
        self._timers[environment] = asyncio.get_running_loop().call_later(delay, self._due, environment)

    def _due(self, environment: str) -> None:
        self._timers.pop(environment, None)
        self._not_before.pop(environment, None)
        self._enqueue(environment)

    # --- the other loops --------------------------------------------------------------

    async def _resync(self) -> None:
        while True:
            await asyncio.sleep(self.resync)
            for environment in await asyncio.to_thread(desired.environments, self.ctx):
                self._enqueue(environment)

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


def _running_in(loop: asyncio.AbstractEventLoop) -> bool:
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False


def _plain(value: object) -> object:
    """``value`` as plain data, to compare two desired states: ``==`` on pydantic models
    also compares their caches (a spec's canonical form, once computed)."""
    if isinstance(value, pydantic.BaseModel):
        return value.model_dump(mode="json")
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value
