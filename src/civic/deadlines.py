"""Waiting for a condition, with a deadline: one helper instead of a loop in each caller.

Civic often waits for something no one will tell it about: a server that starts
answering, a rollout that becomes healthy, a control plane that stops, a lock that
comes free. Each of those waits used to be its own ``deadline = time.monotonic() + t;
while ...: sleep(...)`` loop, each with its own off-by-one and its own error.
:func:`poll` (blocking code: the CLI, the store, the tests) and :func:`apoll` (in the
event loop: the control plane, the data plane) call a check until it returns something
truthy, and return that; after ``timeout`` seconds they raise :class:`Timeout`, which
names what was awaited. The check runs at once, then every ``interval`` seconds, and a
last time at the deadline. An exception from the check ends the wait: it propagates.
The sleep is only the pause between checks, never a way to let something happen.

The lowest layer: it imports only :mod:`civic.errors`, so any module may use it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from civic.errors import TemporaryError

T = TypeVar("T")


class Timeout(TemporaryError):
    """A condition did not come true within its time."""

    def __init__(self, what: str, timeout: float) -> None:
        super().__init__(f"timed out after {timeout:g} s waiting for {what}")
        self.what = what
        self.timeout = timeout

    def __repr__(self) -> str:
        return f"Timeout(what={self.what!r}, timeout={self.timeout!r})"


def poll(check: Callable[[], T], *, timeout: float, what: str, interval: float = 0.1) -> T:
    """``check()``'s first truthy value; :class:`Timeout` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise Timeout(what, timeout)
        time.sleep(min(interval, remaining))


async def apoll(check: Callable[[], Awaitable[T]], *, timeout: float, what: str, interval: float = 0.1) -> T:
    """:func:`poll` for the event loop: ``await check()`` until it is truthy."""
    deadline = time.monotonic() + timeout
    while True:
        found = await check()
        if found:
            return found
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise Timeout(what, timeout)
        await asyncio.sleep(min(interval, remaining))
