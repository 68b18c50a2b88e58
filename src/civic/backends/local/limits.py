"""CPU and memory limits for replicas: the kernel's control groups, where this machine allows.

A service's ``resources.cpu`` and ``resources.memory`` are limits per replica, as in
Kubernetes. Each replica gets a control group of its own, ``civic/<replica id>``, with
its memory limit (the kernel kills the process when it is exceeded, and
:meth:`Limiter.killed_for_memory` says so afterwards) and its CPU quota (a share of
each 100 ms period; the process is throttled, never killed). cgroup v2 (one unified
hierarchy with the ``memory`` and ``cpu`` controllers) and v1 (separate ``memory`` and
``cpu`` hierarchies) are both understood. Where neither is writable (not root, or a
container that mounts them read-only), :func:`detect` returns None and the runtime
reports limits as recorded but not enforced.

A replica is moved into its group right after it is spawned; what it (and any child
it starts) allocates from then on counts against the limit.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import os

from civic.spec import quantities

ROOT = "/sys/fs/cgroup"
PARENT = "civic"
PERIOD_US = 100_000


@dataclasses.dataclass(frozen=True)
class Limits:
    """Per replica: CPU in millicores, memory in bytes (None: no limit)."""

    millicores: int | None = None
    memory: int | None = None

    @classmethod
    def of(cls, cpu: str | None, memory: str | None) -> Limits:
        return cls(quantities.millicores(cpu) if cpu else None, quantities.bytes_(memory) if memory else None)

    def __bool__(self) -> bool:
        return self.millicores is not None or self.memory is not None


class Limiter:
    """Makes, fills, reads and removes replicas' control groups under one hierarchy layout."""

    version = 0

    def __init__(self, root: str) -> None:
        self.root = root
        self.leftover: set[str] = set()
        """Replicas whose groups the kernel would not remove yet (still emptying): retried."""

    def dirs(self, replica_id: str) -> list[str]:
        raise NotImplementedError

    def _settings(self, limits: Limits) -> list[tuple[str, str]]:
        """(file relative to the group's directory, value) pairs; file may name a hierarchy."""
        raise NotImplementedError

    def apply(self, replica_id: str, pid: int, limits: Limits) -> None:
        """Put ``pid`` in a new group for ``replica_id`` with ``limits``; raises OSError."""
        for attempt in (1, 2):  # another Civic's sweep may remove the group before pid is in it
            try:
                for path in self.dirs(replica_id):
                    os.makedirs(path, exist_ok=True)
                for file, value in self._settings(limits):
                    _write(self._file(replica_id, file), value)
                for path in self.dirs(replica_id):
                    _write(os.path.join(path, "cgroup.procs"), str(pid))
                return
            except FileNotFoundError:
                if attempt == 2:
                    raise

    def _file(self, replica_id: str, file: str) -> str:
        raise NotImplementedError

    def killed_for_memory(self, replica_id: str) -> bool:
        raise NotImplementedError

    def remove(self, replica_id: str) -> bool:
        """Remove the replica's groups once their processes are gone; True when none is left.

        The kernel refuses (EBUSY) while a group still holds an exiting process; such a
        replica is kept in :attr:`leftover` and :meth:`retry` tries again later.
        """
        for path in self.dirs(replica_id):
            with contextlib.suppress(OSError):
                os.rmdir(path)
        if self.holds(replica_id):
            self.leftover.add(replica_id)
            return False
        self.leftover.discard(replica_id)
        return True

    def retry(self) -> None:
        """Try again to remove the groups that were still emptying (the supervisor's every tick)."""
        for replica_id in list(self.leftover):
            self.remove(replica_id)

    def holds(self, replica_id: str) -> bool:
        return any(os.path.isdir(path) for path in self.dirs(replica_id))

    def sweep(self) -> None:
        """Remove every empty group Civic left (the kernel refuses to remove one with processes)."""
        for parent in {os.path.dirname(path) for path in self.dirs("x")}:
            with contextlib.suppress(OSError):
                for name in os.listdir(parent):
                    if os.path.isdir(os.path.join(parent, name)):
                        with contextlib.suppress(OSError):
                            os.rmdir(os.path.join(parent, name))

    def probe(self) -> bool:
        """True if a group can be made, limited and removed here."""
        test = f"probe-{os.getpid()}"
        try:
            for path in self.dirs(test):
                os.makedirs(path, exist_ok=True)
            for file, value in self._settings(Limits(millicores=1000, memory=1 << 30)):
                _write(self._file(test, file), value)
            return True
        except OSError:
            return False
        finally:
            self.remove(test)


class V1(Limiter):
    """cgroup v1: ``memory/civic/<id>`` and ``cpu/civic/<id>``."""

    version = 1

    def dirs(self, replica_id: str) -> list[str]:
        return [os.path.join(self.root, h, PARENT, replica_id) for h in ("memory", "cpu")]

    def _file(self, replica_id: str, file: str) -> str:
        hierarchy = file.split(".", 1)[0]
        return os.path.join(self.root, hierarchy, PARENT, replica_id, file)

    def _settings(self, limits: Limits) -> list[tuple[str, str]]:
        out = []
        if limits.memory is not None:
            out.append(("memory.limit_in_bytes", str(limits.memory)))
        if limits.millicores is not None:
            out += [
                ("cpu.cfs_period_us", str(PERIOD_US)),
                ("cpu.cfs_quota_us", str(max(1000, limits.millicores * PERIOD_US // 1000))),
            ]
        return out

    def killed_for_memory(self, replica_id: str) -> bool:
        return _field(self._file(replica_id, "memory.oom_control"), "oom_kill") > 0


class V2(Limiter):
    """cgroup v2: ``civic/<id>`` in the unified hierarchy, with ``memory.max`` and ``cpu.max``."""

    version = 2

    def dirs(self, replica_id: str) -> list[str]:
        return [os.path.join(self.root, PARENT, replica_id)]

    def _file(self, replica_id: str, file: str) -> str:
        return os.path.join(self.root, PARENT, replica_id, file)

    def apply(self, replica_id: str, pid: int, limits: Limits) -> None:
        parent = os.path.join(self.root, PARENT)
        os.makedirs(parent, exist_ok=True)
        _write(os.path.join(parent, "cgroup.subtree_control"), "+memory +cpu")
        super().apply(replica_id, pid, limits)

    def _settings(self, limits: Limits) -> list[tuple[str, str]]:
        out = []
        if limits.memory is not None:
            out += [("memory.max", str(limits.memory)), ("memory.swap.max", "0")]
        if limits.millicores is not None:
            out.append(("cpu.max", f"{max(1000, limits.millicores * PERIOD_US // 1000)} {PERIOD_US}"))
        return out

    def probe(self) -> bool:
        try:
            with open(os.path.join(self.root, "cgroup.controllers")) as f:
                if not {"memory", "cpu"} <= set(f.read().split()):
                    return False
        except OSError:
            return False
        return super().probe()

    def killed_for_memory(self, replica_id: str) -> bool:
        return _field(self._file(replica_id, "memory.events"), "oom_kill") > 0


def detect(root: str = ROOT) -> Limiter | None:
    """The limiter this machine allows, or None when limits cannot be enforced here."""
    if os.path.exists(os.path.join(root, "cgroup.controllers")):
        candidates: list[Limiter] = [V2(root)]
    else:
        candidates = [V1(root)]
        if os.path.exists(os.path.join(root, "unified", "cgroup.controllers")):
            candidates.append(V2(os.path.join(root, "unified")))
    for limiter in candidates:
        if limiter.probe():
            return limiter
    return None


@functools.cache
def enforcer() -> Limiter | None:
    """:func:`detect`, once per process."""
    return detect()


def describe() -> str:
    """How this machine treats cpu and memory limits, for a deploy's warnings and ``civic status``."""
    found = enforcer()
    if found is None:
        return (
            "recorded but not enforced: this machine gives Civic no writable control groups "
            "(run civic up as root on Linux to enforce them)"
        )
    return f"enforced per replica with cgroup v{found.version}"


def _write(path: str, value: str) -> None:
    with open(path, "w") as f:
        f.write(value)


def _field(path: str, name: str) -> int:
    try:
        with open(path) as f:
            for line in f:
                key, _, value = line.partition(" ")
                if key == name:
                    return int(value)
    except (OSError, ValueError):
        pass
    return 0
