"""How the reconciler retries: a temporary error after its delay, a permanent one only when
the desired state changes or someone asks again, anything else with capped back-off.

The backend is :class:`ScriptedBackend`, written for these tests. It is a real, supported
implementation of :class:`civic.backends.base.Backend`, as httpx's ``MockTransport`` is of
a transport: the reconciler drives it through the protocol alone, with the real store
(SQLite) holding the example estate. It keeps each desired state it is given and answers
the applies of an environment with the errors of its script, then with success.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Awaitable, Callable

import pytest

from civic import deadlines, errors
from civic.backends import base
from civic.control import applying
from civic.reconcile import desired, loops
from civic.spec import estate, models
from civic.store import crypto, deployments, state

ENV = "laa-apply-dev"
WEB = models.Service.model_validate(
    {
        "apiVersion": "civic/v1",
        "kind": "Service",
        "metadata": {"name": "web"},
        "spec": {"run": {"command": ["python", "app.py"]}},
    }
).canonical()


class ScriptedBackend:
    """A backend that records what it is asked to apply and fails as its script says."""

    name = "scripted"

    def __init__(self, script: dict[str, list[errors.CivicError]]) -> None:
        self.script = {environment: list(failures) for environment, failures in script.items()}
        self.applied: list[tuple[float, base.DesiredEnvironment]] = []  # (monotonic, desired state)

    def attempts(self, environment: str) -> list[float]:
        return [at for at, d in self.applied if d.name == environment]

    def states(self, environment: str) -> list[base.DesiredEnvironment]:
        return [d for _, d in self.applied if d.name == environment]

    async def adopt(self) -> int:
        return 0

    def start(self) -> None:
        pass

    async def observe(self, environment: str) -> base.Observed:
        return base.Observed(environment, exists=True)

    async def apply(self, desired: base.DesiredEnvironment) -> None:
        self.applied.append((time.monotonic(), desired))
        failures = self.script.get(desired.name)
        if failures:
            raise failures.pop(0)

    def url(self, environment: str, service: str) -> str:
        return f"http://{service}.{environment}.test/"

    def replicas(self, environment: str | None = None) -> list[base.ReplicaView]:
        return []

    async def stop_all(self) -> None:
        pass

    async def aclose(self) -> None:
        pass


@pytest.fixture
def ctx(estate_dir, tmp_path, monkeypatch):
    monkeypatch.delenv(crypto.KEY_ENV, raising=False)
    store = state.StateStore(os.path.join(tmp_path, "state.db"))
    applying.apply(estate.load(estate_dir), store)
    yield desired.Context(
        store, deployments.Deployments(store), crypto.SecretBox.load(os.path.join(tmp_path, "secret.key"))
    )
    store.close()


@pytest.fixture
def logged(caplog):
    caplog.set_level(logging.INFO, logger="civic.reconcile")
    return lambda part: [m for m in caplog.messages if part in m]


async def until(predicate: Callable[[], object], *, what: str, timeout: float = 10.0) -> None:
    async def check() -> object:
        return predicate()

    await deadlines.apoll(check, timeout=timeout, what=what, interval=0.01)


def run(
    ctx: desired.Context,
    backend: ScriptedBackend,
    scenario: Callable[[loops.Reconciler], Awaitable[None]],
    **options: float,
) -> loops.Reconciler:
    async def go() -> loops.Reconciler:
        reconciler = loops.Reconciler(ctx, backend, watch=3600, **options)
        reconciler.start()
        try:
            await scenario(reconciler)
        finally:
            await reconciler.aclose()
        return reconciler

    return asyncio.run(go())


def gaps(times: list[float]) -> list[float]:
    return [later - earlier for earlier, later in zip(times[:-1], times[1:], strict=True)]


@pytest.mark.parametrize("kind", [errors.TemporaryError, errors.BackendUnavailable, errors.StoreError])
def test_a_temporary_error_is_tried_again_after_its_delay(ctx, logged, kind):
    backend = ScriptedBackend({ENV: [kind("the cluster is busy", delay=0.3)]})

    async def scenario(reconciler: loops.Reconciler) -> None:
        reconciler.trigger(ENV)
        await until(lambda: len(backend.attempts(ENV)) >= 2, what="a second attempt")

    reconciler = run(ctx, backend, scenario, resync=3600)
    assert gaps(backend.attempts(ENV))[0] >= 0.3
    assert logged("failed") == [f"reconciling {ENV} failed temporarily: the cluster is busy; will try again in 0.3 s"]
    assert reconciler.counts == {"temporary": 1}
    assert reconciler.failures == {}


def test_a_temporary_error_without_a_delay_is_tried_again_after_the_resync_interval(ctx, logged):
    backend = ScriptedBackend({ENV: [errors.StoreError("the state store is locked")]})

    async def scenario(reconciler: loops.Reconciler) -> None:
        reconciler.trigger(ENV)
        await until(lambda: len(backend.attempts(ENV)) >= 2, what="a second attempt")

    run(ctx, backend, scenario, resync=0.25)
    assert gaps(backend.attempts(ENV))[0] >= 0.25
    assert logged("failed") == [
        f"reconciling {ENV} failed temporarily: the state store is locked; will try again in 0.25 s"
    ]


def test_a_permanent_error_is_reported_once_and_waits_for_the_desired_state_to_change(ctx, logged):
    backend = ScriptedBackend({ENV: [errors.PermanentError("service 'web' asks for more than the quota")]})

    async def scenario(reconciler: loops.Reconciler) -> None:
        reconciler.trigger(ENV)
        await until(lambda: ENV in reconciler.failures, what="the failure to be reported")
        passes = reconciler.passes[ENV]
        await until(lambda: reconciler.passes[ENV] >= passes + 3, what="three more resyncs")
        assert len(backend.attempts(ENV)) == 1, "an unchanged desired state was applied again"
        failure = reconciler.failures[ENV]
        assert (failure.kind, failure.message) == ("PermanentError", "service 'web' asks for more than the quota")
        await asyncio.to_thread(ctx.records.add_revision, ENV, "web", spec=WEB, by="test")
        await until(
            lambda: len(backend.attempts(ENV)) >= 2 and ENV not in reconciler.failures,
            what="the new desired state applied",
        )

    reconciler = run(ctx, backend, scenario, resync=0.05)
    assert logged("failed") == [f"reconciling {ENV} failed permanently: service 'web' asks for more than the quota"]
    assert logged("succeeded") == [f"reconciling {ENV} succeeded; its earlier failure is over"]
    assert reconciler.counts == {"permanent": 1}
    first, *later = [[s.name for s in d.services] for d in backend.states(ENV)]
    assert first == [] and later and all(names == ["web"] for names in later)


def test_a_permanent_error_is_tried_again_when_triggered_from_any_thread(ctx, logged):
    refused = "policy 'memory-limit-ratio' denies it"
    backend = ScriptedBackend({ENV: [errors.PolicyDenied(refused), errors.PolicyDenied(refused)]})

    async def scenario(reconciler: loops.Reconciler) -> None:
        reconciler.trigger(ENV)
        await until(lambda: ENV in reconciler.failures, what="the failure to be reported")
        await asyncio.to_thread(reconciler.trigger, ENV)  # as a deploy through the API does
        await until(lambda: len(backend.attempts(ENV)) >= 2, what="a second attempt")
        assert reconciler.failures[ENV].message == refused
        reconciler.trigger(ENV)
        await until(lambda: ENV not in reconciler.failures, what="a third attempt that succeeds")

    reconciler = run(ctx, backend, scenario, resync=3600)
    assert len(backend.attempts(ENV)) == 3
    assert logged("failed") == [f"reconciling {ENV} failed permanently: {refused}"]  # once per message
    assert reconciler.counts == {"permanent": 1}


def test_a_desired_state_that_cannot_be_read_is_reported_once_and_read_again_later(
    tmp_path, estate_dir, monkeypatch, logged
):
    """An empty store has no platform: reading fails permanently, and the backend is not called."""
    monkeypatch.delenv(crypto.KEY_ENV, raising=False)
    store = state.StateStore(os.path.join(tmp_path, "state.db"))
    ctx = desired.Context(
        store, deployments.Deployments(store), crypto.SecretBox.load(os.path.join(tmp_path, "secret.key"))
    )
    backend = ScriptedBackend({})

    async def scenario(reconciler: loops.Reconciler) -> None:
        reconciler.trigger(ENV)
        await until(lambda: ENV in reconciler.failures, what="the failure to be reported")
        assert reconciler.failures[ENV].kind == "NotFound"
        reconciler.trigger(ENV)
        await until(lambda: reconciler.passes[ENV] >= 2, what="a second pass")
        assert backend.attempts(ENV) == []
        await asyncio.to_thread(applying.apply, estate.load(estate_dir), store)
        await until(
            lambda: backend.attempts(ENV) and ENV not in reconciler.failures, what="the environment applied at a resync"
        )

    try:
        reconciler = run(ctx, backend, scenario, resync=0.05)
    finally:
        store.close()
    assert logged("failed") == [
        f"reconciling {ENV} failed permanently: no platform has been applied to "
        "this store; 'civic apply' records the estate's civic.yaml."
    ]
    assert reconciler.counts == {"permanent": 1}


def test_a_permanent_failure_holds_up_no_other_environment(ctx):
    backend = ScriptedBackend({ENV: [errors.PermanentError("the quota is exceeded") for _ in range(100)]})

    async def scenario(reconciler: loops.Reconciler) -> None:
        reconciler.trigger(ENV)
        await until(lambda: ENV in reconciler.failures, what="the failure to be reported")
        await until(lambda: len(backend.attempts("opg-lpa-dev")) >= 3, what="three resyncs of another one")

    run(ctx, backend, scenario, resync=0.05)
    assert len(backend.attempts(ENV)) == 1


def test_other_errors_are_tried_again_with_exponential_back_off_up_to_a_cap(ctx, logged):
    backend = ScriptedBackend({ENV: [errors.BackendError("the cluster refused") for _ in range(4)]})

    async def scenario(reconciler: loops.Reconciler) -> None:
        reconciler.trigger(ENV)
        await until(lambda: len(backend.attempts(ENV)) >= 5, what="five attempts")

    reconciler = run(ctx, backend, scenario, resync=3600, backoff=0.05, max_backoff=0.2)
    delays = [0.05, 0.1, 0.2, 0.2]
    assert all(gap >= delay for gap, delay in zip(gaps(backend.attempts(ENV)[:5]), delays, strict=True))
    assert logged("failed") == [
        f"reconciling {ENV} failed: the cluster refused; will try again in {d:g} s (attempt {n})"
        for n, d in enumerate(delays, start=1)
    ]
    assert reconciler.counts == {"error": 4}
    assert reconciler.failures == {}
