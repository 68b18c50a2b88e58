"""Releases built from uploaded code, as the service's own user: real uv, npm, PyPI and the npm registry.

Each test builds a real .tar.gz into a release of a tenant of a real instance, whose data
folder lies where every user may traverse it (pytest's own temporary folders are private to
root, which would hide what Civic's modes do). Where Civic runs as root, each service builds
as a user of its own; the tests that say so need that.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import os
import shutil
import stat
import subprocess
import sys
import tarfile
import tempfile
import textwrap
import time
from collections.abc import Iterator

import psutil
import pytest
import uv

from civic import deadlines
from civic.backends import base
from civic.backends.local import builds, limits, processes, releases, replicas, tenancy
from civic.errors import BackendError, BuildFailed
from civic.spec import models

ENV = "shop-dev"
root_only = pytest.mark.skipif(os.geteuid() != 0, reason="a build runs as its service's own user only under root")
RUN = {"command": ["python", "app.py"]}
PACKAGE_JSON = '{"name": "shop", "version": "1.0.0", "dependencies": {"is-number": "7.0.0"}}\n'
PACKAGE_LOCK = """{
  "name": "shop",
  "version": "1.0.0",
  "lockfileVersion": 3,
  "requires": true,
  "packages": {
    "": {"name": "shop", "version": "1.0.0", "dependencies": {"is-number": "7.0.0"}},
    "node_modules/is-number": {
      "version": "7.0.0",
      "resolved": "https://registry.npmjs.org/is-number/-/is-number-7.0.0.tgz",
      "integrity": "sha512-41Cifkg6e8TylSpdtTpeLVMqvSBEVzTttHvERD741+pnZ8ANv0004MRL43QKPDlK9cGvNp6NZWZUBlbGXYxxng==",
      "license": "MIT",
      "engines": {"node": ">=0.12.0"}
    }
  }
}
"""


class Builds:
    """A builder over an instance in a fresh data folder, and the archives it is given."""

    def __init__(self, root: str) -> None:
        self.root = root
        run_dir = os.path.join(root, "estate", ".civic", "run")
        os.makedirs(run_dir)
        tenancy.secure_run_dir(run_dir)  # as civic up leaves it: Civic's own
        self.instance = tenancy.Instance(run_dir, root=os.path.join(root, "data"))
        self.builder = builds.Builder(self.instance)
        self.count = 0

    def tenant(self, service: str = "web") -> tenancy.Tenant:
        return self.instance.tenant(ENV, service)

    def archive(self, files: dict[str, str]) -> tuple[str, str]:
        """A .tar.gz of ``files`` (name → text) as a client packs a folder: its digest and its path."""
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
            for name, text in files.items():
                data = text.encode()
                info = tarfile.TarInfo(name)
                info.size, info.mode, info.mtime = len(data), 0o644, 1_700_000_000
                archive.addfile(info, io.BytesIO(data))
        data = buffer.getvalue()
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        path = os.path.join(self.root, digest.removeprefix("sha256:") + ".tar.gz")
        with open(path, "wb") as f:
            f.write(data)
        return digest, path

    def request(self, files: dict[str, str], build_id: str, service: str = "web", **spec) -> base.BuildRequest:
        digest, path = self.archive(files)
        service_spec = models.ServiceSpec.model_validate({"run": RUN, **spec})
        return base.BuildRequest(ENV, service, build_id, digest, path, service_spec)

    def build(self, files: dict[str, str], build_id: str, service: str = "web", **spec) -> tuple[base.BuildResult, str]:
        log = io.StringIO()
        result = self.builder.build(self.request(files, build_id, service, **spec), log)
        return result, log.getvalue()

    def fail(self, files: dict[str, str], build_id: str, service: str = "web", **spec) -> tuple[str, str]:
        log = io.StringIO()
        with pytest.raises(BuildFailed) as failed:
            self.builder.build(self.request(files, build_id, service, **spec), log)
        return failed.value.message, log.getvalue()

    def as_tenant(self, argv: list[str], service: str = "web", cwd: str = "/") -> subprocess.CompletedProcess:
        """Run ``argv`` as the service's user (as a replica runs), its output captured."""
        tenant = self.tenant(service)
        return subprocess.run(
            argv,
            cwd=cwd,
            env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"},
            capture_output=True,
            text=True,
            timeout=60,
            user=tenant.uid,
            group=tenant.gid,
            extra_groups=[] if tenant.uid is not None else None,
        )


@pytest.fixture
def builder() -> Iterator[Builds]:
    root = tempfile.mkdtemp(prefix="civic-builds-")
    os.chmod(root, 0o755)
    made = Builds(root)
    try:
        yield made
    finally:
        made.instance.remove()
        shutil.rmtree(root, ignore_errors=True)


def _with_run(revision: base.ServiceRevision, run: dict) -> base.ServiceRevision:
    return dataclasses.replace(revision, spec=models.ServiceSpec.model_validate({"run": run}))


def _imports(builds_: Builds, result: base.BuildResult, service: str = "web") -> tuple[str, str]:
    """What the release's Python imports as six, run as the service's user: (version, file)."""
    python = os.path.join(result.folder, "venv", "bin", "python")
    done = builds_.as_tenant([python, "-c", "import six, sys; print(six.__version__, six.__file__)"], service)
    assert done.returncode == 0, done.stderr
    version, path = done.stdout.split()
    return version, path


def test_a_requirements_txt_build_is_a_release_with_its_own_runtime(builder):
    result, log = builder.build({"app.py": "print('hi')\n", "requirements.txt": "six==1.16.0\n"}, "bld_one")
    tenant = builder.tenant()
    assert result.folder == os.path.join(tenant.releases, "bld_one")
    assert (result.kind, result.cached) == ("requirements.txt", False)
    assert result.lock_digest is not None and result.lock_digest.startswith("sha256:")
    assert sorted(os.listdir(result.folder)) == ["app", "build.json", "venv"]
    assert sorted(os.listdir(os.path.join(result.folder, "app"))) == ["app.py", "requirements.txt"]
    version, path = _imports(builder, result)
    assert version == "1.16.0"
    assert path.startswith(os.path.join(result.folder, "venv") + os.sep), "its own venv, shared with none"
    assert result.size > 100_000, "the runtime is counted"

    lines = log.splitlines()
    assert lines[0].startswith("building shop-dev/web from sha256:") and "bld_one" in lines[0]
    assert "$ uv pip install --python ../venv/bin/python -r requirements.txt" in lines
    assert any(line.strip() == "+ six==1.16.0" for line in lines), "uv's own output is in the log"
    assert lines[-1].startswith("built release bld_one in ")
    assert builder.builder.has(ENV, "web", "bld_one")


def test_two_services_run_two_versions_of_one_library_side_by_side(builder):
    web, _ = builder.build({"app.py": "", "requirements.txt": "six==1.16.0\n"}, "bld_web", "web")
    api, _ = builder.build({"app.py": "", "requirements.txt": "six==1.15.0\n"}, "bld_api", "api")
    assert _imports(builder, web, "web")[0] == "1.16.0"
    assert _imports(builder, api, "api")[0] == "1.15.0"
    # and two releases of one service, each with its own
    older, _ = builder.build({"app.py": "", "requirements.txt": "six==1.15.0\n"}, "bld_older", "web")
    assert (_imports(builder, web)[0], _imports(builder, older)[0]) == ("1.16.0", "1.15.0")


def test_a_requirement_that_does_not_exist_fails_at_its_line_and_leaves_nothing(builder):
    files = {"app.py": "", "requirements.txt": "six==1.16.0\ncivic-no-such-package-xyz==1.0  # a typo\n"}
    message, log = builder.fail(files, "bld_broken")
    assert message.startswith("requirements.txt:2: civic-no-such-package-xyz==1.0: "), message
    assert "not found in the package registry" in message
    assert message.endswith(
        "the running revision is unchanged; 'civic builds shop-dev/web --logs' shows the whole build."
    )
    assert os.listdir(builder.tenant().releases) == [], "no release and no half-built folder"
    assert not builder.builder.has(ENV, "web", "bld_broken")
    assert log.splitlines()[-1].startswith("build failed after ")


def test_a_failing_build_command_is_named_with_its_last_lines(builder):
    files = {"app.py": "", "build.py": "import sys\nprint('compiling')\nsys.exit('error: no assets here')\n"}
    message, log = builder.fail(files, "bld_cmd", build={"command": "python build.py"})
    assert message.startswith("the build command (python build.py) failed (exit code 1): error: no assets here"), (
        message
    )
    assert "compiling" in log
    assert os.listdir(builder.tenant().releases) == []


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        ({"package.json": PACKAGE_JSON}, "package.json has no package-lock.json"),
        ({"requirements.txt": "six\n-e .\n"}, "requirements.txt:2: '-e .' is editable"),
        ({"uv.lock": "version = 1\n"}, "uv.lock: its pyproject.toml is missing"),
    ],
)
def test_code_a_build_cannot_use_is_refused_before_any_step_runs(builder, files, expected):
    message, log = builder.fail({"app.py": "", **files}, "bld_refused")
    assert message.startswith(expected), message
    assert "$ " not in log, "no step ran"
    assert os.listdir(builder.tenant().releases) == []


def test_an_archive_that_does_not_match_its_digest_is_refused(builder):
    request = builder.request({"app.py": ""}, "bld_swapped")
    _, other = builder.archive({"app.py": "import os; os.system('evil')\n"})
    with pytest.raises(BuildFailed, match="the uploaded archive's bytes have the digest"):
        builder.builder.build(
            base.BuildRequest(ENV, "web", "bld_swapped", request.artifact, other, request.spec), io.StringIO()
        )
    assert os.listdir(builder.tenant().releases) == []


def test_a_python_this_machine_lacks_is_named(builder):
    message, _ = builder.fail({"app.py": ""}, "bld_py", build={"python": "3.9"})
    assert message.startswith("build.python: no Python 3.9 here that services can run; found: "), message
    assert "remove build.python" in message


@root_only
def test_the_build_runs_as_the_services_user_and_reaches_nothing_else(builder):
    other = builder.tenant("other")
    run_dir = builder.instance.run_dir
    probe = textwrap.dedent(
        """
        import json, os, sys
        def attempt(path):
            try:
                with open(path, "w") as f:
                    f.write("planted")
                return "written"
            except OSError as e:
                return type(e).__name__
        with open("made.txt", "w") as f:
            f.write("made by the build")
        report = {
            "uid": os.getuid(), "euid": os.geteuid(), "groups": os.getgroups(),
            "made_by": os.stat("made.txt").st_uid, "environ": sorted(os.environ),
            "home": os.environ["HOME"], "python": sys.executable,
            "other": attempt(os.path.join(sys.argv[1], "planted")),
            "run_dir": attempt(os.path.join(sys.argv[2], "planted")),
            "data": attempt(os.path.join(sys.argv[3], "planted")),
        }
        with open("report.json", "w") as f:
            json.dump(report, f)
        """
    )
    command = ["python", "probe.py", other.home, run_dir, builder.instance.root]
    result, _ = builder.build({"app.py": "", "probe.py": probe}, "bld_probe", build={"command": command})
    with open(os.path.join(result.folder, "app", "report.json")) as f:
        report = json.load(f)
    tenant = builder.tenant()
    assert report["uid"] == report["euid"] == report["made_by"] == tenant.uid != other.uid
    assert report["groups"] == [], "no supplementary groups"
    assert (report["other"], report["run_dir"], report["data"]) == ("PermissionError",) * 3
    for folder in (other.home, run_dir, builder.instance.root):
        assert not os.path.exists(os.path.join(folder, "planted"))
    assert report["home"] == tenant.cache and report["python"].startswith(os.path.join(builder.tenant().releases, ""))
    assert not [name for name in report["environ"] if name.startswith("CIVIC")], "nothing of Civic's own"


@root_only
def test_a_sealed_release_is_roots_and_its_service_reads_it_but_cannot_change_it(builder):
    files = {"app.py": "print('hi')\n", "run.sh": "#!/bin/sh\n", "requirements.txt": "six==1.16.0\n"}
    result, _ = builder.build(files, "bld_sealed", build={"command": ["sh", "-c", "mkdir assets && echo x > assets/a"]})
    tenant = builder.tenant()
    found = 0
    for where, dirs, names in os.walk(result.folder):
        for path in [where, *(os.path.join(where, n) for n in [*dirs, *names])]:
            entry = os.lstat(path)
            if stat.S_ISLNK(entry.st_mode):
                continue
            found += 1
            assert (entry.st_uid, entry.st_gid) == (0, tenant.gid), path
            assert stat.S_IMODE(entry.st_mode) in (0o750, 0o640), path
    assert found > 20
    app = os.path.join(result.folder, "app")
    assert builder.as_tenant(["cat", os.path.join(app, "assets", "a")]).stdout == "x\n"
    for argv in (
        ["sh", "-c", f"echo changed > {app}/app.py"],
        ["touch", os.path.join(app, "new.py")],
        ["touch", os.path.join(result.folder, "venv", "lib", "planted.pth")],
        ["rm", "-rf", os.path.join(app, "assets")],
    ):
        assert builder.as_tenant(argv).returncode != 0, argv
    with open(os.path.join(app, "app.py")) as f:
        assert f.read() == "print('hi')\n"
    assert os.path.exists(os.path.join(app, "assets", "a"))


def test_the_same_lock_file_builds_from_the_cache_and_a_changed_one_does_not(builder):
    first, _ = builder.build({"app.py": "v = 1\n", "requirements.txt": "six==1.16.0\n"}, "bld_1")
    again, log = builder.build({"app.py": "v = 2\n", "requirements.txt": "six==1.16.0\n"}, "bld_2")
    assert (first.cached, again.cached) == (False, True)
    assert again.lock_digest == first.lock_digest
    assert "$ uv pip install --python ../venv/bin/python -r requirements.txt --offline" in log.splitlines()
    assert "again, with the network" not in log, "installed from the warm cache alone"
    assert _imports(builder, again)[0] == "1.16.0"
    changed, _ = builder.build({"app.py": "v = 3\n", "requirements.txt": "six==1.15.0\n"}, "bld_3")
    assert changed.cached is False and changed.lock_digest != first.lock_digest
    assert _imports(builder, changed)[0] == "1.15.0"


def test_a_uv_lock_project_is_synced_as_locked(builder, tmp_path):
    pyproject = '[project]\nname = "shop"\nversion = "1.0"\nrequires-python = ">=3.9"\ndependencies = ["six==1.15.0"]\n'
    (tmp_path / "pyproject.toml").write_text(pyproject)
    locked = subprocess.run([uv.find_uv_bin(), "lock"], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert locked.returncode == 0, locked.stderr
    files = {"app.py": "", "pyproject.toml": pyproject, "uv.lock": (tmp_path / "uv.lock").read_text()}
    result, log = builder.build(files, "bld_locked")
    assert result.kind == "uv.lock"
    assert "$ uv sync --frozen --no-dev --no-editable" in log.splitlines()
    assert _imports(builder, result)[0] == "1.15.0"


def test_npm_ci_installs_what_the_lock_file_says(builder):
    files = {"app.py": "", "package.json": PACKAGE_JSON, "package-lock.json": PACKAGE_LOCK}
    result, log = builder.build(files, "bld_node")
    assert result.kind == "package-lock.json" and result.lock_digest is not None
    assert "$ npm ci --no-audit --no-fund" in log.splitlines()
    with open(os.path.join(result.folder, "app", "node_modules", "is-number", "package.json")) as f:
        assert json.load(f)["version"] == "7.0.0"
    assert os.path.isfile(os.path.join(result.folder, "venv", "bin", "python")), "a Python runtime all the same"
    again, log = builder.build({**files, "app.py": "# changed\n"}, "bld_node_2")
    assert again.cached and "$ npm ci --no-audit --no-fund --offline" in log.splitlines()


@pytest.mark.skipif(limits.enforcer() is None, reason="this machine enforces no memory limits")
def test_a_build_is_held_to_the_services_memory_limit(builder):
    command = ["python", "-c", "kept = b'x' * (512 << 20)"]
    message, _ = builder.fail(
        {"app.py": ""}, "bld_big", build={"command": command}, resources={"cpu": "1", "memory": "128Mi"}
    )
    assert "needed more memory than the service's limit (resources.memory: 128Mi)" in message, message
    assert os.listdir(builder.tenant().releases) == []


def test_prune_removes_the_releases_not_kept_and_builds_that_were_abandoned(builder):
    for build_id in ("bld_a", "bld_b", "bld_c"):
        builder.build({"app.py": f"# {build_id}\n"}, build_id)
    releases_dir = builder.tenant().releases
    abandoned, underway, legacy = (os.path.join(releases_dir, n) for n in (".building-x", ".building-y", "3-abc"))
    for folder in (abandoned, underway, legacy):
        os.mkdir(folder)
    long_ago = time.time() - builds.BUILD_TIMEOUT - 3600
    os.utime(abandoned, (long_ago, long_ago))

    assert builder.builder.prune(ENV, "web", {"bld_b"}) == ["bld_a", "bld_c"]
    assert [builder.builder.has(ENV, "web", b) for b in ("bld_a", "bld_b", "bld_c")] == [False, True, False]
    assert sorted(os.listdir(releases_dir)) == [".building-y", "3-abc", "bld_b"], "a copy of a folder is not a build"
    assert builder.builder.prune(ENV, "web", {"bld_b"}) == []


def test_a_replica_of_a_built_release_runs_in_its_code_with_its_own_python(builder):
    files = {"app.py": "", "web/main.py": "", "requirements.txt": "six==1.16.0\n"}
    tool = "mkdir -p node_modules/.bin && printf '#!/bin/sh\\necho tool\\n' > node_modules/.bin/tool"
    result, _ = builder.build(
        files, "bld_run", build={"command": ["sh", "-c", tool + " && chmod +x node_modules/.bin/tool"]}
    )
    revision = base.ServiceRevision(ENV, "web", 7, models.ServiceSpec.model_validate({"run": RUN}), release="bld_run")
    release = releases.prepare(builder.instance, revision)
    assert release.cwd == os.path.join(result.folder, "app")
    assert release.python == os.path.join(result.folder, "venv", "bin", "python")
    assert release.path == [
        os.path.join(result.folder, "venv", "bin"),
        os.path.join(release.cwd, "node_modules", ".bin"),
    ]

    in_web = _with_run(revision, {"command": ["python", "main.py"], "workingDir": "web"})
    release = releases.prepare(builder.instance, in_web)
    assert release.cwd == os.path.join(result.folder, "app", "web")
    tenant = builder.tenant()
    out = os.path.join(builder.root, "replica.out")
    environ = replicas.environ_for(
        in_web, 8080, replica_id="web-7-abc", instance=builder.instance, tenant=tenant, release=release
    )
    script = "import os, sys, six; print(os.getcwd(), sys.prefix, six.__version__, os.popen('tool').read().strip())"
    user = processes.User(tenant.uid, tenant.gid) if tenant.uid is not None and tenant.gid is not None else None
    handle = processes.spawn(
        ["python", "-c", script], environ=environ, cwd=release.cwd, stdout=out, stderr=out + ".err", user=user
    )
    deadlines.poll(lambda: not processes.alive(handle), timeout=30, interval=0.05, what="the replica's end")
    with open(out) as f:
        cwd, prefix, version, tool_said = f.read().split()
    assert (cwd, prefix, version, tool_said) == (release.cwd, os.path.join(result.folder, "venv"), "1.16.0", "tool")

    for working_dir in ("../..", "/etc", "nowhere"):
        with pytest.raises(processes.RuntimeFailure, match="workingDir"):
            releases.prepare(builder.instance, _with_run(revision, {"command": ["x"], "workingDir": working_dir}))
    builder.builder.prune(ENV, "web", keep=())
    with pytest.raises(processes.RuntimeFailure, match="release bld_run is no longer on this machine"):
        releases.prepare(builder.instance, revision)


def test_the_legacy_release_of_a_revision_with_no_upload_is_unchanged(builder):
    folder = tempfile.mkdtemp(prefix="civic-service-")
    try:
        os.chmod(folder, 0o755)
        with open(os.path.join(folder, "app.py"), "w") as f:
            f.write("print('legacy')\n")
        os.chmod(os.path.join(folder, "app.py"), 0o644)
        spec = models.ServiceSpec.model_validate({"run": {"command": [sys.executable, "app.py"], "workingDir": folder}})
        release = releases.prepare(builder.instance, base.ServiceRevision(ENV, "web", 1, spec))
        assert os.path.dirname(release.cwd) == builder.tenant().releases
        assert os.path.basename(release.cwd).startswith("1-") and release.path == [release.bin]
        with open(os.path.join(release.cwd, "app.py")) as f:
            assert f.read() == "print('legacy')\n"
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _processes_of(uid: int | None) -> list[psutil.Process]:
    return [p for p in psutil.process_iter(["uids"]) if p.info["uids"] is not None and p.info["uids"].real == uid]


@root_only
@pytest.mark.skipif(limits.enforcer() is None, reason="only a control group holds what leaves its session")
def test_what_a_build_leaves_running_is_stopped_with_it(builder):
    command = ["sh", "-c", "sleep 300 & setsid sleep 301 & echo started"]
    result, log = builder.build({"app.py": ""}, "bld_daemon", build={"command": command})
    assert "started" in log.splitlines() and builder.builder.has(ENV, "web", "bld_daemon")
    uid = builder.tenant().uid
    deadlines.poll(lambda: not _processes_of(uid), timeout=10, what="no process of the service's user")


@root_only
def test_a_build_past_its_deadline_is_stopped_and_leaves_nothing(builder, monkeypatch):
    monkeypatch.setattr(builds, "BUILD_TIMEOUT", 5.0)
    message, log = builder.fail({"app.py": ""}, "bld_slow", build={"command": ["sleep", "300"]})
    assert message.startswith("the build command (sleep 300) did not finish within the build's 5 seconds"), message
    assert os.listdir(builder.tenant().releases) == []
    uid = builder.tenant().uid
    deadlines.poll(lambda: not _processes_of(uid), timeout=10, what="no process of the service's user")


@root_only
def test_a_uv_the_services_cannot_run_is_named_with_what_to_do(builder, monkeypatch):
    private = os.path.join(builder.root, "private")
    os.mkdir(private, 0o700)
    fake = os.path.join(private, "uv")
    with open(fake, "w") as f:
        f.write("#!/bin/sh\n")
    os.chmod(fake, 0o755)
    monkeypatch.setenv(builds.UV_ENV, fake)
    with pytest.raises(BackendError, match=f"the services' users cannot run uv at {fake}") as refused:
        builder.builder.build(builder.request({"app.py": ""}, "bld_nouv"), io.StringIO())
    assert f"set {builds.UV_ENV} to a uv binary every user can run" in refused.value.message
    assert os.listdir(builder.tenant().releases) == []
