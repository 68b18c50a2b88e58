"""Compare what the estate says with what was last applied, and say what would change.

The caller (the store, the CLI) gives the desired objects as canonical dicts, the
fingerprints of what was applied, and the applied specs of only those objects whose
fingerprints differ: so a plan costs in proportion to the change, not to the estate.
:func:`make` returns a :class:`Plan`. Pure.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Iterator, Mapping
from typing import Any

from civic.plan import actions, diffs
from civic.plan.actions import Key
from civic.spec import models
from civic.spec.estate import Estate

KIND_ORDER = {"Platform": 0, "Team": 1, "Environment": 2}


@dataclasses.dataclass(frozen=True)
class Plan:
    actions: tuple[actions.Action, ...]
    unchanged: Mapping[str, int]
    refused: tuple[str, ...] = ()
    revision: str | None = None
    scoped: bool = False  # only part of the estate was compared (--changed-since)

    @property
    def empty(self) -> bool:
        return not self.actions

    def count(self, verb: str) -> int:
        return sum(1 for a in self.actions if a.verb == verb)


fingerprint = models.fingerprint


def changed_keys(
    desired: Mapping[Key, str], applied: Mapping[Key, str], *, only: Collection[Key] | None = None
) -> set[Key]:
    """Keys whose fingerprints differ, given both sides' fingerprints."""
    keys = set(desired) | set(applied)
    if only is not None:
        keys &= set(only)
    return {k for k in keys if desired.get(k) != applied.get(k)}


def make(
    desired: Mapping[Key, dict[str, Any]],
    applied: Mapping[Key, dict[str, Any]],
    *,
    applied_keys: Collection[Key],
    secrets: Mapping[Key, Mapping[str, str]] | None = None,
    applied_secrets: Mapping[Key, Mapping[str, str]] | None = None,
    only: Collection[Key] | None = None,
    allow_delete_production: bool = False,
    revision: str | None = None,
) -> Plan:
    """The plan from ``applied`` to ``desired``.

    ``applied`` needs the specs of changed keys only; ``applied_keys`` lists every key
    the store holds. ``secrets``/``applied_secrets`` map an environment's key to its
    secrets' fingerprints now and at the last apply (values never come here).
    """
    secrets = secrets or {}
    applied_secrets = applied_secrets or {}
    scope = set(desired) | set(applied_keys)
    if only is not None:
        scope &= set(only)
    out: list[actions.Action] = []
    unchanged: dict[str, int] = {}
    refused: list[str] = []
    for key in sorted(scope, key=lambda k: (KIND_ORDER.get(k[0], 9), k[1])):
        kind, name = key
        secret_changes = _secret_changes(secrets.get(key, {}), applied_secrets.get(key, {}))
        if key not in desired:
            old = applied.get(key, {})
            if kind == "Environment" and actions.is_production(old) and not allow_delete_production:
                refused.append(
                    f"deleting production environment '{name}' is refused; pass "
                    "--allow-delete-production if that is what you mean."
                )
            out.append(actions.Delete(kind, name, old))
        elif key not in applied_keys:
            out.append(actions.Create(kind, name, desired[key]))
        elif key in applied or secret_changes:
            new = desired[key]
            changes = diffs.diff(applied.get(key, new), new)
            if changes or secret_changes:
                out.append(actions.Update(kind, name, new, changes, secret_changes))
            else:
                unchanged[kind] = unchanged.get(kind, 0) + 1
        else:
            unchanged[kind] = unchanged.get(kind, 0) + 1
    deletes = [a for a in out if a.verb == "delete"]
    rest = [a for a in out if a.verb != "delete"]
    deletes.sort(key=lambda a: (-KIND_ORDER.get(a.kind, 9), a.name))
    return Plan(tuple(rest + deletes), unchanged, tuple(refused), revision, only is not None)


def _secret_changes(now: Mapping[str, str], then: Mapping[str, str]) -> tuple[str, ...]:
    return tuple(sorted(n for n in set(now) | set(then) if now.get(n) != then.get(n)))


class _Canonical(Mapping[Key, dict[str, Any]]):
    """Objects' canonical forms, each computed when first asked for: a plan asks only for
    the objects that changed, so unchanged ones are never dumped."""

    def __init__(self, objects: Mapping[Key, models.Kind]) -> None:
        self._objects = objects

    def __getitem__(self, key: Key) -> dict[str, Any]:
        return self._objects[key].canonical()

    def __contains__(self, key: object) -> bool:
        return key in self._objects

    def __iter__(self) -> Iterator[Key]:
        return iter(self._objects)

    def __len__(self) -> int:
        return len(self._objects)


def desired(estate: Estate) -> Mapping[Key, dict[str, Any]]:
    """Every object of the estate in canonical form, keyed by (kind, name)."""
    return _Canonical(estate.objects())


def desired_fingerprints(estate: Estate) -> dict[Key, str]:
    return {key: model.fingerprint() for key, model in estate.objects().items()}
