"""A real local runtime for tests: its event loop in a thread, real replicas, real HAProxy.

Tests drive it synchronously (``harness.deploy(...)``, ``harness.wait_for(...)``) and
send real HTTP through HAProxy's frontend. The finaliser stops every replica and
HAProxy, whatever the test did.
"""

from __future__ import annotations

import asyncio
import os
import sys
import threading
from collections.abc import Callable, Iterator

import httpx
import pytest

from civic import deadlines
from civic.backends import base
from civic.backends.local import backend as local
from civic.backends.local import replicas, tenancy
from civic.spec import models
from civic.store import deployments
from civic.store.state import StateStore

APP = os.path.join(os.path.dirname(os.path.abspath(__file__)), "apps", "webapp.py")
ENV = "shop-dev"

PLATFORM = models.Platform.model_validate(
    {"apiVersion": "civic/v1", "kind": "Platform", "metadata": {"name": "test"}, "spec": {"businessUnits": ["HQ"]}}
)
ENVIRONMENT = models.Environment.model_validate(
    {
        "apiVersion": "civic/v1",
        "kind": "Environment",
        "metadata": {"name": ENV},
        "spec": {
            "team": "shop",
            "businessUnit": "HQ",
            "application": "A shop",
            "production": False,
            "environmentName": "development",
        },
    }
)


def service_spec(**overrides) -> models.ServiceSpec:
    spec = {
        "run": {"command": [sys.executable, APP]},
        "replicas": 1,
        "readiness": {"path": "/healthz", "intervalSeconds": 0.2, "failureThreshold": 2},
        "liveness": {"path": "/healthz", "intervalSeconds": 0.2, "failureThreshold": 3},
        "rollout": {"progressDeadlineSeconds": 5, "terminationGraceSeconds": 2},
    }
    spec.update(overrides)
    return models.ServiceSpec.model_validate(spec)


class Harness:
    def __init__(self, tmp: str, *, isolated: bool | None = None) -> None:
        self.isolated = isolated  # None: as this machine allows (root: each service its own user)
        self.store = StateStore(os.path.join(tmp, "state.db"))
        self.records = deployments.Deployments(self.store)
        self.run_dir = os.path.join(tmp, "run")
        self.port = replicas.free_port()
        self.stats_port = replicas.free_port()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.backend = self._new_backend()
        self.services: dict[str, base.ServiceRevision] = {}

    def _new_backend(self) -> local.LocalBackend:
        instance = None if self.isolated is None else tenancy.Instance(self.run_dir, isolated=self.isolated)
        return local.create(
            run_dir=self.run_dir, records=self.records, port=self.port, stats_port=self.stats_port, instance=instance
        )

    def call(self, coro, timeout: float = 30.0):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def deploy(
        self,
        name: str = "web",
        *,
        revision: int = 1,
        replicas: int | None = None,
        generation: int = 0,
        environ: dict[str, str] | None = None,
        **spec,
    ) -> None:
        self.services[name] = base.ServiceRevision(
            ENV, name, revision, service_spec(**spec), environ or {}, replicas, generation
        )
        self.apply()

    def apply(self) -> None:
        desired = base.DesiredEnvironment(ENV, PLATFORM, ENVIRONMENT, tuple(self.services.values()))

        async def go() -> None:
            await self.backend.apply(desired)
            self.backend.start()

        self.call(go())

    def status(self, name: str = "web") -> base.ServiceStatus:
        observed = self.call(self.backend.observe(ENV))
        return next(s for s in observed.services if s.name == name)

    def replicas(self, name: str = "web") -> list:
        return [r for r in self.backend.supervisor.replicas(ENV) if r.service == name]

    def wait_for(self, what: str, predicate: Callable[[], object], timeout: float = 20.0) -> object:
        try:
            return deadlines.poll(predicate, timeout=timeout, interval=0.02, what=what)
        except deadlines.Timeout as e:
            raise AssertionError(f"{e}; status: {[self.status(n) for n in self.services]}") from e

    def client(self, name: str = "web") -> httpx.Client:
        return httpx.Client(
            base_url=f"http://127.0.0.1:{self.port}",
            headers={"Host": f"{name}.{ENV}.localhost:{self.port}"},
            timeout=10,
        )

    def restart_control_plane(self) -> None:
        """As if the control plane died: stop supervising, forget everything, adopt again."""
        self.call(self.backend.aclose())
        self.backend = self._new_backend()
        self.call(self.backend.adopt())

    def close(self) -> None:
        try:
            self.call(self.backend.stop_all(), timeout=60)
            self.backend.instance.remove()  # the services' users and folders, which civic down keeps
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)
            self.loop.close()
            self.store.close()


@pytest.fixture
def harness(tmp_path) -> Iterator[Harness]:
    h = Harness(str(tmp_path))
    try:
        yield h
    finally:
        h.close()


@pytest.fixture
def harness_at() -> Iterator[Callable[..., Harness]]:
    """A harness whose store and run dir lie in a folder the test chooses (``<folder>/state.db``,
    ``<folder>/run``); each one made is closed at the end."""
    made: list[Harness] = []

    def make(folder: str, *, isolated: bool | None = None) -> Harness:
        made.append(Harness(folder, isolated=isolated))
        return made[-1]

    try:
        yield make
    finally:
        for h in made:
            h.close()
