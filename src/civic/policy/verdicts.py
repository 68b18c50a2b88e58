"""What evaluation returns: one :class:`Verdict` per policy and object, in a :class:`Report`.

A verdict says whether the object passed, violated the policy (with one message per
violation), was exempt, or could not be judged (an expression that failed on this
object counts as a violation: fail closed, as a ValidatingAdmissionPolicy with
``failurePolicy: Fail`` does). The report adds what the estate changed (overrides and
their reasons, expired exceptions). The CLI, plan rendering and the deploy path read
these. Pure.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Iterable
from typing import Any

from civic.policy.definitions import Mode


class Status(str, enum.Enum):
    PASSED = "passed"
    VIOLATED = "violated"
    EXEMPT = "exempt"
    ERROR = "error"  # the rule failed on this object; counted as a violation


@dataclasses.dataclass(frozen=True)
class Verdict:
    policy: str
    mode: Mode
    status: Status
    kind: str
    name: str
    environment: str | None = None
    messages: tuple[str, ...] = ()
    file: str = ""
    line: int = 0
    column: int = 0
    note: str = ""  # why it is exempt, or that an exception has expired

    @property
    def failed(self) -> bool:
        return self.status in (Status.VIOLATED, Status.ERROR)

    @property
    def denied(self) -> bool:
        return self.failed and self.mode is Mode.DENY

    @property
    def where(self) -> str:
        if not self.file:
            return f"{self.kind} {self.name}"
        return f"{self.file}:{self.line}:{self.column}" if self.line else self.file

    def lines(self) -> list[str]:
        """One line a violation: ``file:line:col: message [policy]``."""
        return [f"{self.where}: {m} [{self.policy}]" for m in self.messages]

    def as_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["mode"], out["status"] = self.mode.value, self.status.value
        out["messages"] = list(self.messages)
        return out


@dataclasses.dataclass(frozen=True)
class Report:
    verdicts: tuple[Verdict, ...]
    policies: int = 0
    notes: tuple[str, ...] = ()

    def _failed(self, mode: Mode) -> list[Verdict]:
        return [v for v in self.verdicts if v.failed and v.mode is mode]

    @property
    def denied(self) -> list[Verdict]:
        return self._failed(Mode.DENY)

    @property
    def warnings(self) -> list[Verdict]:
        return self._failed(Mode.WARN)

    @property
    def audits(self) -> list[Verdict]:
        return self._failed(Mode.AUDIT)

    @property
    def exempt(self) -> list[Verdict]:
        return [v for v in self.verdicts if v.status is Status.EXEMPT]

    @property
    def passed(self) -> list[Verdict]:
        return [v for v in self.verdicts if v.status is Status.PASSED]

    def counts(self) -> dict[str, int]:
        return {
            "policies": self.policies,
            "verdicts": len(self.verdicts),
            "passed": len(self.passed),
            "denied": len(self.denied),
            "warnings": len(self.warnings),
            "audits": len(self.audits),
            "exempt": len(self.exempt),
        }

    def by_environment(self) -> dict[str, list[Verdict]]:
        """Verdicts grouped by the environment they concern ('' for teams and the platform)."""
        out: dict[str, list[Verdict]] = {}
        for v in self.verdicts:
            out.setdefault(v.environment or "", []).append(v)
        return dict(sorted(out.items()))

    def denial_message(self) -> str:
        """The message a refused apply or deploy shows: every denial, one a line."""
        lines = [line for v in self.denied for line in v.lines()]
        head = f"denied by policy ({len(lines)} violation{'s' if len(lines) != 1 else ''}); nothing was changed:"
        return "\n".join([head, *(f"  {line}" for line in lines)])

    def as_dict(self, *, include_passed: bool = True) -> dict[str, Any]:
        shown: Iterable[Verdict] = (
            self.verdicts if include_passed else [v for v in self.verdicts if v.status is not Status.PASSED]
        )
        return {"summary": self.counts(), "notes": list(self.notes), "verdicts": [v.as_dict() for v in shown]}
