"""Every process Civic started is found again (issue 12, item 13).

A replica is recorded just after it is spawned; a control plane killed between the two leaves
a process that no record names. It carries its id and its Civic's identity in its
environment, so the next control plane finds it at adoption and stops it.
"""

from __future__ import annotations

import os

import psutil

from civic.backends.local import processes, replicas

APP = os.path.join(os.path.dirname(os.path.abspath(__file__)), "apps", "webapp.py")


def test_a_replica_spawned_but_never_recorded_is_found_and_stopped_at_adoption(harness):
    harness.deploy("web")
    harness.wait_for("web ready", lambda: harness.status().ready == 1)
    recorded = harness.replicas()[0]
    # As `start` spawns one, but the control plane is killed before it records it.
    orphan = replicas.start(harness.services["web"], generation=0, run_dir=harness.run_dir)
    assert processes.alive(orphan.handle)
    assert orphan.id not in {r.id for r in harness.records.replica_records()}
    marker = harness.wait_for(  # the environment of the command, once the launcher has become it
        "the replica's marks",
        lambda: (env := psutil.Process(orphan.handle.pid).environ()).get("CIVIC_INSTANCE") and env,
    )
    assert marker["CIVIC_REPLICA_ID"] == orphan.id

    harness.restart_control_plane()

    harness.wait_for("the orphan stopped", lambda: not processes.poll(orphan.handle)[0], timeout=15)
    assert [r.id for r in harness.replicas()] == [recorded.id], "the recorded replica is adopted, and only it"
    assert processes.alive(processes.Handle(recorded.pid, harness.records.replica_records()[0].start_time))
    with harness.client() as client:
        assert client.get("/").status_code == 200


def test_a_recorded_replica_and_the_processes_it_started_are_left_alone(harness):
    harness.deploy("web", run={"command": ["python", "-c", _FORKS]}, environ={"APP": APP})
    harness.wait_for("web ready", lambda: harness.status().ready == 1)
    parent = psutil.Process(harness.replicas()[0].pid)
    child = harness.wait_for("its child", lambda: parent.children())[0]
    harness.restart_control_plane()
    assert [r.pid for r in harness.replicas()] == [parent.pid]
    assert child.is_running() and child.status() != psutil.STATUS_ZOMBIE


_FORKS = """
import os, subprocess, sys
subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
os.execvp(sys.executable, [sys.executable, os.environ["APP"]])
"""
