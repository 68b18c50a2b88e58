"""Tenants on this machine: each service's own user and private folder, and where Civic keeps them.

A replica of one team must reach neither the control plane's files (the state store, the
key, the client config, the run dir) nor another team's. When Civic runs as root on Linux,
every service runs as a user of its own (:mod:`civic.backends.local.identities`), in a
folder of its own outside the estate; elsewhere replicas run as Civic's user and are
marked "not isolated" (:func:`why_not_isolated` says why).

Civic keeps what replicas need in its **data folder**: ``$CIVIC_DATA_DIR`` if set, else
``/var/lib/civic`` as root (state that changes belongs under /var/lib, where systemd puts
a DynamicUser's ``StateDirectory``; platformdirs' *site* data dir, /usr/local/share, is for
read-only data), else platformdirs' user data dir (``~/.local/share/civic``)::

    <data>/                                   root 0711: traversed, never listed
      uids/<uid> -> <service folder>          the uid claims (identities), root 0700
      runtimes/<python>-<digest>/             virtualenvs, one per requirement set (releases)
      instances/<id>/                         one Civic, by its run dir (:func:`instance_id`)
        run-dir                               which run dir it belongs to, for :func:`sweep`
        services/<env>/<service>/             root:<its gid> 0750
          home/  tmp/                         its HOME and TMPDIR: <its uid> 0700
          cache/                              its builds' HOME, uv and npm caches: <its uid> 0700
          built/<lock digest>                 lock files built before (builds): root 0700
          releases/                           root:<its gid> 0750
            <build id>/app/ venv/ build.json  a release built from uploaded code (builds), sealed
            .building-<build id>/             a build under way: <its uid> 0700
            <revision>-<digest>/              a read-only copy of a working folder (no upload)

:func:`of` gives the :class:`Instance` of a run dir; the local backend, the replicas and
adoption all reach it that way.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import os
import re
import shutil
import sys
import threading

import platformdirs

from civic.backends.local import identities
from civic.errors import BackendError

DATA_ENV = "CIVIC_DATA_DIR"
_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")


def data_root() -> str:
    """Civic's data folder on this machine (see the module's docstring)."""
    if os.environ.get(DATA_ENV):
        return os.path.abspath(os.environ[DATA_ENV])
    if sys.platform == "linux" and os.geteuid() == 0:
        return "/var/lib/civic"
    return platformdirs.user_data_dir("civic", appauthor=False)


def why_not_isolated() -> str | None:
    """Why replicas cannot run as users of their own here; None when they can."""
    if sys.platform != "linux":
        return f"Civic isolates replicas only on Linux, and this is {sys.platform}"
    if os.geteuid() != 0:
        return (
            f"Civic runs as uid {os.geteuid()}, not root, so every replica runs as that user and can "
            "read what it can read (run civic up as root to give each service a user of its own)"
        )
    return None


def describe() -> str:
    """How this machine isolates replicas, for ``civic up`` and the docs."""
    reason = why_not_isolated()
    if reason is not None:
        return f"not isolated: {reason}"
    return f"isolated: each service runs as a user of its own (uids {identities.FIRST}-{identities.LAST})"


def instance_id(run_dir: str) -> str:
    """The identity of one Civic: a digest of its run dir, carried by every replica it starts."""
    return hashlib.sha256(os.path.realpath(run_dir).encode()).hexdigest()[:16]


@dataclasses.dataclass(frozen=True)
class Tenant:
    """One service's place: its user (None: Civic's own) and its private folder."""

    environment: str
    service: str
    folder: str
    uid: int | None

    @property
    def gid(self) -> int | None:
        return self.uid

    @property
    def home(self) -> str:
        return os.path.join(self.folder, "home")

    @property
    def tmp(self) -> str:
        return os.path.join(self.folder, "tmp")

    @property
    def releases(self) -> str:
        return os.path.join(self.folder, "releases")

    @property
    def cache(self) -> str:
        """Its builds' caches (uv's, npm's) and their HOME: its own, shared with no other service."""
        return os.path.join(self.folder, "cache")

    @property
    def built(self) -> str:
        """Civic's marks of the lock files it has built for the service (root's: the builds cannot forge one)."""
        return os.path.join(self.folder, "built")


class Instance:
    """One Civic's tenants, by its run dir; isolated unless told or unable."""

    def __init__(self, run_dir: str, *, root: str | None = None, isolated: bool | None = None) -> None:
        self.run_dir = run_dir
        self.root = root or data_root()
        self.isolated = why_not_isolated() is None if isolated is None else isolated
        self.id = instance_id(run_dir)
        self.folder = os.path.join(self.root, "instances", self.id)
        self._tenants: dict[tuple[str, str], Tenant] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"Instance(id={self.id!r}, root={self.root!r}, isolated={self.isolated})"

    @property
    def registry(self) -> str:
        return os.path.join(self.root, "uids")

    def tenant(self, environment: str, service: str) -> Tenant:
        """The service's user and folders, made (or found again) on first use; raises BackendError."""
        key = (environment, service)
        with self._lock:
            if key not in self._tenants:
                try:
                    self._tenants[key] = self._make(environment, service)
                except OSError as e:
                    raise BackendError(
                        f"cannot make the folders of {environment}/{service} in {self.root}: {e}; "
                        f"check that Civic may write there, or set {DATA_ENV} to another folder."
                    ) from e
            return self._tenants[key]

    def _make(self, environment: str, service: str) -> Tenant:
        for name in (environment, service):
            if not _NAME.match(name):
                raise BackendError(f"'{name}' cannot name a folder of its own; names are lowercase DNS labels.")
        self._prepare()
        folder = os.path.join(self.folder, "services", environment, service)
        _folder(os.path.dirname(folder), 0o711 if self.isolated else 0o700)
        if not self.isolated:
            for path in (folder, os.path.join(folder, "home"), os.path.join(folder, "tmp")):
                _folder(path, 0o700)
            for path in ("releases", "cache", "built"):
                _folder(os.path.join(folder, path), 0o700)
            return Tenant(environment, service, folder, None)

        def settle(uid: int) -> None:
            _folder(folder, 0o750, gid=uid)
            for private in ("home", "tmp", "cache"):
                _folder(os.path.join(folder, private), 0o700, uid=uid, gid=uid)
            _folder(os.path.join(folder, "releases"), 0o750, gid=uid)
            _folder(os.path.join(folder, "built"), 0o700)

        uid = identities.allocate(self.registry, key=f"{self.id}/{environment}/{service}", folder=folder, settle=settle)
        return Tenant(environment, service, folder, uid)

    def _prepare(self) -> None:
        """The data folder and this instance's, with the run dir they belong to.

        The data folder and ``instances`` may be shared with isolated Civics: they stay
        traversable (never listable) whatever this one is."""
        for path in (self.root, os.path.join(self.root, "instances")):
            _folder(path, 0o711)
        for path in (self.folder, os.path.join(self.folder, "services")):
            _folder(path, 0o711 if self.isolated else 0o700)
        marker = os.path.join(self.folder, "run-dir")
        if not os.path.exists(marker):
            with open(marker + ".tmp", "w") as f:
                f.write(os.path.realpath(self.run_dir))
            os.replace(marker + ".tmp", marker)

    def remove(self) -> None:
        """Forget every tenant of this instance: their folders and their uids (after ``civic down``)."""
        with self._lock:
            self._tenants.clear()
            shutil.rmtree(self.folder, ignore_errors=True)
            if os.path.isdir(self.registry):
                identities.release(self.registry, under=self.folder)


_instances: dict[str, Instance] = {}
_instances_lock = threading.Lock()


def of(run_dir: str) -> Instance:
    """The instance of ``run_dir``: the one :func:`register` was given, else the default one."""
    key = os.path.realpath(run_dir)
    with _instances_lock:
        if key not in _instances:
            _instances[key] = Instance(run_dir)
        return _instances[key]


def register(instance: Instance) -> Instance:
    """Make ``instance`` the one :func:`of` gives for its run dir (the local backend does)."""
    with _instances_lock:
        _instances[os.path.realpath(instance.run_dir)] = instance
    return instance


def secure_run_dir(run_dir: str) -> None:
    """The run dir (and the estate's ``.civic`` that holds it) private to Civic's user."""
    _folder(run_dir, 0o700)
    parent = os.path.dirname(os.path.abspath(run_dir))
    if os.path.basename(parent) == ".civic":
        os.chmod(parent, 0o700)


def sweep(root: str) -> list[str]:
    """Remove the instances whose run dir is gone and none of whose users still runs a process
    (an estate deleted, a test's temporary folder); the run dirs they belonged to."""
    registry = os.path.join(root, "uids")
    held = identities.claims(registry)
    busy = identities.running_uids()
    removed = []
    with contextlib.suppress(FileNotFoundError):
        for name in os.listdir(os.path.join(root, "instances")):
            folder = os.path.join(root, "instances", name)
            try:
                with open(os.path.join(folder, "run-dir")) as f:
                    run_dir = f.read().strip()
            except OSError:
                continue  # being made, or not Civic's
            if not run_dir or os.path.exists(run_dir):
                continue
            uids = {uid for uid, target in held.items() if target.startswith(folder + os.sep)}
            if uids & busy:
                continue
            shutil.rmtree(folder, ignore_errors=True)
            identities.release(registry, under=folder)
            removed.append(run_dir)
    return removed


def _folder(path: str, mode: int, *, uid: int = -1, gid: int = -1) -> None:
    """``path`` a folder with exactly ``mode`` and, where given, owner and group."""
    os.makedirs(path, mode=mode, exist_ok=True)
    found = os.lstat(path)
    owner = found.st_uid if uid == -1 else uid
    group = found.st_gid if gid == -1 else gid
    if found.st_uid != owner:  # its uid changed: what it wrote stays its own
        for where, _dirs, files in os.walk(path):
            for name in [where, *(os.path.join(where, f) for f in files)]:
                os.lchown(name, owner, group)
    elif found.st_gid != group:
        os.chown(path, owner, group)
    if found.st_mode & 0o7777 != mode:
        os.chmod(path, mode)
