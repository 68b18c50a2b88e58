"""The users replicas run as: one uid per service, from a range Civic owns, as systemd's DynamicUser.

:mod:`civic.backends.local.tenancy` asks :func:`allocate` for the uid of one service (the gid
is the same number). Like systemd, Civic needs no ``/etc/passwd`` entry: the kernel runs a
process as any uid. The uid is picked deterministically from a hash of the service's key
(its Civic's identity, environment and service); a uid already claimed by another service,
named in the user or group database, or used by a running process is skipped for the next
candidate of the key's sequence. A claim is a symbolic link ``<registry>/<uid>`` naming the
folder of the service that holds it; the service's home folder is owned by its uid, so that
after a restart (or a reboot that emptied the registry) the same uid is found again from
it, as systemd finds a DynamicUser's uid again from its ``StateDirectory``. A claim whose
folder is gone, or no longer owned by the uid, is stale and may be taken.

Claims are made under an exclusive lock on ``<registry>/.lock``: Civic instances on one
machine (and threads of one) share the range.
"""

from __future__ import annotations

import contextlib
import fcntl
import grp
import hashlib
import os
import pwd
from collections.abc import Callable, Iterator

import psutil

from civic.errors import BackendError

FIRST = 61184
LAST = 65519
"""Civic's range, the one systemd gives to DynamicUser (0xEF00 to 0xFFEF)."""


def candidates(key: str) -> Iterator[int]:
    """The uids ``key`` tries, in order: the same sequence on every machine and every run."""
    size = LAST - FIRST + 1
    seen: set[int] = set()
    for attempt in range(4 * size):
        digest = hashlib.sha256(f"{key}\x00{attempt}".encode()).digest()
        uid = FIRST + int.from_bytes(digest[:8], "big") % size
        if uid not in seen:
            seen.add(uid)
            yield uid
    yield from (uid for uid in range(FIRST, LAST + 1) if uid not in seen)


def allocate(registry: str, *, key: str, folder: str, settle: Callable[[int], None]) -> int:
    """The uid of the service whose folder is ``folder``: the one it had, else a free one.

    ``settle(uid)`` runs under the lock once the uid is claimed, and must leave
    ``<folder>/home`` owned by it (what makes the claim last).
    """
    os.makedirs(registry, mode=0o700, exist_ok=True)
    with _locked(registry):
        uid = _held(registry, folder)
        if uid is None:
            busy = running_uids()
            uid = next((u for u in candidates(key) if _free(registry, u, busy)), None)
            if uid is None:
                raise BackendError(f"every uid from {FIRST} to {LAST} is taken; remove services Civic no longer runs.")
        _claim(registry, uid, folder)
        settle(uid)
        return uid


def release(registry: str, *, under: str) -> None:
    """Drop every claim on a folder inside ``under`` (an instance, or a service, removed)."""
    with _locked(registry):
        for uid, target in claims(registry).items():
            if target == under or target.startswith(under.rstrip(os.sep) + os.sep):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(os.path.join(registry, str(uid)))


def claims(registry: str) -> dict[int, str]:
    """Every claim: uid → the folder of the service that holds it."""
    found = {}
    with contextlib.suppress(FileNotFoundError):
        for name in os.listdir(registry):
            if name.isdigit():
                with contextlib.suppress(OSError):
                    found[int(name)] = os.readlink(os.path.join(registry, name))
    return found


def owner(folder: str) -> int | None:
    """The uid that owns ``<folder>/home``: the record of the uid a service had."""
    try:
        return os.stat(os.path.join(folder, "home")).st_uid
    except OSError:
        return None


def _held(registry: str, folder: str) -> int | None:
    """The uid ``folder`` had, if its claim is still its own or free to take back."""
    uid = owner(folder)
    if uid is None or not FIRST <= uid <= LAST:
        return None
    target = _target(registry, uid)
    return uid if target in (None, folder) or _stale(target, uid) else None


def _free(registry: str, uid: int, busy: set[int]) -> bool:
    target = _target(registry, uid)
    if target is not None and not _stale(target, uid):
        return False
    return uid not in busy and not _named(uid)


def _stale(target: str, uid: int) -> bool:
    return owner(target) != uid


def _named(uid: int) -> bool:
    """True if the user or group database names the uid: it belongs to someone else."""
    for lookup in (pwd.getpwuid, grp.getgrgid):
        try:
            lookup(uid)
            return True
        except KeyError:
            pass
    return False


def running_uids() -> set[int]:
    """Uids of the range that running processes use (a folder removed under a live process)."""
    found = set()
    for process in psutil.process_iter(["uids"]):
        uids = process.info["uids"]
        if uids is not None and FIRST <= uids.real <= LAST:
            found.add(uids.real)
    return found


def _target(registry: str, uid: int) -> str | None:
    try:
        return os.readlink(os.path.join(registry, str(uid)))
    except FileNotFoundError:
        return None


def _claim(registry: str, uid: int, folder: str) -> None:
    path = os.path.join(registry, str(uid))
    if _target(registry, uid) == folder:
        return
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
    os.symlink(folder, path)


@contextlib.contextmanager
def _locked(registry: str) -> Iterator[None]:
    fd = os.open(os.path.join(registry, ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
