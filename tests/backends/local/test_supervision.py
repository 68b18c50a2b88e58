"""Replicas as real processes behind real HAProxy: deploy, scale, crash, restart back-off."""

from __future__ import annotations

import os
import signal
import threading

from civic.backends.base import Health


def test_a_deployed_service_answers_through_haproxy_by_host(harness):
    harness.deploy(replicas=2, environ={"VERSION": "v1"})
    harness.wait_for("2 ready", lambda: harness.status().ready == 2)
    with harness.client() as client:
        bodies = {client.get("/").text for _ in range(6)}
    assert {b.split()[0] for b in bodies} == {"v1"}
    assert len(bodies) == 2, "requests are balanced over both replicas"
    assert harness.status().health is Health.HEALTHY
    with harness.client("nothing") as client:
        assert client.get("/").status_code == 404


def test_scaling_up_and_down_changes_the_processes(harness):
    harness.deploy(replicas=1)
    harness.wait_for("1 ready", lambda: harness.status().ready == 1)
    harness.deploy(replicas=3)
    harness.wait_for("3 ready", lambda: harness.status().ready == 3)
    pids = {r.pid for r in harness.replicas()}
    assert len(pids) == 3
    harness.deploy(replicas=1)
    harness.wait_for("1 replica left", lambda: len(harness.replicas()) == 1)
    gone = pids - {r.pid for r in harness.replicas()}
    harness.wait_for(
        "stopped processes gone", lambda: not any(os.path.exists(f"/proc/{p}") and _state(p) != "Z" for p in gone)
    )


def test_a_killed_replica_is_replaced_and_serves_again(harness):
    harness.deploy(replicas=1)
    harness.wait_for("ready", lambda: harness.status().ready == 1)
    victim = harness.replicas()[0]
    os.kill(victim.pid, signal.SIGKILL)
    harness.wait_for(
        "a new replica ready", lambda: harness.status().ready == 1 and harness.replicas()[0].pid != victim.pid
    )
    with harness.client() as client:
        assert client.get("/").text.split()[1] == str(harness.replicas()[0].pid)


def test_requests_sent_while_the_only_replica_is_replaced_wait_for_it_instead_of_failing(harness):
    harness.deploy(replicas=1)
    harness.wait_for("ready", lambda: harness.status().ready == 1)
    victim = harness.replicas()[0]
    answers: list[tuple[int, str]] = []

    def ask() -> None:
        with harness.client() as client:
            response = client.get("/")
            answers.append((response.status_code, response.text))

    os.kill(victim.pid, signal.SIGKILL)
    before_reaped = threading.Thread(target=ask)
    before_reaped.start()
    harness.wait_for("the supervisor to notice", lambda: all(r.pid != victim.pid for r in harness.replicas()))
    after_reaped = threading.Thread(target=ask)  # no replica is ready now: the request must wait
    after_reaped.start()
    before_reaped.join(10)
    after_reaped.join(10)
    assert [code for code, _ in answers] == [200, 200], answers
    assert all(text.split()[1] != str(victim.pid) for _, text in answers)


def test_a_replica_that_keeps_crashing_is_shown_as_crash_looping(harness):
    harness.deploy(environ={"CRASH": "1"})
    status = harness.wait_for("crash-looping", lambda: (s := harness.status()).health is Health.CRASH_LOOPING and s)
    assert "exited with code 3: boom: CRASH is set" in status.message


def test_a_replica_that_fails_liveness_is_restarted(harness):
    harness.deploy(
        liveness={"path": "/livez", "intervalSeconds": 0.1, "failureThreshold": 2},
        readiness={"path": "/healthz", "intervalSeconds": 0.1},
        environ={"LIVE": "0"},
    )
    first = harness.wait_for("first replica", lambda: harness.replicas() and harness.replicas()[0].pid)
    harness.wait_for("replaced after failing liveness", lambda: any(r.pid != first for r in harness.replicas()))
    assert "failed its liveness check" in harness.backend.supervisor.units[("shop-dev", "web")].last_problem


def _state(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "gone"
