"""The state store: what was last applied, its history, secrets, and the apply lock.

Desired state (the specs applied from git, with the revision they came from) is what
the reconcilers read. Every method is one short transaction; :meth:`StateStore.lock`
serialises writers across processes and machines: a row in ``civic_locks`` names the
holder (:class:`Holder`: user, host, pid and the process's start time). A lock must not
outlive its holder, so a SIGKILLed ``civic apply`` cannot make the next one wait:

- on this host, a lock whose holder process is gone (its pid is dead, or is now another
  process's, with another start time) is taken over, and the taker logs a warning that
  says so;
- on PostgreSQL the lock is also a session advisory lock (``pg_try_advisory_lock``),
  held on a connection of its own for as long as the lock is held: the server lets it
  go when the holder's session ends, however the process ended, so a row left by a
  holder of this release, on any host, is taken over once its advisory lock is free;
- a holder on another host, on SQLite, or one recorded by a release before start times
  whose pid still runs, keeps its lock until its lease runs out.

Opening a store migrates its schema to the newest revision (:mod:`civic.store.migrations`):
a store made by an earlier release, even one from before migrations, is upgraded in
place; one migrated by a newer Civic is refused with a StoreError that says what to do.
``civic migrate`` does the same on its own and prints the revision before and after.

Callers read specs as models through the typed methods (:meth:`StateStore.platform`,
:meth:`~StateStore.environment`, :meth:`~StateStore.environments`,
:meth:`~StateStore.teams`); the dict methods serve the planner and the audit, which
compare and judge the stored JSON itself.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import logging
import os
import pwd
import re
import socket
import time
from collections.abc import Callable, Collection, Iterator
from typing import Any

import psutil
import sqlalchemy as sa

from civic import deadlines
from civic.errors import LockTimeout, NotFound, StoreError
from civic.plan.actions import Key
from civic.spec import models
from civic.store import database as db

APPLY_LOCK = "apply"

log = logging.getLogger("civic.store")


def team_scope(name: str) -> str:
    """The secret scope of a team (an environment's scope is its own name)."""
    return f"team/{name}"


@dataclasses.dataclass(frozen=True)
class HistoryEntry:
    revision: int
    git_revision: str | None
    applied_at: float
    applied_by: str
    operation: str
    changes: list[dict[str, Any]]

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class SecretInfo:
    scope: str
    name: str
    fingerprint: str
    updated_at: float


def actor() -> str:
    try:
        user = pwd.getpwuid(os.getuid()).pw_name
    except KeyError:
        user = str(os.getuid())
    return f"{user}@{socket.gethostname()} pid {os.getpid()}"


@dataclasses.dataclass(frozen=True)
class Holder:
    """The process that holds a lock, as the ``holder`` column records it:
    ``user@host pid N started T``, T the process's start time (seconds since the epoch,
    as psutil gives it), so that a recycled pid is never taken for the holder."""

    user: str
    host: str
    pid: int
    started: float | None  # None: recorded by a release before start times ("user@host pid N")

    _TEXT = re.compile(r"^(?P<user>.*)@(?P<host>\S+) pid (?P<pid>\d+)(?: started (?P<started>\d+(?:\.\d+)?))?$")

    @classmethod
    def current(cls) -> Holder:
        try:
            user = pwd.getpwuid(os.getuid()).pw_name
        except KeyError:
            user = str(os.getuid())
        return cls(user[:32], socket.gethostname()[:120], os.getpid(), psutil.Process().create_time())

    @classmethod
    def parse(cls, text: str) -> Holder | None:
        """The holder ``text`` names; None when it is not one Civic wrote."""
        match = cls._TEXT.match(text)
        if match is None:
            return None
        started = match["started"]
        return cls(match["user"], match["host"], int(match["pid"]), float(started) if started else None)

    def __str__(self) -> str:
        started = f" started {self.started:.2f}" if self.started is not None else ""
        return f"{self.user}@{self.host} pid {self.pid}{started}"

    def describe(self) -> str:
        """For a person: who, where, which process."""
        return f"{self.user}@{self.host} pid {self.pid}"

    def here(self) -> bool:
        return self.host == socket.gethostname()[:120]

    def running(self) -> bool | None:
        """On this host: whether the very process still runs. None on another host, or
        when it cannot be told (a pid that runs, recorded without its start time)."""
        if not self.here():
            return None
        try:
            process = psutil.Process(self.pid)
            if process.status() in (psutil.STATUS_ZOMBIE, psutil.STATUS_DEAD):
                return False  # it has exited; only its parent has yet to reap it
            if self.started is None:
                return None
            return f"{process.create_time():.2f}" == f"{self.started:.2f}"
        except psutil.NoSuchProcess:
            return False
        except psutil.Error:
            return None


def _advisory_key(name: str) -> int:
    """The PostgreSQL advisory lock key (a signed 64-bit integer) of lock ``name``."""
    digest = hashlib.blake2b(f"civic lock {name}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


class StateStore:
    """One store; open with ``StateStore(state)`` where state is a path or a URL."""

    def __init__(self, state: str) -> None:
        self.state = state
        self.engine = db.connect(state)

    def __repr__(self) -> str:
        return f"StateStore(state={db.redact(self.state)!r})"

    def close(self) -> None:
        self.engine.dispose()

    @contextlib.contextmanager
    def _tx(self) -> Iterator[sa.Connection]:
        try:
            with self.engine.begin() as conn:
                yield conn
        except sa.exc.SQLAlchemyError as e:
            raise StoreError(f"the state store at {db.redact(self.state)} failed: {db._reason(e)}.") from e

    # --- reading -------------------------------------------------------------------

    def fingerprints(self) -> dict[Key, str]:
        with self._tx() as conn:
            rows = conn.execute(sa.select(db.objects.c.kind, db.objects.c.name, db.objects.c.fingerprint))
            return {(r.kind, r.name): r.fingerprint for r in rows}

    def specs(self, keys: Collection[Key]) -> dict[Key, dict[str, Any]]:
        """Applied specs of ``keys`` (the changed ones only, so the cost follows the change)."""
        if not keys:
            return {}
        out: dict[Key, dict[str, Any]] = {}
        by_kind: dict[str, list[str]] = {}
        for kind, name in keys:
            by_kind.setdefault(kind, []).append(name)
        with self._tx() as conn:
            for kind, names in by_kind.items():
                for i in range(0, len(names), 500):
                    q = sa.select(db.objects.c.name, db.objects.c.spec).where(
                        db.objects.c.kind == kind, db.objects.c.name.in_(names[i : i + 500])
                    )
                    out.update({(kind, r.name): json.loads(r.spec) for r in conn.execute(q)})
        return out

    def all_specs(self, kind: str | None = None) -> dict[Key, dict[str, Any]]:
        q = sa.select(db.objects.c.kind, db.objects.c.name, db.objects.c.spec)
        if kind:
            q = q.where(db.objects.c.kind == kind)
        with self._tx() as conn:
            return {(r.kind, r.name): json.loads(r.spec) for r in conn.execute(q)}

    def platform(self) -> models.Platform:
        """The applied Platform (an estate has one, in civic.yaml)."""
        specs = self.all_specs("Platform")
        if not specs:
            raise NotFound("no platform has been applied to this store; 'civic apply' records the estate's civic.yaml.")
        return models.Platform.model_validate(next(iter(specs.values())))

    def environment(self, name: str) -> models.Environment | None:
        """The applied Environment ``name``; None when it has not been applied."""
        spec = self.specs([("Environment", name)]).get(("Environment", name))
        return models.Environment.model_validate(spec) if spec is not None else None

    def environments(self) -> dict[str, models.Environment]:
        """Every applied Environment, by name."""
        return {
            name: models.Environment.model_validate(spec) for (_, name), spec in self.all_specs("Environment").items()
        }

    def teams(self) -> dict[str, models.Team]:
        """Every applied Team, by name."""
        return {name: models.Team.model_validate(spec) for (_, name), spec in self.all_specs("Team").items()}

    def applied_secret_fingerprints(self) -> dict[Key, dict[str, str]]:
        q = sa.select(db.objects.c.kind, db.objects.c.name, db.objects.c.secrets).where(db.objects.c.secrets != "{}")
        with self._tx() as conn:
            return {(r.kind, r.name): json.loads(r.secrets) for r in conn.execute(q)}

    def history(self, kind: str, name: str) -> list[HistoryEntry]:
        h, r = db.history, db.revisions
        q = (
            sa.select(h.c.revision_id, h.c.operation, h.c.changes, r.c.git_revision, r.c.applied_at, r.c.applied_by)
            .join(r, r.c.id == h.c.revision_id)
            .where(h.c.kind == kind, h.c.name == name)
            .order_by(h.c.revision_id.desc())
        )
        with self._tx() as conn:
            rows = list(conn.execute(q))
        if not rows:
            raise NotFound(
                f"no {kind.lower()} named '{name}' has ever been applied; "
                "'civic apply' records it, and 'civic history' lists what was."
            )
        return [
            HistoryEntry(
                row.revision_id,
                row.git_revision,
                row.applied_at,
                row.applied_by,
                row.operation,
                json.loads(row.changes),
            )
            for row in rows
        ]

    # --- writing -------------------------------------------------------------------

    def new_revision(self, *, git_revision: str | None, summary: dict[str, int]) -> int:
        with self._tx() as conn:
            result = conn.execute(
                db.revisions.insert().values(
                    git_revision=git_revision, applied_at=time.time(), applied_by=actor(), summary=json.dumps(summary)
                )
            )
            key = result.inserted_primary_key
            assert key is not None, "an insert into a table with a primary key returns it"
            return int(key[0])

    def write(self, revision: int, records: list[dict[str, Any]]) -> None:
        """Record one unit of change (an environment's actions) in one transaction.

        Each record: kind, name, operation, spec (None to delete), fingerprint,
        secrets (fingerprints) and changes (for history).
        """
        now = time.time()
        with self._tx() as conn:
            for rec in records:
                key_match = (db.objects.c.kind == rec["kind"]) & (db.objects.c.name == rec["name"])
                conn.execute(db.objects.delete().where(key_match))
                spec_text = None
                if rec["spec"] is not None:
                    spec_text = json.dumps(rec["spec"], sort_keys=True, default=str)
                    conn.execute(
                        db.objects.insert().values(
                            kind=rec["kind"],
                            name=rec["name"],
                            spec=spec_text,
                            fingerprint=rec["fingerprint"],
                            secrets=json.dumps(rec["secrets"], sort_keys=True),
                            revision_id=revision,
                            applied_at=now,
                        )
                    )
                conn.execute(
                    db.history.insert().values(
                        revision_id=revision,
                        kind=rec["kind"],
                        name=rec["name"],
                        operation=rec["operation"],
                        spec=spec_text,
                        changes=json.dumps(rec["changes"], default=str),
                    )
                )

    # --- secrets -------------------------------------------------------------------

    def put_secret(self, scope: str, name: str, *, ciphertext: bytes, fingerprint: str) -> None:
        with self._tx() as conn:
            conn.execute(db.secrets.delete().where((db.secrets.c.scope == scope) & (db.secrets.c.name == name)))
            conn.execute(
                db.secrets.insert().values(
                    scope=scope, name=name, ciphertext=ciphertext, fingerprint=fingerprint, updated_at=time.time()
                )
            )

    def get_secret(self, scope: str, name: str) -> bytes:
        q = sa.select(db.secrets.c.ciphertext).where((db.secrets.c.scope == scope) & (db.secrets.c.name == name))
        with self._tx() as conn:
            row = conn.execute(q).first()
        if row is None:
            raise NotFound(f"secret '{name}' of {scope} has no value; set one with 'civic secret set {scope} {name}'.")
        return bytes(row.ciphertext)

    def list_secrets(self, scope: str | None = None) -> list[SecretInfo]:
        q = sa.select(
            db.secrets.c.scope, db.secrets.c.name, db.secrets.c.fingerprint, db.secrets.c.updated_at
        ).order_by(db.secrets.c.scope, db.secrets.c.name)
        if scope:
            q = q.where(db.secrets.c.scope == scope)
        with self._tx() as conn:
            return [SecretInfo(r.scope, r.name, r.fingerprint, r.updated_at) for r in conn.execute(q)]

    def secret_fingerprints(self) -> dict[str, dict[str, str]]:
        """scope → {name: fingerprint}, for every secret with a value."""
        out: dict[str, dict[str, str]] = {}
        for info in self.list_secrets():
            out.setdefault(info.scope, {})[info.name] = info.fingerprint
        return out

    # --- the lock ------------------------------------------------------------------

    @contextlib.contextmanager
    def lock(self, name: str = APPLY_LOCK, *, timeout: float = 30.0, lease: float = 600.0) -> Iterator[None]:
        """Hold the named lock; wait up to ``timeout`` seconds, then raise LockTimeout.

        A lock whose holder is gone is taken over (see the module's docstring); ``lease``
        bounds how long the lock of a holder that cannot be seen from here is kept.
        """
        holder = Holder.current()
        with self._advisory(name) as advisory:
            try:
                deadlines.poll(
                    lambda: self._try_lock(name, holder, lease, advisory),
                    timeout=timeout,
                    interval=0.05,
                    what=f"the lock {name!r}",
                )
            except deadlines.Timeout as e:
                raise LockTimeout(self._lock_message(name, timeout)) from e
            try:
                yield
            finally:
                with self._tx() as conn:
                    conn.execute(
                        db.locks.delete().where((db.locks.c.name == name) & (db.locks.c.holder == str(holder)))
                    )

    @contextlib.contextmanager
    def _advisory(self, name: str) -> Iterator[Callable[[], bool] | None]:
        """On PostgreSQL, a function that tries to take the session advisory lock of
        ``name`` on a connection of its own (kept until the block ends); None elsewhere."""
        if self.engine.dialect.name != "postgresql":
            yield None
            return
        key = _advisory_key(name)
        try:
            conn = self.engine.connect()
            conn.execution_options(isolation_level="AUTOCOMMIT")  # no transaction left open while held
        except sa.exc.SQLAlchemyError as e:
            raise StoreError(f"the state store at {db.redact(self.state)} failed: {db._reason(e)}.") from e
        held = False

        def acquire() -> bool:
            nonlocal held
            if not held:
                try:
                    held = bool(conn.execute(sa.text("SELECT pg_try_advisory_lock(:key)"), {"key": key}).scalar())
                except sa.exc.SQLAlchemyError as e:
                    raise StoreError(f"the state store at {db.redact(self.state)} failed: {db._reason(e)}.") from e
            return held

        try:
            yield acquire
        finally:
            try:
                if held:
                    conn.execute(sa.text("SELECT pg_advisory_unlock(:key)"), {"key": key})
                conn.close()
            except sa.exc.SQLAlchemyError:
                conn.invalidate()  # its session ends, and the lock with it

    def _try_lock(self, name: str, holder: Holder, lease: float, advisory: Callable[[], bool] | None) -> bool:
        if advisory is not None and not advisory():
            return False
        now = time.time()
        left: Holder | None = None
        try:
            with self.engine.begin() as conn:
                conn.execute(db.locks.delete().where((db.locks.c.name == name) & (db.locks.c.expires_at < now)))
                row = conn.execute(sa.select(db.locks.c.holder).where(db.locks.c.name == name)).first()
                if row is not None:
                    left = Holder.parse(row.holder)
                    if left is None or not _abandoned(left, advisory_held=advisory is not None):
                        return False
                    conn.execute(db.locks.delete().where((db.locks.c.name == name) & (db.locks.c.holder == row.holder)))
                conn.execute(
                    db.locks.insert().values(name=name, holder=str(holder), acquired_at=now, expires_at=now + lease)
                )
        except sa.exc.IntegrityError:
            return False
        except sa.exc.OperationalError as e:  # SQLite: database is locked past busy_timeout
            if "locked" in str(e):
                return False
            raise StoreError(f"the state store at {db.redact(self.state)} failed: {db._reason(e)}.") from e
        if left is not None:
            log.warning(
                "took over the %s lock left by pid %d on %s, which is no longer running", name, left.pid, left.host
            )
        return True

    def _lock_message(self, name: str, timeout: float) -> str:
        with self._tx() as conn:
            row = conn.execute(sa.select(db.locks).where(db.locks.c.name == name)).first()
        if row is None:
            who = "another process"
        else:
            named = Holder.parse(row.holder)
            who = (
                f"{named.describe() if named is not None else row.holder}, "
                f"since {time.strftime('%H:%M:%S', time.localtime(row.acquired_at))}"
            )
        return (
            f"another {name} is running ({who}); waited {timeout:g} s. Try again when it "
            "has finished, or raise --lock-timeout."
        )


def _abandoned(left: Holder, *, advisory_held: bool) -> bool:
    """Whether the lock ``left`` recorded has lost its holder, so it may be taken over.

    With the PostgreSQL advisory lock now ours, a holder of this release (one with a start
    time; it took the advisory lock too) has ended its session, unless it still runs here.
    Otherwise only a holder on this host can be seen to be gone.
    """
    running = left.running()
    if advisory_held and left.started is not None:
        return running is not True
    return running is False
