"""Build, release, run, end to end: ``civic up`` as a subprocess, the CLI as a user runs it.

A deploy uploads the service's folder; the control plane builds it (uv, as the service's
own user) and replicas run from the release's own read-only copy. So a rollback runs the
old code, two services run two versions of one library side by side, a broken
requirements file leaves the running revision serving, and a deploy needs nothing of the
client's folder once it has been uploaded. Real parts: civic up, HAProxy, uv and the
package index (the network a build has).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import httpx
import pytest

from civic import deadlines

pytestmark = pytest.mark.e2e

ENV = "opg-lpa-dev"

APP = '''"""A service with no framework: it answers its version, and six's if it has one."""
import http.server
import os

VERSION = "{version}"
try:
    import six
    LIB = "six " + six.__version__
except ImportError:
    LIB = "no six"


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = f"{{VERSION}} {{LIB}} {{os.getcwd()}}\\n".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


http.server.ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler).serve_forever()
'''


def _app(folder, *, version: str, requirements: str | None = None) -> str:
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "app.py"), "w") as f:
        f.write(APP.format(version=version))
    path = os.path.join(folder, "requirements.txt")
    if requirements is not None:
        with open(path, "w") as f:
            f.write(requirements)
    elif os.path.exists(path):
        os.unlink(path)
    return str(folder)


def _answers(civic, service: str, env: str = ENV) -> str:
    """What the service answers now (through HAProxy), polled until it answers at all."""
    seen: list[str] = []

    def answered() -> bool:
        try:
            response = civic.client(service, env).get("/")
        except httpx.HTTPError:
            return False
        seen.append(response.text)
        return response.status_code == 200

    deadlines.poll(answered, timeout=30, what=f"{env}/{service} to answer")
    return seen[-1]


def _serves(civic, service: str, text: str, env: str = ENV) -> str:
    """Poll until the service answers with ``text`` in its body; the body."""
    seen: list[str] = []

    def serving() -> bool:
        try:
            seen.append(civic.client(service, env).get("/").text)
        except httpx.HTTPError:
            return False
        return text in seen[-1]

    try:
        deadlines.poll(serving, timeout=60, what=f"{env}/{service} to answer {text!r}")
    except deadlines.Timeout as e:
        raise AssertionError(f"{env}/{service} never answered {text!r}; last: {seen[-1:]}") from e
    return seen[-1]


def test_three_commands_take_a_new_team_from_nothing_to_a_live_url(civic, tmp_path):
    civic.up()
    team = civic.civic(
        "team", "create", "--estate", civic.estate, "--name", "parking", "--display-name", "Parking",
        "--email", "parking@example.gov.uk",
    )  # fmt: skip
    assert team.returncode == 0, team.stderr
    env = civic.civic(
        "env", "create", "--estate", civic.estate, "--name", "parking-dev", "--team", "parking",
        "--business-unit", "HQ", "--application", "Parking permits", "--owner", "Parking: parking@example.gov.uk",
        "--source-code", "https://github.com/ministryofjustice/parking", "--team-channel", "#parking",
        "--not-production", "--environment-name", "development",
    )  # fmt: skip
    assert env.returncode == 0, env.stderr
    # civic up follows the estate's files: the new environment is applied within its sync interval
    deadlines.poll(
        lambda: civic.civic("services", "parking-dev").returncode == 0, timeout=30, what="parking-dev to be applied"
    )
    app = _app(tmp_path / "permits", version="v1")  # no civic.service.yaml: Civic derives one
    deployed = civic.civic("deploy", "parking-dev", app)
    assert deployed.returncode == 0, deployed.stderr + deployed.stdout
    assert "derived this spec from app.py" in deployed.stdout and "command: python app.py" in deployed.stdout
    assert "http://permits.parking-dev.localhost" in deployed.stdout
    assert _answers(civic, "permits", "parking-dev").startswith("v1 no six")


def test_a_rollback_runs_the_code_of_the_earlier_revision(civic, tmp_path):
    civic.up()
    folder = _app(tmp_path / "clock", version="v1")
    first = civic.civic("deploy", ENV, folder)
    assert first.returncode == 0, first.stderr + first.stdout
    body = _serves(civic, "clock", "v1 ")
    cwd = body.split()[-1]
    assert cwd.endswith("/app") and "/releases/bld_" in cwd  # the release's own copy, not the folder deployed
    _app(folder, version="v2")  # the folder changes between deploys
    second = civic.civic("deploy", ENV, folder)
    assert second.returncode == 0, second.stderr + second.stdout
    _serves(civic, "clock", "v2 ")
    back = civic.civic("rollback", f"{ENV}/clock")
    assert back.returncode == 0, back.stderr
    assert "revision 1" in back.stdout
    assert _serves(civic, "clock", "v1 ").split()[-1] == cwd  # revision 1's code, though the folder says v2
    with open(os.path.join(folder, "app.py")) as f:
        assert 'VERSION = "v2"' in f.read()
    redeploy = civic.civic("deploy", ENV, folder)
    assert redeploy.returncode == 0 and "Code unchanged" in redeploy.stdout  # the v2 archive is kept: no upload


def test_two_services_need_two_versions_of_one_library_side_by_side(civic, tmp_path):
    civic.up()
    old = _app(tmp_path / "legacy", version="a", requirements="six==1.15.0\n")
    new = _app(tmp_path / "modern", version="b", requirements="six==1.16.0\n")
    for folder in (old, new):
        done = civic.civic("deploy", ENV, folder)
        assert done.returncode == 0, done.stderr + done.stdout
        assert "requirements.txt" in done.stdout  # "Built bld_... (requirements.txt) in ... s"
    assert _serves(civic, "legacy", "a six 1.15.0")
    assert _serves(civic, "modern", "b six 1.16.0")


def test_a_broken_requirements_file_keeps_the_old_revision_serving(civic, tmp_path):
    civic.up()
    folder = _app(tmp_path / "forms", version="v1", requirements="six==1.16.0\n")
    assert civic.civic("deploy", ENV, folder).returncode == 0
    _serves(civic, "forms", "v1 six 1.16.0")
    _app(folder, version="v2", requirements="six==1.16.0\ncivic-no-such-package-xyz==1.0\n")
    broken = civic.civic("deploy", ENV, folder)
    assert broken.returncode == 1
    assert "requirements.txt:2" in broken.stderr and "civic builds" in broken.stderr
    assert "Traceback" not in broken.stderr
    assert _answers(civic, "forms").startswith("v1 six 1.16.0")  # still the old code
    services = civic.civic("services", ENV)
    assert "forms" in services.stdout
    listed = civic.civic("builds", f"{ENV}/forms")
    assert listed.returncode == 0
    rows = [line.split() for line in listed.stdout.splitlines()[1:] if line.strip()]
    assert [row[3] for row in rows] == ["failed", "succeeded"]  # newest first
    logs = civic.civic("builds", f"{ENV}/forms", "--logs")
    assert logs.returncode == 0 and "civic-no-such-package-xyz" in logs.stdout and "failed" in logs.stdout


def test_a_deploy_from_another_folder_needs_nothing_of_it_afterwards(civic, tmp_path):
    civic.up()
    elsewhere = tmp_path / "laptop"
    elsewhere.mkdir()
    folder = _app(elsewhere / "checkout" / "notes", version="v1")
    spec = (
        "apiVersion: civic/v1\nkind: Service\nmetadata: {name: notes}\n"
        "spec:\n  run: {command: python app.py}\n  replicas: 2\n  readiness: {path: /}\n"
    )
    with open(os.path.join(folder, "civic.service.yaml"), "w") as f:
        f.write(spec)
    # from another working directory, by a relative path, through the API only
    deployed = subprocess.run(
        [sys.executable, "-m", "civic", "deploy", ENV, "checkout/notes"],
        cwd=elsewhere,
        env=civic.env,
        text=True,
        capture_output=True,
        timeout=300,
    )
    assert deployed.returncode == 0, deployed.stderr + deployed.stdout
    _serves(civic, "notes", "v1 ")
    shutil.rmtree(elsewhere)  # the laptop's checkout is gone: replicas run from the release
    assert civic.civic("restart", f"{ENV}/notes").returncode == 0
    civic.wait_ready("notes", 2)
    assert _answers(civic, "notes").startswith("v1 ")
