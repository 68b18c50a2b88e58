"""``civic policy audit``: every policy over everything applied, as Gatekeeper's audit does.

Admission (validate, plan, apply, deploy) judges a change; audit judges what is
already recorded: objects applied before a policy existed or became deny, and
exceptions that have since expired. :func:`audit` takes the store's specs
(``StateStore.all_specs()``, keyed by (kind, name)) and returns a report; services are
stored as ``(Service, "<environment>/<service>")`` and judged in their environment.
:func:`by_policy` groups the violations per policy with their total, as Gatekeeper's
constraint status does. Pure.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any

from civic.policy import evaluation, subjects
from civic.policy.definitions import PolicySet
from civic.policy.verdicts import Report, Verdict

Key = tuple[str, str]


def _subjects(specs: Mapping[Key, dict[str, Any]]) -> tuple[list[subjects.Subject], list[str]]:
    envs = {name: spec for (kind, name), spec in specs.items() if kind == "Environment"}
    out, notes = [], []
    for (kind, name), spec in sorted(specs.items()):
        if kind not in subjects.KINDS:
            continue
        env_name, _, short = name.rpartition("/")
        environment = None
        if kind == "Service" and env_name in envs:
            environment = subjects.KINDS["Environment"].view(envs[env_name])
        try:
            out.append(subjects.from_spec(kind, short or name, spec, environment=environment))
        except ValueError as e:
            notes.append(f"{kind} '{name}' as stored was not judged: {e}.")
    return out, notes


def audit(specs: Mapping[Key, dict[str, Any]], *, policies: PolicySet, today: datetime.date) -> Report:
    """Every policy's verdict on every applied object in ``specs``."""
    platform = specs.get(("Platform", "platform"))
    items, notes = _subjects(specs)
    platform_view = subjects.KINDS["Platform"].view(platform) if platform else {"spec": {}}
    report = evaluation.evaluate(policies, items, platform=platform_view, today=today)
    return Report(report.verdicts, report.policies, report.notes + tuple(notes))


def by_policy(report: Report) -> list[dict[str, Any]]:
    """Per policy in force: its mode, its total violations and each of them."""
    groups: dict[str, list[Verdict]] = {}
    for v in report.verdicts:
        groups.setdefault(v.policy, []).append(v)
    out = []
    for name, verdicts in sorted(groups.items()):
        failed = [v for v in verdicts if v.failed]
        out.append(
            {
                "policy": name,
                "mode": verdicts[0].mode.value,
                "judged": len(verdicts),
                "exempt": sum(1 for v in verdicts if v.status.value == "exempt"),
                "totalViolations": sum(len(v.messages) for v in failed),
                "violations": [
                    {
                        "kind": v.kind,
                        "name": v.name,
                        "environment": v.environment,
                        "message": m,
                        "enforcementAction": v.mode.value,
                    }
                    for v in failed
                    for m in v.messages
                ],
            }
        )
    return out
