"""Serving the API: uvicorn in the control plane's own event loop, and the signals.

``civic up`` calls :func:`serve` with a built :class:`~civic.control.plane.ControlPlane`.
It starts the control plane, listens, runs the ``--deploy`` items, tells the caller it
is ready, and waits for SIGINT, SIGTERM or ``civic down``; then it stops everything.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Callable, Iterator
from typing import Any

import uvicorn

from civic import deadlines
from civic.api import app as app_mod
from civic.control import plane
from civic.errors import UsageError


class _Server(uvicorn.Server):
    """uvicorn, minus its signal handling: the control plane owns SIGINT and SIGTERM."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield

    def install_signal_handlers(self) -> None:  # older uvicorn
        pass


Ready = Callable[[plane.ControlPlane, int, list[dict[str, Any]]], None]


async def serve(control: plane.ControlPlane, *, ready: Ready, startup: list[plane.StartupDeploy] | None = None) -> None:
    """Run until ``control.stopping`` is set (signal or ``civic down``), then stop replicas."""
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, control.stopping.set)
    config = uvicorn.Config(
        app_mod.create(control), host="127.0.0.1", port=control.settings.api_port, log_level="warning", lifespan="off"
    )
    server = _Server(config)
    adopted = await control.start()
    api = asyncio.create_task(server.serve(), name="api")

    async def listening() -> bool:
        return server.started or api.done()

    try:
        await deadlines.apoll(
            listening, timeout=60, interval=0.02, what=f"the API to listen on 127.0.0.1:{control.settings.api_port}"
        )
    except deadlines.Timeout:
        server.should_exit = True
        await control.stop(keep_running=True)
        raise
    if api.done():
        await control.stop(keep_running=True)
        raise UsageError(
            f"the API cannot listen on 127.0.0.1:{control.settings.api_port} (is another "
            "'civic up' running?); choose another port with --api-port."
        )
    try:
        deployed = await plane.deploy_at_startup(control, startup or [])
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
