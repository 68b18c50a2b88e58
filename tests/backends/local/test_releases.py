"""What a replica runs: a read-only copy of its service's folder, and a runtime its user can execute.

Real replicas; the requirement installed is a small published wheel (h11), from the index
pip is configured with on this machine.
"""

from __future__ import annotations

import glob
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator

import pytest

from civic.backends.base import Health

APP = os.path.join(os.path.dirname(os.path.abspath(__file__)), "apps", "webapp.py")


@pytest.fixture
def folder() -> Iterator[str]:
    """A service's folder where every user may read it, as a deploy from a checkout is."""
    path = tempfile.mkdtemp(prefix="civic-service-")
    os.chmod(path, 0o755)
    shutil.copy(APP, os.path.join(path, "app.py"))
    os.chmod(os.path.join(path, "app.py"), 0o644)
    with open(os.path.join(path, "requirements.txt"), "w") as f:
        f.write("# what app.py needs\nh11>=0.14  # a small pure-Python wheel\n")
    os.chmod(os.path.join(path, "requirements.txt"), 0o644)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _id(harness, service: str = "web") -> dict:
    with harness.client(service) as client:
        return client.get("/id").json()


def _deploy(harness, folder: str, name: str = "web", **options) -> None:
    harness.deploy(name, run={"command": ["python", "app.py"], "workingDir": folder}, **options)


def _failed(harness, what: str):
    """The service's status once it says why nothing runs (and HAProxy, started on the first
    tick whatever the services do, is up: stopping the test mid-start would leave its check)."""
    status = harness.wait_for(what, lambda: (s := harness.status()).message and s, timeout=120)
    harness.wait_for("HAProxy up", lambda: harness.backend.supervisor.dataplane.handle is not None)
    return status


def test_a_replica_runs_a_read_only_copy_of_its_folder_with_its_requirements_installed(harness, folder):
    _deploy(harness, folder)
    harness.wait_for("web ready", lambda: harness.status().ready == 1, timeout=120)
    me = _id(harness)
    assert me["cwd"] != folder and os.path.basename(os.path.dirname(me["cwd"])) == "releases"
    with open(os.path.join(me["cwd"], "app.py")) as copied, open(APP) as original:
        assert copied.read() == original.read()
    with harness.client() as client:
        refused = client.get("/write", params={"path": os.path.join(me["cwd"], "app.py")})
    assert refused.status_code == 403, "the replica cannot change its code"
    assert os.path.realpath(me["prefix"]) != os.path.realpath(sys.prefix), "a runtime of its own, not Civic's"
    assert glob.glob(os.path.join(me["prefix"], "lib", "python3*", "site-packages", "h11"))

    # A change to the folder reaches the next revision; a restart of this one keeps its copy.
    with open(os.path.join(folder, "app.py"), "a") as f:
        f.write("\n# revision 2\n")
    _deploy(harness, folder, generation=1)
    harness.wait_for(
        "restarted", lambda: _id(harness)["cwd"] == me["cwd"] and harness.status().health is Health.HEALTHY
    )
    _deploy(harness, folder, revision=2)
    harness.wait_for(
        "revision 2", lambda: harness.status().health is Health.HEALTHY and _id(harness)["cwd"] != me["cwd"]
    )
    with open(os.path.join(_id(harness)["cwd"], "app.py")) as f:
        assert f.read().endswith("# revision 2\n")


def test_services_with_the_same_requirements_share_one_runtime(harness, folder):
    _deploy(harness, folder, "web")
    _deploy(harness, folder, "api")
    harness.wait_for("both ready", lambda: harness.status("web").ready == harness.status("api").ready == 1, timeout=120)
    web, api = _id(harness, "web"), _id(harness, "api")
    assert web["prefix"] == api["prefix"] and web["uid"] != api["uid"]


def test_requirements_that_cannot_be_installed_are_reported_and_nothing_runs(harness, folder):
    with open(os.path.join(folder, "requirements.txt"), "w") as f:
        f.write("civic-no-such-package-anywhere==1.0\n")
    _deploy(harness, folder)
    status = _failed(harness, "the failure")
    assert "installing requirements.txt failed" in status.message
    assert "civic-no-such-package-anywhere" in status.message
    assert harness.replicas() == []


def test_a_requirement_that_is_not_a_published_package_is_refused_at_its_line(harness, folder):
    with open(os.path.join(folder, "requirements.txt"), "w") as f:
        f.write("h11\n-r /etc/shadow\n")
    _deploy(harness, folder)
    status = _failed(harness, "the refusal")
    assert f"{folder}/requirements.txt:2: '-r /etc/shadow' is not a plain requirement" in status.message
    assert harness.replicas() == []


@pytest.mark.skipif(os.geteuid() != 0, reason="replicas run as Civic's own user when it is not root")
def test_a_folder_the_services_user_cannot_read_is_not_copied(harness, folder):
    secret = os.path.join(folder, "token")
    with open(secret, "w") as f:
        f.write("only root reads this\n")
    os.chmod(secret, 0o600)
    _deploy(harness, folder)
    status = _failed(harness, "the refusal")
    assert "cannot copy its working folder " + folder in status.message
    assert "Permission denied" in status.message and "token" in status.message
    assert harness.replicas() == []
