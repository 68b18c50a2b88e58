"""Releases built from uploaded code: the service's code and a runtime of its own, made as its own user.

The control plane (:mod:`civic.control.releasing`) hands :meth:`Builder.build` the archive a
client uploaded (a .tar.gz of the service's folder) and a build id; replicas of a revision
that names the build id run from the release (:func:`civic.backends.local.releases.prepare`).
A release is ``<tenant.releases>/<build id>/`` (:mod:`civic.backends.local.tenancy`)::

    app/         the code, as uploaded
    venv/        its Python runtime: always made, so that ``python`` on PATH is the release's own
    build.json   the build's record, written last: a folder without it is no release

It is made in ``.building-<build id>/`` and renamed into place once whole, so a release is
there entirely or not at all; a build that fails leaves nothing. No release shares a file
with another: each has its own ``venv`` (uv copies from its cache, never links).

1. **Unpack**, as root, with tarfile's ``data`` filter within :data:`releases.MAX_FILES` and
   :data:`releases.MAX_BYTES` (:func:`civic.backends.local.releases.unpack`), checking the
   bytes against the artifact's digest; then the folder is given to the service's user.
2. **Steps**, each run as the service's user (:mod:`civic.backends.local.steps`: no
   supplementary group, ``no_new_privs``, its cpu and memory limits, the build's deadline),
   in ``app/``, with a clean environment (:meth:`Builder.environ`):

   - the Python: ``uv venv --python`` the ``python3.X`` of ``build.python`` that every user
     can run, else the platform's (:func:`civic.backends.local.releases.base_python`);
   - its dependencies, from the first that applies: ``uv.lock`` (``uv sync --frozen``),
     ``requirements.txt`` (``uv pip install -r``; sdists are built, as the service's user),
     ``pyproject.toml`` (``uv pip install .``), else none;
   - then, if there is a ``package.json``, ``npm ci`` (its ``package-lock.json`` or
     ``npm-shrinkwrap.json`` is required);
   - then ``build.command``, in ``app/`` (the code's root, whatever ``run.workingDir`` says).

   The work happens in ``.building-<build id>/``, so what a step writes must not hold its
   absolute path: the virtualenv is made ``--relocatable``, and an editable requirement
   (``-e``) is refused.
3. **Cache**: uv's and npm's caches are the service's own (``<tenant>/cache``, 0700): no
   tenant can poison another's. The *lock digest* is of the Python version, the kind of
   build and the lock files' bytes; a digest built before (a mark in ``<tenant>/built``) is
   installed ``--offline`` first, from the warm cache, and online if that fails, so a change
   of code alone rebuilds in about a second. :attr:`BuildResult.cached` says which.
4. **Seal**: owned by root and the service's group, folders 0750, files 0640 or 0750
   (:func:`civic.backends.local.releases.seal`, safe on a tree the service's user wrote).

The log the control plane keeps gets a first line naming the artifact, each step's command
line and output as it comes, and a last line with the outcome and its seconds. A failure
is a :class:`~civic.errors.BuildFailed` naming the step (for ``requirements.txt``, the line
of the requirement uv could not install).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shlex
import shutil
import stat
import tarfile
import time
from collections.abc import Collection
from typing import IO

import uv

from civic.backends import base
from civic.backends.local import limits as limits_mod
from civic.backends.local import lockfiles, releases, steps, tenancy
from civic.errors import BackendError, BuildFailed, CivicError
from civic.spec import models

BUILD_TIMEOUT = 900.0
"""Seconds a whole build may take; then it is killed and fails."""
UV_ENV = "CIVIC_UV"
"""Names the uv binary builds run (default: the one the ``uv`` package installed beside Civic)."""
BUILDING = ".building-"
PATH = ("/usr/local/bin", "/usr/bin", "/bin")
PASSED = (
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "ALL_PROXY",
    "http_proxy",
    "https_proxy",
    "no_proxy",
    "all_proxy",
    "SSL_CERT_DIR",
    "UV_INDEX_URL",
    "UV_DEFAULT_INDEX",
    "UV_INDEX",
    "UV_EXTRA_INDEX_URL",
    "PIP_INDEX_URL",
    "npm_config_registry",
    "NPM_CONFIG_REGISTRY",
)
"""What a build inherits from Civic's environment, when set: how this machine reaches the indexes."""
CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
_BUILD_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")


class Builder:
    """Builds the releases of one Civic's tenants (:class:`~civic.backends.base.Builder`).

    ``limiter`` enforces a service's cpu and memory limits on its builds (default: this
    machine's, :func:`civic.backends.local.limits.enforcer`)."""

    def __init__(self, instance: tenancy.Instance, *, limiter: limits_mod.Limiter | None = None) -> None:
        self.instance = instance
        self.limiter = limiter if limiter is not None else limits_mod.enforcer()

    def __repr__(self) -> str:
        return f"Builder(instance={self.instance!r})"

    # --- the protocol ----------------------------------------------------------------

    def build(self, request: base.BuildRequest, log: IO[str]) -> base.BuildResult:
        """Build ``request`` into its release; raises BuildFailed (nothing left) or BackendError."""
        started = time.monotonic()
        name = f"{request.environment}/{request.service}"
        log.write(f"building {name} from {request.artifact} into release {request.build_id}\n")
        try:
            try:
                result = self._build(request, log, started)
            except OSError as e:
                raise BackendError(f"cannot build the release of {name} on this machine: {e}") from e
        except BuildFailed as e:
            log.write(f"build failed after {time.monotonic() - started:.1f} s: {e.message}\n")
            raise BuildFailed(
                f"{e.message}; the running revision is unchanged; 'civic builds {name} --logs' shows the whole build."
            ) from e
        except CivicError as e:
            log.write(f"build could not run ({time.monotonic() - started:.1f} s): {e.message}\n")
            raise
        cache = ", dependencies from the cache" if result.cached else ""
        log.write(
            f"built release {request.build_id} in {result.seconds:.1f} s ({result.kind}{cache}; "
            f"{result.size / (1 << 20):.1f} MiB on disk)\n"
        )
        return result

    def has(self, environment: str, service: str, build_id: str) -> bool:
        return _is_release(self._folder(environment, service, build_id))

    def prune(self, environment: str, service: str, keep: Collection[str]) -> list[str]:
        """Remove the service's releases not in ``keep``, and builds that outlived :data:`BUILD_TIMEOUT`
        (a Civic that stopped mid-build); the build ids of the releases removed."""
        folder = self.instance.tenant(environment, service).releases
        removed = []
        for name in sorted(os.listdir(folder)):
            path = os.path.join(folder, name)
            if name.startswith(BUILDING):
                with contextlib.suppress(OSError):
                    if time.time() - os.lstat(path).st_mtime > BUILD_TIMEOUT + 60:
                        shutil.rmtree(path, ignore_errors=True)
            elif name not in keep and _is_release(path):
                shutil.rmtree(path, ignore_errors=True)
                if not os.path.lexists(path):
                    removed.append(name)
        return removed

    # --- one build -------------------------------------------------------------------

    def _folder(self, environment: str, service: str, build_id: str) -> str:
        if not _BUILD_ID.fullmatch(build_id):
            raise BackendError(f"'{build_id[:80]}' is not a build id (letters, digits, '_' and '-').")
        return os.path.join(self.instance.tenant(environment, service).releases, build_id)

    def _build(self, request: base.BuildRequest, log: IO[str], started: float) -> base.BuildResult:
        tenant = self.instance.tenant(request.environment, request.service)
        final = self._folder(request.environment, request.service, request.build_id)
        if os.path.lexists(final):
            raise BackendError(f"the release {request.build_id} of {request.environment}/{request.service} exists.")
        python = self.find_python(request.spec.build.python if request.spec.build else None)
        uv_bin = self.find_uv()
        building = os.path.join(tenant.releases, BUILDING + request.build_id)
        try:
            os.mkdir(building, 0o700)
        except FileExistsError as e:
            raise BackendError(f"a build of release {request.build_id} is under way already.") from e
        try:
            inputs = _unpack(request, os.path.join(building, "app"))
            version = releases.version(python)
            lock_digest = inputs.digest(version)
            mark = os.path.join(tenant.built, lock_digest.removeprefix("sha256:")) if lock_digest else None
            cached = mark is not None and os.path.exists(mark)
            _give(building, tenant)
            runner = self._runner(request, tenant, building, log, deadline=started + BUILD_TIMEOUT)
            try:
                runner.say(f"Python {version} ({python}); dependencies: {inputs.kind}; lock digest {lock_digest}")
                _Steps(runner, request.spec, inputs, building=building, uv=uv_bin, python=python, cached=cached).run()
            finally:
                runner.close()
            releases.seal(building, gid=tenant.gid, owner=tenant.uid)
            _check_layout(building)
            seconds = time.monotonic() - started
            facts = {"kind": inputs.kind, "lock_digest": lock_digest, "python": version, "cached": cached}
            _record(building, request, gid=tenant.gid, **facts)
            os.rename(building, final)
        except BaseException:
            shutil.rmtree(building, ignore_errors=True)
            raise
        if mark is not None:
            with open(mark, "w") as f:
                f.write(f"{request.build_id}\n")
        return base.BuildResult(final, inputs.kind, lock_digest, cached, seconds, _size(final))

    def _runner(
        self, request: base.BuildRequest, tenant: tenancy.Tenant, building: str, log: IO[str], *, deadline: float
    ) -> steps.Runner:
        return steps.Runner(
            tenant=tenant,
            environ=self.environ(tenant, building),
            log=log,
            deadline=deadline,
            group=f"build-{request.build_id}",
            limits=limits_mod.Limits.of(request.spec.resources.cpu, request.spec.resources.memory),
            limiter=self.limiter,
        )

    # --- what a build runs with ------------------------------------------------------

    def find_python(self, wanted: str | None) -> str:
        """The Python ``build.python`` names (``"3.11"``), one every service's user can run; else
        the platform's. Raises BuildFailed."""
        shared = self.instance.isolated
        if wanted is None:
            return releases.base_python(shared=shared)
        folders = [*PATH[:2], *os.environ.get("PATH", "").split(os.pathsep)]
        for folder in folders:
            if folder and releases.usable(os.path.join(folder, f"python{wanted}"), shared=shared):
                return os.path.join(folder, f"python{wanted}")
        raise BuildFailed(
            f"build.python: no Python {wanted} here that services can run; found: {_pythons(folders, shared)}; "
            f"install python{wanted} for the system, or remove build.python to build with the platform's Python"
        )

    def find_uv(self) -> str:
        """The uv binary builds run, one every service's user can run; raises BackendError."""
        try:
            found = os.environ.get(UV_ENV) or uv.find_uv_bin()
        except FileNotFoundError as e:
            raise BackendError(f"found no uv binary to build with: {e}; reinstall Civic (it needs 'uv').") from e
        if not releases.usable(found, shared=self.instance.isolated):
            raise BackendError(
                f"the services' users cannot run uv at {found}: a folder on its path is private to its owner. "
                f"Install Civic where every user can reach it (chmod o+rx its folders), or set {UV_ENV} to "
                "a uv binary every user can run."
            )
        return found

    def environ(self, tenant: tenancy.Tenant, building: str) -> dict[str, str]:
        """The whole environment of a build's steps: nothing else of Civic's reaches them."""
        venv, app = os.path.join(building, "venv"), os.path.join(building, "app")
        environ = {
            "PATH": os.pathsep.join([os.path.join(venv, "bin"), os.path.join(app, "node_modules", ".bin"), *PATH]),
            "HOME": tenant.cache,
            "XDG_CACHE_HOME": tenant.cache,
            "LANG": "C.UTF-8",
            "TMPDIR": tenant.tmp,
            "NO_COLOR": "1",
            "VIRTUAL_ENV": venv,
            "UV_PROJECT_ENVIRONMENT": venv,
            "UV_CACHE_DIR": os.path.join(tenant.cache, "uv"),
            "UV_PYTHON_DOWNLOADS": "never",
            "UV_LINK_MODE": "copy",  # no file shared with the cache, or with another release
            "UV_COMPILE_BYTECODE": "1",  # a release is read-only: its replicas could not write .pyc files
            "UV_NO_PROGRESS": "1",
            "npm_config_cache": os.path.join(tenant.cache, "npm"),
            "npm_config_update_notifier": "false",
            "npm_config_fund": "false",
            "npm_config_audit": "false",
        }
        environ.update({name: os.environ[name] for name in PASSED if os.environ.get(name)})
        if "PIP_INDEX_URL" in environ and not {"UV_INDEX_URL", "UV_DEFAULT_INDEX"} & environ.keys():
            environ["UV_DEFAULT_INDEX"] = environ["PIP_INDEX_URL"]  # the machine's index, for uv too
        certificates = os.environ.get("SSL_CERT_FILE") or os.environ.get("PIP_CERT")
        if not certificates and os.path.isfile(CA_BUNDLE):
            certificates = CA_BUNDLE
        if certificates:
            environ["SSL_CERT_FILE"] = environ["NODE_EXTRA_CA_CERTS"] = certificates
        return environ


class _Steps:
    """The steps of one build, in order; each failure a BuildFailed that names it."""

    def __init__(
        self,
        runner: steps.Runner,
        spec: models.ServiceSpec,
        inputs: lockfiles.Inputs,
        *,
        building: str,
        uv: str,
        python: str,
        cached: bool,
    ) -> None:
        self.runner = runner
        self.spec = spec
        self.inputs = inputs
        self.app = os.path.join(building, "app")
        self.uv = uv
        self.python = python
        self.cached = cached

    def run(self) -> None:
        self._step("making the Python runtime", ["venv", "--relocatable", "--python", self.python, "../venv"])
        if self.inputs.python == "uv.lock":
            self._step("installing uv.lock", ["sync", "--frozen", "--no-dev", "--no-editable"], offline=True)
        elif self.inputs.python == "requirements.txt":
            self._step(
                "installing requirements.txt",
                ["pip", "install", "--python", "../venv/bin/python", "-r", "requirements.txt"],
                offline=True,
            )
        elif self.inputs.python == "pyproject.toml":
            args = ["pip", "install", "--python", "../venv/bin/python", "."]
            self._step("installing pyproject.toml", args, offline=True)
        if self.inputs.npm is not None:
            self._npm()
        command = self.spec.build.command if self.spec.build else None
        if command:
            outcome = self.runner.run(list(command), cwd=self.app, shown=shlex.join(command))
            if not outcome.ok:
                self._failed(f"the build command ({shlex.join(command)})", outcome)

    def _step(self, what: str, args: list[str], *, offline: bool = False) -> None:
        """``uv args``: ``--offline`` first when the lock was built before, then with the network."""
        if offline and self.cached:
            outcome = self._uv([*args, "--offline"])
            if outcome.ok:
                return
            if outcome.timed_out or outcome.out_of_memory:
                self._failed(what, outcome)
            self.runner.say("# not all of it is in the cache: again, with the network")
        outcome = self._uv(args)
        if not outcome.ok:
            if what == "installing requirements.txt":
                located = lockfiles.locate(self.inputs.files["requirements.txt"], outcome.tail)
                if located is not None and not outcome.timed_out and not outcome.out_of_memory:
                    raise BuildFailed(located)
            self._failed(f"{what} (uv {args[0]})", outcome)

    def _uv(self, args: list[str]) -> steps.Outcome:
        return self.runner.run([self.uv, *args], cwd=self.app, shown=shlex.join(["uv", *args]))

    def _npm(self) -> None:
        npm = shutil.which("npm", path=self.runner.environ["PATH"])
        if npm is None:
            raise BuildFailed("package.json: npm is not installed here; install it (apt-get install npm)")
        args = ["ci", "--no-audit", "--no-fund"]
        if self.cached:
            offline = [*args, "--offline"]
            outcome = self.runner.run([npm, *offline], cwd=self.app, shown=shlex.join(["npm", *offline]))
            if outcome.ok:
                return
            self.runner.say("# not all of it is in the cache: again, with the network")
        outcome = self.runner.run([npm, *args], cwd=self.app, shown=shlex.join(["npm", *args]))
        if not outcome.ok:
            self._failed(f"installing {self.inputs.npm} (npm ci)", outcome)

    def _failed(self, what: str, outcome: steps.Outcome) -> None:
        if outcome.timed_out:
            limit = f"{BUILD_TIMEOUT / 60:.0f} minutes" if BUILD_TIMEOUT >= 120 else f"{BUILD_TIMEOUT:.0f} seconds"
            raise BuildFailed(f"{what} did not finish within the build's {limit}, and was stopped")
        if outcome.out_of_memory:
            raise BuildFailed(
                f"{what} was killed: it needed more memory than the service's limit "
                f"(resources.memory: {self.spec.resources.memory}); raise the limit to build it"
            )
        ending = f"exit code {outcome.code}" if outcome.code >= 0 else f"killed by signal {-outcome.code}"
        raise BuildFailed(f"{what} failed ({ending}): {lockfiles.why(outcome.tail)}")


# --- reading the code ----------------------------------------------------------------------


class _Hashed:
    """A file read through, with the digest of every byte read."""

    def __init__(self, file: IO[bytes]) -> None:
        self.file = file
        self.hash = hashlib.sha256()

    def read(self, size: int = -1) -> bytes:
        chunk = self.file.read(size)
        self.hash.update(chunk)
        return chunk


def _unpack(request: base.BuildRequest, app: str) -> lockfiles.Inputs:
    """The archive into a new folder ``app``, reached by no one but root yet, and what its lock
    files call for; raises BuildFailed."""
    os.mkdir(app, 0o700)
    try:
        with open(request.archive, "rb") as file:
            hashed = _Hashed(file)
            releases.unpack(hashed, app, mode="r|gz")
    except releases.TooLarge as e:
        raise BuildFailed(
            f"the uploaded code holds more than {releases.MAX_FILES} files or {releases.MAX_BYTES >> 20} MiB; "
            "leave out what the service does not need to run (.civicignore)"
        ) from e
    except (tarfile.TarError, OSError, EOFError) as e:
        raise BuildFailed(f"the uploaded archive {request.artifact} cannot be unpacked: {e}") from e
    found = "sha256:" + hashed.hash.hexdigest()
    if found != request.artifact:
        raise BuildFailed(
            f"the uploaded archive's bytes have the digest {found}, not {request.artifact}; upload it again"
        )
    return lockfiles.read(app)


def _pythons(folders: list[str], shared: bool) -> str:
    """The python3.X found in ``folders``, for a message."""
    found: dict[str, str] = {}
    for folder in folders:
        with contextlib.suppress(OSError):
            for name in sorted(os.listdir(folder or ".")):
                if re.fullmatch(r"python3\.\d+", name) and name not in found:
                    path = os.path.join(folder, name)
                    runs = releases.usable(path, shared=shared)
                    found[name] = f"{name[6:]} ({path}{'' if runs else ', which services cannot run'})"
    return ", ".join(found.values()) or "none"


# --- the release ---------------------------------------------------------------------------


def _give(building: str, tenant: tenancy.Tenant) -> None:
    """The unpacked tree (only root has touched it) to the service's user, for its steps to write."""
    if tenant.uid is None or tenant.gid is None:
        return
    for where, dirs, files in os.walk(building):
        os.lchown(where, tenant.uid, tenant.gid)
        for name in [*dirs, *files]:
            os.lchown(os.path.join(where, name), tenant.uid, tenant.gid)


def _check_layout(building: str) -> None:
    for name in ("app", "venv"):
        try:
            kept = stat.S_ISDIR(os.lstat(os.path.join(building, name)).st_mode)
        except FileNotFoundError:
            kept = False
        if not kept:
            raise BuildFailed(f"the build left no folder {name}/; a build step must not remove or replace it")
    if not os.path.lexists(os.path.join(building, "venv", "bin", "python")):
        raise BuildFailed("the build left no venv/bin/python; a build step must not remove it")


def _record(building: str, request: base.BuildRequest, *, gid: int | None, **facts: object) -> None:
    """``build.json``, written by root into the sealed folder (where no link of the build's can stand)."""
    path = os.path.join(building, releases.BUILT)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
    record: dict[str, object] = {"build": request.build_id, "environment": request.environment}
    record.update({"service": request.service, "artifact": request.artifact, **facts, "built_at": time.time()})
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o640)
    if gid is not None:
        os.fchown(fd, 0, gid)
    os.fchmod(fd, 0o640)
    with os.fdopen(fd, "w") as f:
        json.dump(record, f, indent=2)


def _is_release(path: str) -> bool:
    try:
        record = os.lstat(os.path.join(path, releases.BUILT))
        return stat.S_ISDIR(os.lstat(path).st_mode) and stat.S_ISREG(record.st_mode)
    except OSError:
        return False


def _size(folder: str) -> int:
    """Bytes on disk (allocated blocks), each file once however many links it has."""
    seen, total = set(), 0
    for where, dirs, files in os.walk(folder):
        for name in [where, *(os.path.join(where, n) for n in [*dirs, *files])]:
            found = os.lstat(name)
            if (found.st_dev, found.st_ino) not in seen:
                seen.add((found.st_dev, found.st_ino))
                total += found.st_blocks * 512
    return total
