"""What a policy is: its name, what it judges, its rule, its message and its mode.

A :class:`Policy` is a frozen value. Its rule is either a CEL ``expression`` (true, or
an empty list, means allowed; a list gives one violation per item) or a Python
``check`` with the same shape, for what CEL cannot say (``scope="estate"``: checks
that need every object at once, such as hostname clashes). The built-in library
(:mod:`civic.policy.library`) and the estate's ``policies/*.yaml``
(:mod:`civic.policy.files`) both make these; :mod:`civic.policy.evaluation` runs them.
Pure.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Callable, Iterable, Mapping
from typing import Any


class Mode(str, enum.Enum):
    """What a violation does (Gatekeeper's enforcementAction, VAP's validationActions)."""

    DENY = "deny"  # the change, apply or deploy is refused
    WARN = "warn"  # shown, never blocks
    AUDIT = "audit"  # dry run: counted and listed by 'civic policy audit', not shown in plans


class Scope(str, enum.Enum):
    OBJECT = "object"  # judges one object at a time (every CEL policy)
    ESTATE = "estate"  # judges every object together (a Python check)


ObjectCheck = Callable[[Mapping[str, Any], Mapping[str, Any]], "bool | list[Any]"]
"""``check(variables, params)``: the same variables a CEL expression sees."""

EstateCheck = Callable[[Iterable[Any], Mapping[str, Any]], Iterable[tuple[Any, Any]]]
"""``check(subjects, params)`` yields ``(subject, item)``: one violation each."""


@dataclasses.dataclass(frozen=True)
class Policy:
    name: str
    description: str
    applies_to: tuple[str, ...]
    message: str
    mode: Mode = Mode.DENY
    expression: str | None = None
    when: str | None = None
    params: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    field: str = ""  # where violations point, e.g. "spec.hosts" (VAP's fieldPath)
    check: ObjectCheck | EstateCheck | None = dataclasses.field(default=None, compare=False)
    scope: Scope = Scope.OBJECT
    origin: str = "built-in"  # or the estate file that defines it

    @property
    def rule(self) -> str:
        """The rule as a person reads it: the CEL text, or where the Python check lives."""
        if self.expression is not None:
            return self.expression
        check = self.check
        return f"python: {getattr(check, '__module__', '?')}.{getattr(check, '__qualname__', '?')}"


@dataclasses.dataclass(frozen=True)
class Override:
    """An estate's change to a built-in: another mode, other parameters, or disabled."""

    policy: str
    reason: str
    file: str
    mode: Mode | None = None
    enabled: bool = True
    params: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    def describe(self, old: Mode) -> str:
        if not self.enabled:
            what = "disabled"
        elif self.mode is not None and self.mode is not old:
            what = f"mode {self.mode.value} (built-in: {old.value})"
        else:
            what = "parameters changed"
        return f"{self.policy}: {what}, by {self.file}: {self.reason}"


@dataclasses.dataclass(frozen=True)
class PolicySet:
    """The policies in force: the built-ins with the estate's overrides, then its own."""

    policies: tuple[Policy, ...]
    overrides: tuple[Override, ...] = ()
    disabled: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()  # what the overrides did, with their reasons

    def get(self, name: str) -> Policy | None:
        return next((p for p in self.policies if p.name == name), None)

    def known(self, name: str) -> bool:
        return name in self.disabled or self.get(name) is not None

    def for_kind(self, kind: str) -> list[Policy]:
        return [p for p in self.policies if kind in p.applies_to]


def with_overrides(base: Iterable[Policy], overrides: Iterable[Override], extra: Iterable[Policy] = ()) -> PolicySet:
    """The built-ins ``base`` changed by ``overrides``, plus the estate's own ``extra``."""
    by_name = {o.policy: o for o in overrides}
    out, disabled, notes = [], [], []
    for policy in base:
        o = by_name.get(policy.name)
        if o is None:
            out.append(policy)
            continue
        notes.append(o.describe(policy.mode))
        if not o.enabled:
            disabled.append(policy.name)
            continue
        out.append(dataclasses.replace(policy, mode=o.mode or policy.mode, params={**policy.params, **o.params}))
    return PolicySet(tuple(out) + tuple(extra), tuple(by_name.values()), tuple(disabled), tuple(notes))
