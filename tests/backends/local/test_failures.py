"""One service's failure stays its own: the others are still supervised, and a revision
that cannot start is failed at once instead of after its progress deadline."""

from __future__ import annotations

import functools
import os
import sys

import httpx

from civic.backends.base import Health
from civic.control import applying, deploying
from civic.reconcile import desired, loops
from civic.spec import estate
from civic.store import crypto
from traffic import Traffic

APP = os.path.join(os.path.dirname(os.path.abspath(__file__)), "apps", "webapp.py")
ROLLED = "laa-apply-dev"  # an environment of the example estate, which the rollback test applies


def test_a_service_whose_spawn_raises_does_not_stop_the_others(harness):
    # An environment variable with a NUL byte makes the spawn itself raise (ValueError:
    # embedded null byte), not the process exit: validation refuses such names, but the
    # supervisor must not depend on it.
    harness.deploy("broken", environ={"BAD": "a\x00b"})
    harness.deploy("web", environ={"VERSION": "v1"})
    harness.wait_for("web ready", lambda: harness.status("web").ready == 1)
    with harness.client("web") as client:
        assert client.get("/").text.split()[0] == "v1"
    broken = harness.wait_for("broken failed", lambda: (s := harness.status("broken")).failed_revision == 1 and s)
    assert broken.health is Health.DEGRADED
    assert "embedded null byte" in broken.message
    assert "ValueError" in broken.message
    assert harness.replicas("broken") == []
    unit = harness.backend.supervisor.units[("shop-dev", "broken")]
    assert "embedded null byte" in unit.last_problem
    # The healthy service keeps being supervised: a scale-up still happens.
    harness.deploy("web", replicas=2, environ={"VERSION": "v1"})
    harness.wait_for("web scaled", lambda: harness.status("web").ready == 2)


def test_a_revision_whose_process_exits_at_once_is_rolled_back_without_waiting_for_its_deadline(
    harness, estate_dir, tmp_path, monkeypatch
):
    """The whole path: the supervisor fails revision 2, the reconciler's rollback watcher
    marks it failed and makes revision 1 current again, which never stopped serving."""
    monkeypatch.delenv(crypto.KEY_ENV, raising=False)
    applying.apply(estate.load(estate_dir), harness.store)
    ctx = desired.Context(harness.store, harness.records, crypto.SecretBox.load(str(tmp_path / "secret.key")))
    reconciler = loops.Reconciler(
        ctx,
        harness.backend,
        resync=0.2,
        watch=0.05,
        on_failed=functools.partial(deploying.fail_and_roll_back, ctx.records),
    )

    async def start() -> None:
        reconciler.start()
        harness.backend.start()

    harness.call(start())
    try:
        harness.records.add_revision(ROLLED, "web", spec=_service([sys.executable, APP]), by="test")
        reconciler.trigger(ROLLED)
        harness.wait_for("revision 1 ready", lambda: _ready(harness, ROLLED) == 1)
        with _client(harness, ROLLED) as client, Traffic(client) as traffic:
            # A deadline far longer than the test may take: the failure must not wait for it.
            harness.records.add_revision(ROLLED, "web", spec=_service([sys.executable, "nonexistent.py"]), by="test")
            reconciler.trigger(ROLLED)
            harness.wait_for("the rollback", lambda: harness.records.current_of(ROLLED, "web").revision == 1)
            failed = harness.records.revision(ROLLED, "web", 2)
            assert failed.status == "failed"
            assert "revision 2 failed to start 3 times in a row, and no replica of it was ever ready" in failed.message
            assert "exited with code 2" in failed.message
            assert "nonexistent.py" in failed.message and "No such file or directory" in failed.message
            assert failed.message.endswith("; rolled back to revision 1.")
            harness.wait_for("revision 2 stopped", lambda: {r.revision for r in _replicas(harness, ROLLED)} == {1})
            seen = traffic.ok
            harness.wait_for("revision 1 still serving", lambda: traffic.ok > seen + 10)
        assert traffic.failures == [] and traffic.bodies == {"v1"}
    finally:
        harness.call(reconciler.aclose())


def test_a_first_revision_that_keeps_crashing_keeps_being_retried(harness):
    """With nothing to fall back to, failing fast would help no one: it crash-loops, as before."""
    harness.deploy(run={"command": [sys.executable, "nonexistent.py"]})
    status = harness.wait_for("crash-looping", lambda: (s := harness.status()).health is Health.CRASH_LOOPING and s)
    assert status.failed_revision is None
    assert "exited with code 2" in status.message


def _service(command: list[str]) -> dict:
    return {
        "apiVersion": "civic/v1",
        "kind": "Service",
        "metadata": {"name": "web"},
        "spec": {
            "run": {"command": command},
            "env": {"VERSION": "v1"},
            "readiness": {"path": "/healthz", "intervalSeconds": 0.2, "failureThreshold": 2},
            "rollout": {"progressDeadlineSeconds": 3600, "terminationGraceSeconds": 1},
        },
    }


def _replicas(harness, environment: str) -> list:
    return harness.backend.supervisor.replicas(environment)


def _ready(harness, environment: str) -> int:
    observed = harness.call(harness.backend.observe(environment))
    return sum(s.ready for s in observed.services)


def _client(harness, environment: str) -> httpx.Client:
    return httpx.Client(
        base_url=f"http://127.0.0.1:{harness.port}",
        headers={"Host": f"web.{environment}.localhost:{harness.port}"},
        timeout=10,
    )
