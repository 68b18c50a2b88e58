"""What a replica runs: its release (code and a Python runtime), read-only, that its user can execute.

A revision that names a release (``ServiceRevision.release``, a build id) runs from the
folder :mod:`civic.backends.local.builds` made of the uploaded code: :func:`built` finds
``app/`` (joined with ``spec.run.workingDir``, which may not leave it) and ``venv/``, and
puts ``app/node_modules/.bin`` on PATH when there is one. Retention may have removed it: a
replica of it then fails to start, saying so. This module also holds what builds share with
the older path below: :func:`unpack` (an archive, within :data:`MAX_FILES` and
:data:`MAX_BYTES`), :func:`seal`, :func:`base_python`, :func:`usable` and :func:`version`.

A revision with no release (the backend's own tests, a spec with an absolute
``run.workingDir``) runs from a copy of that folder. A replica runs as its service's user
(:mod:`civic.backends.local.tenancy`), which may reach neither the folder a deploy named (an
estate under a private home) nor the Python that runs Civic (here, a pyenv under /root). So
before such a revision's first replica starts, :func:`prepare` makes:

- **the code**: a copy of ``spec.run.workingDir`` in the service's own folder,
  ``releases/<revision>-<digest>``, owned by root and readable by the service's group only,
  so the replica reads it and cannot change it. The folder is read by the service's own
  user (a small packer, :data:`_PACK`, streams it as a tar archive that Civic unpacks with
  tarfile's ``data`` filter): the folder's path comes with a deploy, through the API, so
  the copy must never hold what that user could not read. The digest is of the archive's
  listing (names, modes, sizes, times), so a revision keeps the bytes it first ran while
  Civic runs, and a folder that changed gets a new copy. ``.git``, ``.civic``, ``.venv``
  and ``__pycache__`` are left out; symbolic links are copied as links, and special files
  (FIFOs, devices) are never opened. A service with no working folder runs in its home.
- **the runtime**: a virtualenv made from a Python every user can execute (``$CIVIC_PYTHON``;
  else the Python that runs Civic, if every user can reach it; else the system's
  ``python3.X`` of the same version, then ``python3``), with the working folder's
  ``requirements.txt`` installed by pip. Runtimes are kept in ``<data>/runtimes``, one per
  digest of Python and requirements, so each requirement set is installed once.

pip runs as root (it reads the machine's pip configuration and index) and so installs
**wheels only** (``--only-binary=:all:``): no package's code runs while it is installed.
For the same reason requirements files may hold plain requirement specifiers only (no
options, paths, URLs or includes). A built release has none of these limits: it is built as
the service's own user.

The local backend calls :func:`prepare` in a worker thread when it is given a revision;
:func:`civic.backends.local.replicas.start` calls it again and gets the same
:class:`Release` back at once. A failure is kept for :data:`RETRY_AFTER` seconds, so a
service whose requirements cannot be installed does not run pip on every restart.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import functools
import hashlib
import os
import re
import secrets
import shutil
import stat
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import weakref
from collections.abc import Iterator
from typing import IO, Protocol

from civic.backends import base
from civic.backends.local import processes, tenancy

PYTHON_ENV = "CIVIC_PYTHON"
SKIPPED = frozenset({".git", ".civic", ".venv", "__pycache__"})
MAX_FILES = 20_000
MAX_BYTES = 512 << 20
RETRY_AFTER = 30.0
PIP_TIMEOUT = 900.0
_REQUIREMENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(\[[A-Za-z0-9._,\s-]*\])?\s*[^@/\\:]*$")
_READY = ".civic-ready"
BUILT = "build.json"
"""What a build writes last into a release it made (its record): a folder without it is no release."""


@dataclasses.dataclass(frozen=True)
class Release:
    """Where a replica of one revision runs: its working folder, its runtime (a virtualenv), and
    other folders of programs its PATH holds after the runtime's (a built release's
    ``node_modules/.bin``)."""

    cwd: str
    runtime: str
    bins: tuple[str, ...] = ()

    @property
    def bin(self) -> str:
        return os.path.join(self.runtime, "bin")

    @property
    def path(self) -> list[str]:
        """The folders a replica's PATH starts with, in order."""
        return [self.bin, *self.bins]

    @property
    def python(self) -> str:
        return os.path.join(self.bin, "python")


@dataclasses.dataclass
class _Made:
    """What one instance has made: releases by revision, and recent failures."""

    done: dict[tuple, Release] = dataclasses.field(default_factory=dict)
    failed: dict[tuple, tuple[float, processes.RuntimeFailure]] = dataclasses.field(default_factory=dict)
    locks: dict[tuple, threading.Lock] = dataclasses.field(default_factory=dict)


_made: weakref.WeakKeyDictionary[tenancy.Instance, _Made] = weakref.WeakKeyDictionary()
_made_lock = threading.Lock()


def prepare(instance: tenancy.Instance, revision: base.ServiceRevision) -> Release:
    """The release of ``revision``: the one it was built into (:mod:`~civic.backends.local.builds`),
    else the copy of its working folder, made once per instance; raises RuntimeFailure (or BackendError)."""
    if revision.release is not None:
        return built(instance, revision)
    working_dir = revision.spec.run.working_dir if revision.spec.run else None
    key = (revision.environment, revision.name, revision.revision, working_dir)
    with _made_lock:
        made = _made.setdefault(instance, _Made())
        lock = made.locks.setdefault(key, threading.Lock())
    if key in made.done:
        return made.done[key]
    with lock:
        if key in made.done:
            return made.done[key]
        failed = made.failed.get(key)
        if failed is not None and time.monotonic() - failed[0] < RETRY_AFTER:
            raise failed[1]
        try:
            try:
                release = _make(instance, revision, working_dir)
            except OSError as e:
                raise processes.RuntimeFailure(
                    f"{revision.environment}/{revision.name} revision {revision.revision}: cannot make its "
                    f"release in {instance.root}: {e}"
                ) from e
        except processes.RuntimeFailure as e:
            made.failed[key] = (time.monotonic(), e)
            raise
        made.failed.pop(key, None)
        made.done[key] = release
        return release


def _make(instance: tenancy.Instance, revision: base.ServiceRevision, working_dir: str | None) -> Release:
    tenant = instance.tenant(revision.environment, revision.name)
    where = f"{revision.environment}/{revision.name} revision {revision.revision}"
    python = base_python(shared=instance.isolated)
    cwd = tenant.home
    requirements = None
    if working_dir:
        cwd = _copy(working_dir, tenant, revision.revision, python=python, where=where)
        path = os.path.join(cwd, "requirements.txt")
        if os.path.isfile(path) and not os.path.islink(path):
            requirements = _requirements(path, shown=os.path.join(working_dir, "requirements.txt"))
    return Release(cwd, runtime(instance.root, python, requirements, where=where))


def built(instance: tenancy.Instance, revision: base.ServiceRevision) -> Release:
    """The release ``revision.release`` as a build left it: ``app/`` (joined with
    ``spec.run.workingDir``, which may not leave it) and ``venv/``; ``app/node_modules/.bin``
    on PATH when there is one. Asked each time: retention may remove a release."""
    assert revision.release is not None  # prepare asks only for a revision with a release
    where = f"{revision.environment}/{revision.name} revision {revision.revision}"
    folder = os.path.join(instance.tenant(revision.environment, revision.name).releases, revision.release)
    app, venv = os.path.join(folder, "app"), os.path.join(folder, "venv")
    if not (os.path.isdir(app) and os.path.isdir(venv) and os.path.isfile(os.path.join(folder, BUILT))):
        raise processes.RuntimeFailure(
            f"{where}: its release {revision.release} is no longer on this machine (older releases are "
            "removed: civic.yaml's releases.keep); deploy the service again to build it anew."
        )
    working_dir = revision.spec.run.working_dir if revision.spec.run else None
    cwd = app
    if working_dir:
        cwd = os.path.normpath(os.path.join(app, working_dir))
        real, root = os.path.realpath(cwd), os.path.realpath(app)
        if os.path.isabs(working_dir) or not (real == root or real.startswith(root + os.sep)):
            raise processes.RuntimeFailure(
                f"{where}: spec.run.workingDir '{working_dir}' leaves the uploaded code; name a folder "
                "inside it, relative to its root."
            )
        if not os.path.isdir(cwd):
            raise processes.RuntimeFailure(
                f"{where}: spec.run.workingDir '{working_dir}' is not a folder of the uploaded code "
                f"(release {revision.release}); name one that is, relative to its root."
            )
    node_bin = os.path.join(app, "node_modules", ".bin")
    return Release(cwd, venv, (node_bin,) if os.path.isdir(node_bin) else ())


# --- the code ---------------------------------------------------------------------------

_PACK = """
import os, sys, tarfile
SKIPPED = set(sys.argv[2].split(","))
def keep(info):
    if os.path.basename(info.name) in SKIPPED:
        return None
    if not (info.isreg() or info.isdir() or info.issym() or info.islnk()):
        return None
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info
with tarfile.open(fileobj=sys.stdout.buffer, mode="w|", format=tarfile.PAX_FORMAT) as archive:
    archive.add(sys.argv[1], arcname=".", filter=keep)
"""
"""Run as the service's user: its working folder as a tar stream on stdout. What that user
cannot read, it cannot copy, so a deploy never gives a replica more than its user could read."""


def _copy(source: str, tenant: tenancy.Tenant, revision: int, *, python: str, where: str) -> str:
    """A read-only copy of ``source`` for ``tenant``; the same folder while the files are the same."""
    staging = os.path.join(tenant.releases, f".partial-{revision}-{secrets.token_hex(4)}")
    os.mkdir(staging, 0o700)
    try:
        digest = _unpack(source, staging, tenant, python=python, where=where)
        dest = os.path.join(tenant.releases, f"{revision}-{digest[:12]}")
        if not os.path.isdir(dest):
            seal(staging, gid=tenant.gid)
            with contextlib.suppress(FileExistsError, OSError):
                os.rename(staging, dest)  # a copy made meanwhile by another thread or Civic stays
        return dest
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _unpack(source: str, staging: str, tenant: tenancy.Tenant, *, python: str, where: str) -> str:
    """Copy ``source`` into ``staging`` as the service's user packs it; a digest of what came."""
    with tempfile.TemporaryFile() as errors:
        try:
            packer = subprocess.Popen(
                [python, "-I", "-S", "-c", _PACK, source, ",".join(sorted(SKIPPED))],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=errors,
                cwd="/",
                env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"},
                umask=0o077,
                user=tenant.uid,
                group=tenant.gid,
                extra_groups=[] if tenant.uid is not None else None,
            )
        except OSError as e:
            raise processes.RuntimeFailure(f"{where}: cannot copy {source}: {e.strerror or e}") from e
        assert packer.stdout is not None  # stdout=PIPE
        try:
            digest, broken, cause = _extract(packer.stdout, staging, source=source, where=where), None, None
        except (tarfile.TarError, OSError) as e:  # the stream ended or broke: the packer may say why
            digest, broken, cause = "", processes.RuntimeFailure(f"{where}: cannot copy {source}: {e}"), e
        finally:
            packer.stdout.close()  # a packer still writing ends (a limit was passed)
            try:
                code = packer.wait(timeout=60)
            except subprocess.TimeoutExpired:
                packer.kill()
                code = packer.wait()
        if code != 0 and (broken is not None or code > 0):
            errors.seek(0)
            lines = [ln.strip() for ln in errors.read().decode(errors="replace").splitlines() if ln.strip()]
            uid = f" (uid {tenant.uid})" if tenant.uid is not None else ""
            raise processes.RuntimeFailure(
                f"{where}: the service's user{uid} cannot copy its working folder {source}: "
                f"{lines[-1] if lines else f'exit code {code}'}. Deploy from a folder every user may read "
                "(its parent folders too), or make it so (chmod -R o+rX)."
            )
        if broken is not None:
            raise broken from cause
    return digest


def _extract(stream: IO[bytes], staging: str, *, source: str, where: str) -> str:
    try:
        return unpack(stream, staging)
    except TooLarge as e:
        raise processes.RuntimeFailure(
            f"{where}: the working folder {source} holds more than {MAX_FILES} files or "
            f"{MAX_BYTES >> 20} MiB; deploy the service's own folder (spec.run.workingDir)."
        ) from e
    except LinkFailed as e:
        raise processes.RuntimeFailure(f"{where}: cannot copy the link {e.name} of {source}: {e.reason}") from e


class Readable(Protocol):
    """What :func:`unpack` reads: a stream of bytes."""

    def read(self, size: int = -1, /) -> bytes: ...


class TooLarge(Exception):
    """An archive holds more than :data:`MAX_FILES` files or :data:`MAX_BYTES` bytes."""


class LinkFailed(OSError):
    """A symbolic link of an archive could not be made."""

    def __init__(self, name: str, reason: str) -> None:
        super().__init__(f"cannot make the link {name}: {reason}")
        self.name = name
        self.reason = reason


def unpack(stream: Readable, folder: str, *, mode: str = "r|") -> str:
    """Unpack the tar stream into ``folder`` (made by root, reached by no one else yet) with
    tarfile's ``data`` filter, within :data:`MAX_FILES` and :data:`MAX_BYTES`; a digest of its
    listing (names, types, modes, sizes, times, links). A symbolic link that points outside
    ``folder`` is made last, so nothing is ever written through it. Raises TooLarge,
    LinkFailed, tarfile.TarError or OSError."""
    digest = hashlib.sha256()
    count = size = 0
    links: list[tarfile.TarInfo] = []
    with tarfile.open(fileobj=stream, mode=mode) as archive:  # type: ignore[call-overload] # any object with read()
        for member in archive:
            count, size = count + 1, size + member.size
            if count > MAX_FILES or size > MAX_BYTES:
                raise TooLarge(f"more than {MAX_FILES} files or {MAX_BYTES >> 20} MiB")
            digest.update(
                f"{member.name}\0{member.type!r}\0{member.mode}\0{member.size}\0{member.mtime}\0"
                f"{member.linkname}\n".encode()
            )
            if member.name in (".", "./", ""):
                continue
            if member.issym() and not _inside(member, folder):
                links.append(member)  # made last, so nothing is ever written through it
                continue
            archive.extract(member, folder, filter="data")
        while stream.read(1 << 16):
            pass  # the archive's padding: read to the end, so the packer finishes writing
    for member in links:
        try:
            os.symlink(member.linkname, os.path.join(folder, member.name))
        except OSError as e:
            raise LinkFailed(member.name, e.strerror or str(e)) from e
    return digest.hexdigest()


def _inside(link: tarfile.TarInfo, staging: str) -> bool:
    if os.path.isabs(link.linkname):
        return False
    target = os.path.normpath(os.path.join(staging, os.path.dirname(link.name), link.linkname))
    return target == staging or target.startswith(staging + os.sep)


def seal(folder: str, *, gid: int | None, owner: int | None = None) -> None:
    """Folders 0750, files 0640 (0750 if executable), owned by root and the service's group:
    the replica reads its code and cannot change it. Symbolic links are left as they are.

    Safe on a tree the service's user wrote (``owner``, while a build ran as it): every change
    is made through a descriptor opened without following links (:func:`os.fwalk` checks each
    folder it enters), so no link planted in the tree turns root's chown or chmod onto a file
    outside it; a file that is not ``owner``'s (a hard link to another's), or is neither a
    folder, a file nor a link (a FIFO, a socket), is removed from the tree."""
    for _path, dirs, files, dirfd in os.fwalk(folder):
        _settle(dirfd, 0o750, gid)
        for name in [*files, *dirs]:  # a link to a folder is listed with the folders, and never entered
            _seal_entry(dirfd, name, gid=gid, owner=owner)


def _seal_entry(dirfd: int, name: str, *, gid: int | None, owner: int | None) -> None:
    try:
        found = os.stat(name, dir_fd=dirfd, follow_symlinks=False)
    except FileNotFoundError:
        return
    if stat.S_ISDIR(found.st_mode):
        return  # fwalk settles it when it enters it
    if stat.S_ISLNK(found.st_mode):
        if gid is not None:
            os.chown(name, 0, gid, dir_fd=dirfd, follow_symlinks=False)
        return
    if not stat.S_ISREG(found.st_mode) or (owner is not None and found.st_uid != owner):
        os.unlink(name, dir_fd=dirfd)
        return
    try:
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC, dir_fd=dirfd)
    except OSError:  # changed since: a link, or gone; its folder is root's now, so it stays as it is
        return
    try:
        opened = os.fstat(fd)
        if (opened.st_dev, opened.st_ino) != (found.st_dev, found.st_ino) or not stat.S_ISREG(opened.st_mode):
            os.unlink(name, dir_fd=dirfd)
            return
        _settle(fd, 0o750 if opened.st_mode & stat.S_IXUSR else 0o640, gid)
    finally:
        os.close(fd)


def _settle(fd: int, mode: int, gid: int | None) -> None:
    if gid is not None:
        os.fchown(fd, 0, gid)
    os.fchmod(fd, mode)


# --- the runtime ------------------------------------------------------------------------


def _requirements(path: str, *, shown: str) -> str:
    """The requirements, one specifier a line; RuntimeFailure at a line that is anything else."""
    with open(path, encoding="utf-8", errors="replace") as f:
        text = f.read(1 << 20)
    kept = []
    for number, line in enumerate(text.splitlines(), 1):
        spec = line.split(" #", 1)[0].strip() if not line.lstrip().startswith("#") else ""
        if not spec:
            continue
        if not _REQUIREMENT.match(spec):
            raise processes.RuntimeFailure(
                f"{shown}:{number}: '{spec[:80]}' is not a plain requirement such as 'uvicorn>=0.29'; "
                "this runtime installs published packages only (no options, paths, URLs or includes)."
            )
        kept.append(spec)
    return "".join(f"{spec}\n" for spec in kept)


def runtime(root: str, python: str, requirements: str | None, *, where: str) -> str:
    """The virtualenv of ``python`` with ``requirements`` installed, made once per digest."""
    found = version(python)
    digest = hashlib.sha256(f"{os.path.realpath(python)}\0{found}\0{requirements or ''}".encode()).hexdigest()
    folder = os.path.join(root, "runtimes")
    os.makedirs(folder, mode=0o755, exist_ok=True)
    path = os.path.join(folder, f"python{'.'.join(found.split('.')[:2])}-{digest[:16]}")
    with _file_lock(path + ".lock"):
        if os.path.exists(os.path.join(path, _READY)):
            return path
        shutil.rmtree(path, ignore_errors=True)  # an earlier build that did not finish
        try:
            _build(path, python, requirements, where=where)
        except BaseException:
            shutil.rmtree(path, ignore_errors=True)
            raise
    return path


def _build(path: str, python: str, requirements: str | None, *, where: str) -> None:
    _run([python, "-m", "venv", "--without-pip", path], what=f"{where}: making a virtualenv", timeout=120)
    if requirements:
        listed = os.path.join(path, "civic-requirements.txt")
        with open(listed, "w") as f:
            f.write(requirements)
        pip = [sys.executable, "-m", "pip", "--python", os.path.join(path, "bin", "python"), "install"]
        pip += ["--only-binary=:all:", "--no-input", "--disable-pip-version-check", "-r", listed]
        _run(pip, what=f"{where}: installing requirements.txt", timeout=PIP_TIMEOUT)
    _readable(path)
    with open(os.path.join(path, _READY), "w") as f:
        f.write(f"{python}\n")


def _run(command: list[str], *, what: str, timeout: float) -> None:
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise processes.RuntimeFailure(f"{what} failed: {e}") from e
    if done.returncode != 0:
        lines = [ln.strip() for ln in (done.stderr + done.stdout).splitlines() if ln.strip()]
        errors = [ln for ln in lines if ln.startswith("ERROR")] or lines
        raise processes.RuntimeFailure(f"{what} failed (exit code {done.returncode}): {' '.join(errors[-3:])[:600]}")


def _readable(path: str) -> None:
    """Every user may read and run the runtime, none but root change it (whatever Civic's umask)."""
    for folder, _dirs, files in os.walk(path):
        os.chmod(folder, 0o755)
        for name in files:
            file = os.path.join(folder, name)
            if not os.path.islink(file):
                os.chmod(file, 0o755 if os.stat(file).st_mode & stat.S_IXUSR else 0o644)


@functools.cache
def version(python: str) -> str:
    try:
        done = subprocess.run(
            [python, "-c", "import platform; print(platform.python_version())"],
            capture_output=True,
            text=True,
            timeout=30,
        )
    except (OSError, subprocess.TimeoutExpired) as e:
        raise processes.RuntimeFailure(f"cannot run the Python {python}: {e}; set {PYTHON_ENV} to another.") from e
    if done.returncode != 0:
        raise processes.RuntimeFailure(
            f"cannot run the Python {python}: {done.stderr.strip()[-300:]}; set {PYTHON_ENV}."
        )
    return done.stdout.strip()


@functools.cache
def base_python(*, shared: bool) -> str:
    """The Python runtimes are made from; with ``shared``, one every user can execute."""
    wanted = os.environ.get(PYTHON_ENV)
    if wanted:
        if not usable(wanted, shared=shared):
            raise processes.RuntimeFailure(
                f"{PYTHON_ENV}={wanted} is not a Python every user can run; name one that is."
            )
        return wanted
    for python in _candidates():
        if usable(python, shared=shared):
            return python
    raise processes.RuntimeFailure(
        f"found no Python that every user can run (Civic's own, {sys.executable}, is not); "
        f"install python3 for the system, or set {PYTHON_ENV} to one."
    )


def _candidates() -> Iterator[str]:
    yield getattr(sys, "_base_executable", sys.executable)
    yield sys.executable
    name = f"python{sys.version_info.major}.{sys.version_info.minor}"
    dirs = ["/usr/local/bin", "/usr/bin", *os.environ.get("PATH", "").split(os.pathsep)]
    for wanted in (name, "python3"):
        for folder in dirs:
            if folder:
                yield os.path.join(folder, wanted)


def usable(program: str, *, shared: bool) -> bool:
    """True if ``program`` exists and, with ``shared``, every user may reach and execute it."""
    real = os.path.realpath(program)
    if not os.path.isfile(real) or not os.access(real, os.X_OK):
        return False
    if not shared:
        return True
    path = real
    while True:
        with contextlib.suppress(OSError):
            if not os.stat(path).st_mode & stat.S_IXOTH:
                return False
        parent = os.path.dirname(path)
        if parent == path:
            return True
        path = parent


@contextlib.contextmanager
def _file_lock(path: str) -> Iterator[None]:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
