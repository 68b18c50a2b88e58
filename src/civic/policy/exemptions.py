"""Exceptions: an environment or a service exempted from a named policy, until a date.

Declared as ``spec.policyExceptions`` (policy, reason, expires) on an Environment or a
Service; an environment's exceptions also cover its services. On the day after
``expires`` an exception stops applying: the policy judges the object again, and the
report says that the exception has expired. Kyverno's PolicyException and
Gatekeeper's exempt namespaces do the same job, without the expiry. Pure.
"""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Iterable, Mapping
from typing import Any

from civic.policy import subjects


@dataclasses.dataclass(frozen=True)
class Exemption:
    policy: str
    reason: str
    expires: datetime.date
    holder: str  # "environment laa-apply-dev" or "service web"

    def active(self, today: datetime.date) -> bool:
        return today <= self.expires

    def describe(self, today: datetime.date) -> str:
        if self.active(today):
            return f"exempt by {self.holder} until {self.expires}: {self.reason}"
        return f"the exception of {self.holder} expired on {self.expires} ({self.reason}); the policy applies again"


def _parse(raw: Mapping[str, Any], holder: str) -> Exemption:
    expires = raw["expires"]
    if not isinstance(expires, datetime.date):
        expires = datetime.date.fromisoformat(str(expires))
    return Exemption(str(raw["policy"]), str(raw["reason"]), expires, holder)


def of(subject: subjects.Subject) -> list[Exemption]:
    """The subject's own exceptions, then its environment's (for a service)."""
    kind = subjects.KINDS[subject.kind]
    out = [_parse(r, f"{subject.kind.lower()} {subject.name}") for r in kind.exceptions(subject.object)]
    env = subject.environment
    if env is not None and env is not subject.object:
        name = env["metadata"]["name"]
        out += [_parse(r, f"environment {name}") for r in subjects.KINDS["Environment"].exceptions(env)]
    return out


def find(
    exemptions: Iterable[Exemption], policy: str, today: datetime.date
) -> tuple[Exemption | None, Exemption | None]:
    """The active exception for ``policy``, if any, and else an expired one, if any."""
    matching = [e for e in exemptions if e.policy == policy]
    active = next((e for e in matching if e.active(today)), None)
    expired = None if active else next(iter(matching), None)
    return active, expired
