"""Rolling updates under continuous traffic, automatic rollback, and control-plane restarts."""

from __future__ import annotations

from civic.backends.base import Health
from traffic import Traffic


def test_a_rolling_update_under_traffic_fails_no_request(harness):
    harness.deploy(replicas=2, revision=1, environ={"VERSION": "v1"})
    harness.wait_for("v1 ready", lambda: harness.status().ready == 2)
    with harness.client() as client, Traffic(client) as traffic:
        harness.wait_for("traffic flowing", lambda: traffic.ok > 20)
        harness.deploy(replicas=2, revision=2, environ={"VERSION": "v2"})
        harness.wait_for(
            "v2 rolled out",
            lambda: harness.status().health is Health.HEALTHY and {r.revision for r in harness.replicas()} == {2},
        )
        seen = traffic.ok
        harness.wait_for("more traffic on v2", lambda: traffic.ok > seen + 20)
    assert traffic.failures == []
    assert traffic.bodies == {"v1", "v2"}


def test_draining_lets_in_flight_requests_finish(harness):
    harness.deploy(replicas=1, revision=1, environ={"VERSION": "v1", "SLOW_SECONDS": "0.5"})
    harness.wait_for("v1 ready", lambda: harness.status().ready == 1)
    with harness.client() as client, Traffic(client, "/slow") as traffic:
        harness.wait_for("slow requests answered", lambda: traffic.ok >= 2)
        harness.deploy(replicas=1, revision=2, environ={"VERSION": "v2", "SLOW_SECONDS": "0.5"})
        harness.wait_for("v2 alone", lambda: {r.revision for r in harness.replicas()} == {2})
        seen = traffic.ok
        harness.wait_for("slow requests on v2", lambda: traffic.ok >= seen + 2)
    assert traffic.failures == []


def test_a_revision_that_never_gets_ready_is_failed_and_the_old_one_keeps_serving(harness):
    harness.deploy(revision=1, environ={"VERSION": "v1"})
    harness.wait_for("v1 ready", lambda: harness.status().ready == 1)
    with harness.client() as client, Traffic(client) as traffic:
        harness.deploy(
            revision=2,
            environ={"VERSION": "v2", "READY": "0"},
            rollout={"progressDeadlineSeconds": 1.5, "terminationGraceSeconds": 1},
        )
        status = harness.wait_for("revision 2 failed", lambda: (s := harness.status()).failed_revision == 2 and s)
        harness.wait_for("revision 2 stopped", lambda: {r.revision for r in harness.replicas()} == {1})
    assert "revision 2 did not become ready within 1.5 s" in status.message
    assert "GET /healthz returned 500" in status.message
    assert traffic.failures == [] and traffic.bodies == {"v1"}


def test_a_restarted_control_plane_adopts_its_replicas_without_failing_requests(harness):
    harness.deploy(replicas=2, environ={"VERSION": "v1"})
    harness.wait_for("ready", lambda: harness.status().ready == 2)
    before = {r.pid for r in harness.replicas()}
    with harness.client() as client, Traffic(client) as traffic:
        harness.wait_for("traffic", lambda: traffic.ok > 10)
        harness.restart_control_plane()
        assert {r.pid for r in harness.replicas()} == before
        seen = traffic.ok
        harness.wait_for("traffic while unsupervised", lambda: traffic.ok > seen + 10)
        harness.apply()
        harness.wait_for("healthy again", lambda: harness.status().health is Health.HEALTHY)
        seen = traffic.ok
        harness.wait_for("traffic after adoption", lambda: traffic.ok > seen + 10)
    assert {r.pid for r in harness.replicas()} == before, "no duplicates were started"
    assert traffic.failures == []


def test_a_restart_replaces_every_replica_one_by_one(harness):
    harness.deploy(replicas=2)
    harness.wait_for("ready", lambda: harness.status().ready == 2)
    before = {r.pid for r in harness.replicas()}
    with harness.client() as client, Traffic(client) as traffic:
        harness.deploy(replicas=2, generation=1)
        harness.wait_for(
            "all replaced",
            lambda: harness.status().health is Health.HEALTHY and not before & {r.pid for r in harness.replicas()},
        )
    assert traffic.failures == []
