"""Apply on merge: ``civic up`` keeps the store in step with the estate repository.

Every ``interval`` seconds :class:`EstateSync` looks at the estate. In a git repository
it follows the commit checked out (HEAD), as Argo CD and Flux follow a branch: a new
commit (a merged pull request, pulled) is applied with its files as committed, whatever
the working tree holds, and is recorded with its commit id; uncommitted edits wait for
their commit (``civic apply`` applies a working tree by hand). Outside git it follows
the files themselves (their sizes and modification times; their texts only when those
moved). ``civic up`` applies the files as they are when it starts (:meth:`EstateSync.prime`
takes that as the starting point); the sync applies what changes after. When anything
changed it does what ``civic validate``, ``civic plan`` and ``civic apply`` would: it loads
the estate (parsing again only the files whose text changed: the parse cache and the
policy verdicts stay in memory), judges it by policy and applies the plan with the
git revision it came from. Then it tells the control plane which environments the
plan touched, with the estate's policies, so the reconciler converges those
environments and later deploys are judged by the policies now in force.

An estate that cannot be applied (a problem in a file, a policy denial, a refused
delete of a production environment, the apply lock held too long) is not applied, in
whole or in part: the last good state keeps running, and the reason is kept in
:attr:`EstateSync.status` (``GET /v1/estate``, ``civic status``) and logged once, until
a later change mends it. Level-based: each look applies the whole estate as its files
say now, so a change missed (or made while Civic was down) is applied by the next.
Run by :class:`civic.control.plane.ControlPlane` as the guarded task "estate sync".
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import logging
import os
import time
from collections.abc import Callable
from typing import Literal

from pydantic.alias_generators import to_camel

from civic import policy, vcs
from civic.control import applying, memo
from civic.errors import CivicError, SpecError, StoreError
from civic.plan import planning, rendering
from civic.policy.definitions import PolicySet
from civic.spec import estate as estate_mod
from civic.store.state import StateStore

log = logging.getLogger("civic.estate")

LOCK_TIMEOUT = 5.0
"""Seconds to wait for another apply (a ``civic apply`` run by hand) before trying later."""

Applied = Callable[[set[str], bool, PolicySet], None]
"""Called after a change is applied: the environments the plan touched, whether every
environment may be affected (the platform or a team changed), and the policies in force."""

FileSignature = tuple[str, int, int] | tuple[str, None]
"""One estate file's path, size and modification time (ns); (path, None) when it cannot be read."""

Signature = tuple[Literal["git"], str] | tuple[FileSignature, ...]
"""What :meth:`EstateSync.signature` returns: ("git", HEAD's commit), or every estate file's."""


@dataclasses.dataclass
class Status:
    """What the sync last did, for ``GET /v1/estate``."""

    root: str
    interval: float
    revision: str | None = None  # the git revision of the estate last applied
    applied_at: float | None = None  # when a change was last applied (epoch seconds)
    summary: dict[str, int] | None = None  # what that apply changed: create, update, delete, unchanged
    checked_at: float | None = None  # when the files were last looked at
    seconds: float = 0.0  # how long the last load, policy check and apply took
    error: str = ""  # why the estate as its files are now is not applied ("" when it is)

    def as_dict(self) -> dict[str, object]:
        """camelCase, as the API's other answers."""
        return {to_camel(k): v for k, v in dataclasses.asdict(self).items()}


class EstateSync:
    def __init__(self, root: str, store: StateStore, *, interval: float, on_applied: Applied) -> None:
        self.root = root
        self.store = store
        self.interval = interval
        self.on_applied = on_applied
        self.status = Status(root, interval)
        self.cache: estate_mod.ParseCache = {}
        self.verdicts = memo.Kept()
        self._signature: Signature | None = None

    def __repr__(self) -> str:
        return f"EstateSync(root={self.root!r}, interval={self.interval}, error={self.status.error!r})"

    def signature(self) -> Signature:
        """HEAD's commit in git; else every estate file's path, size and modification time."""
        commit = vcs.head(self.root)
        if commit is not None:
            return ("git", commit)
        out: list[FileSignature] = []
        for rel in estate_mod.paths(self.root):
            try:
                st = os.stat(os.path.join(self.root, rel))
            except OSError:
                out.append((rel, None))
                continue
            out.append((rel, st.st_size, st.st_mtime_ns))
        return tuple(out)

    def prime(self, revision: str | None) -> None:
        """Take the estate as it is now as applied already (``civic up`` has just applied it)."""
        self._signature = self.signature()
        self.status.revision = revision

    def check(self, *, today: datetime.date | None = None) -> bool:
        """One look (blocking; the loop runs it in a thread). True if a change was applied."""
        signature = self.signature()
        if signature == self._signature:
            return False
        started = time.monotonic()
        self.status.checked_at = time.time()
        try:
            applied = self._apply(signature, today or datetime.date.today())
        except CivicError as e:
            self._failed(e)
            if not isinstance(e, StoreError):  # the same files fail the same way: wait for a change
                self._signature = signature
            return False  # a busy lock or store: the next look tries again
        finally:
            self.status.seconds = round(time.monotonic() - started, 3)
        self._signature = signature
        if self.status.error:
            log.info("the estate at %s is applied again; the earlier problem is gone", self.root)
        self.status.error = ""
        return applied

    def _apply(self, signature: Signature, today: datetime.date) -> bool:
        if signature and signature[0] == "git":
            revision = signature[1]
            texts = estate_mod.texts_from(vcs.files_at(self.root, revision, pick=estate_mod.select))
        else:
            revision, texts = None, estate_mod.read(self.root)
        loaded = estate_mod.parse(texts, root=self.root, cache=self.cache)
        policies = policy.policy_set(loaded)
        report = policy.check_estate(loaded, today=today, policies=policies, memo=self.verdicts)
        self.verdicts = memo.Kept(self.verdicts.kept())  # forget the verdicts of files gone or changed
        if report.denied:
            raise CivicError(report.denial_message())
        done = applying.apply(loaded, self.store, revision=revision, lock_timeout=LOCK_TIMEOUT)
        self.status.revision = revision
        if done.plan.empty:
            return False
        self.status.applied_at = time.time()
        self.status.summary = rendering.summary(done.plan)
        everything = any(a.kind in ("Platform", "Team") for a in done.plan.actions)
        touched = touched_by(done.plan)
        log.info(
            "applied the estate at %s (%s) as revision %s: %s",
            self.root,
            revision or "no git",
            done.revision_id,
            self.status.summary,
        )
        self.on_applied(touched, everything, policies)
        return True

    def _failed(self, e: CivicError) -> None:
        if isinstance(e, SpecError):
            shown = [str(p) for p in e.problems[:10]]
            more = len(e.problems) - len(shown)
            reason = "; ".join(shown) + (f"; and {more} more (civic validate lists them)" if more > 0 else "")
        else:
            reason = e.message
        reason = f"not applied, the last good state keeps running: {reason}"
        if reason != self.status.error:
            log.warning("the estate at %s is %s", self.root, reason)
        self.status.error = reason

    async def run(self) -> None:
        """The loop: look, then wait ``interval`` seconds."""
        while True:
            await asyncio.to_thread(self.check)
            await asyncio.sleep(self.interval)


def touched_by(plan: planning.Plan) -> set[str]:
    """The environments a plan creates, updates or deletes."""
    return {a.name for a in plan.actions if a.kind == "Environment"}
