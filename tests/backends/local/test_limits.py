"""cpu and memory limits, enforced by the kernel's control groups (cgroup v1 on these machines).

The enforcement tests run real replicas in real control groups; the cgroup v2 layout is
checked against a FAKE tree in a temporary folder, since these machines' kernels mount v1.
"""

from __future__ import annotations

import os

import httpx

from civic.backends.local import limits


def _limiter() -> limits.Limiter:
    found = limits.enforcer()
    assert found is not None, (
        "this machine gives no writable control groups: the runtime tests need root on Linux, as CI has"
    )
    return found


def test_a_replica_over_its_memory_limit_is_killed_and_says_why(harness):
    _limiter()
    harness.deploy(resources={"memory": "64Mi"})
    harness.wait_for("ready", lambda: harness.status().ready == 1)
    victim = harness.replicas()[0]
    assert victim.limited
    with harness.client() as client:
        assert client.get("/allocate?mb=8").status_code == 200  # well within the limit
        try:
            client.get("/allocate?mb=200")
        except httpx.HTTPError:
            pass  # the kernel killed it mid-request
    unit = harness.backend.supervisor.units[("shop-dev", "web")]
    harness.wait_for("the replica killed for its memory", lambda: "memory limit" in unit.last_problem)
    assert f"replica {victim.id} was killed for using more than its memory limit (64Mi)" in unit.last_problem
    harness.wait_for(
        "a replacement ready", lambda: harness.status().ready == 1 and harness.replicas()[0].pid != victim.pid
    )
    harness.wait_for(
        "its control group removed", lambda: not any(os.path.exists(d) for d in _limiter().dirs(victim.id))
    )


def test_a_replica_gets_no_more_cpu_than_its_limit(harness):
    limiter = _limiter()
    harness.deploy(resources={"cpu": "200m"})
    harness.wait_for("ready", lambda: harness.status().ready == 1)
    replica = harness.replicas()[0]
    with harness.client() as client:
        share = float(client.get("/burn?seconds=1").text)
    assert share < 0.35, f"a replica limited to 200m used {share:.2f} of a CPU"
    if limiter.version == 1:
        stat = os.path.join(limiter.root, "cpu", limits.PARENT, replica.id, "cpu.stat")
    else:
        stat = os.path.join(limiter.dirs(replica.id)[0], "cpu.stat")
    assert limits._field(stat, "nr_throttled") > 0, "the kernel throttled it"


def test_a_replica_without_limits_is_left_alone(harness):
    harness.deploy()
    harness.wait_for("ready", lambda: harness.status().ready == 1)
    replica = harness.replicas()[0]
    assert not replica.limited
    assert not any(os.path.exists(d) for d in _limiter().dirs(replica.id))


def test_quantities_become_kernel_settings():
    wanted = limits.Limits.of("500m", "256Mi")
    assert (wanted.millicores, wanted.memory) == (500, 256 * 1024 * 1024)
    assert not limits.Limits.of(None, None)
    v1 = limits.V1("/sys/fs/cgroup")
    assert v1._settings(wanted) == [
        ("memory.limit_in_bytes", str(256 << 20)),
        ("cpu.cfs_period_us", "100000"),
        ("cpu.cfs_quota_us", "50000"),
    ]
    assert limits.V2("/x")._settings(limits.Limits.of("2", None)) == [("cpu.max", "200000 100000")]


def test_the_cgroup_v2_layout_on_a_fake_tree(tmp_path):
    """A FAKE unified hierarchy (plain files in tmp_path): what Civic writes, and where."""
    (tmp_path / "cgroup.controllers").write_text("cpuset cpu io memory pids\n")
    limiter = limits.detect(str(tmp_path))
    assert isinstance(limiter, limits.V2)
    limiter.apply("web-1-abc123", 4242, limits.Limits.of("250m", "128Mi"))
    group = tmp_path / "civic" / "web-1-abc123"
    assert (tmp_path / "civic" / "cgroup.subtree_control").read_text() == "+memory +cpu"
    assert (group / "memory.max").read_text() == str(128 << 20)
    assert (group / "cpu.max").read_text() == "25000 100000"
    assert (group / "cgroup.procs").read_text() == "4242"
    (group / "memory.events").write_text("low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n")
    assert limiter.killed_for_memory("web-1-abc123")
    (tmp_path / "cgroup.controllers").write_text("cpuset io pids\n")
    assert limits.detect(str(tmp_path)) is None, "no memory and cpu controllers: not enforced"


def test_sweeping_removes_groups_left_empty_and_keeps_those_with_processes():
    limiter = _limiter()
    import subprocess
    import sys

    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        limiter.apply("sweep-test-live", sleeper.pid, limits.Limits.of(None, "64Mi"))
        limiter.apply("sweep-test-gone", os.getpid(), limits.Limits.of(None, "1Gi"))
        for path in limiter.dirs("sweep-test-gone"):  # give the test process back to the root group
            root = path.rsplit("/" + limits.PARENT + "/", 1)[0]
            with open(os.path.join(root, "cgroup.procs"), "w") as f:
                f.write(str(os.getpid()))
        limiter.sweep()
        assert not limiter.holds("sweep-test-gone")
        assert limiter.holds("sweep-test-live")
    finally:
        sleeper.kill()
        sleeper.wait()
        limiter.remove("sweep-test-live")
    assert not limiter.holds("sweep-test-live")
