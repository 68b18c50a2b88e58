"""Named, guarded asyncio tasks: no eternal loop dies silently (after kopf's aiotasks).

The supervisor, the reconcilers and the API server start their loops with
:func:`guarded`; a loop that raises is logged as "{name} has failed" (and restarted
after a pause when ``restart`` is set), one that returns is logged as "{name} has
finished unexpectedly".
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger("civic")


def guarded(
    name: str, factory: Callable[[], Awaitable[None]], *, restart: float | None = 1.0, eternal: bool = True
) -> asyncio.Task:
    """Run ``factory()`` as a task named ``name``; log and (optionally) restart on failure."""

    async def guard() -> None:
        while True:
            try:
                await factory()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("%s has failed", name)
                if restart is None:
                    return
                log.info("%s will start again in %g s", name, restart)
                await asyncio.sleep(restart)
                continue
            if eternal:
                log.error("%s has finished unexpectedly", name)
            return

    return asyncio.create_task(guard(), name=name)


async def cancel(tasks: list[asyncio.Task]) -> None:
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
