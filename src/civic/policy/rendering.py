"""A policy report as a pull-request section (markdown) or as lines of text.

The plan's markdown (:func:`civic.plan.rendering.to_markdown`) takes this as one of its
``sections``; the JSON forms are :meth:`Report.as_dict` and
:func:`civic.policy.audit.by_policy`. Denials and warnings are listed one by one;
audit-mode findings are counted, as a dry run should be. Pure.
"""

from __future__ import annotations

from civic.policy.verdicts import Report, Status


def summary(report: Report) -> str:
    c = report.counts()
    return (
        f"{c['policies']} policies, {c['verdicts']} verdicts: {c['denied']} denied, "
        f"{c['warnings']} warnings, {c['audits']} audit findings, {c['exempt']} exempt"
    )


def markdown(report: Report) -> str:
    c = report.counts()
    out = [
        "### Policy",
        "",
        "| denied | warnings | audit | exempt | passed |",
        "|---:|---:|---:|---:|---:|",
        f"| {c['denied']} | {c['warnings']} | {c['audits']} | {c['exempt']} | {c['passed']} |",
        "",
    ]
    for title, icon, verdicts in (("Denied", ":no_entry:", report.denied), ("Warnings", ":warning:", report.warnings)):
        if verdicts:
            out += [f"**{title}:**", ""]
            out += [f"- {icon} `{v.where}` {m} (`{v.policy}`)" for v in verdicts for m in v.messages]
            out.append("")
    exempt = report.exempt
    if exempt:
        out += ["**Exempt:**", ""] + [f"- `{v.policy}` for {v.kind} `{v.name}`: {v.note}" for v in exempt] + [""]
    if report.notes:
        out += ["**Policy changes and notes:**", ""] + [f"- {n}" for n in report.notes] + [""]
    if not (report.denied or report.warnings):
        out += ["Every policy in deny or warn mode passed.", ""]
    return "\n".join(out).rstrip() + "\n"


def per_environment(report: Report) -> list[tuple[str, dict[str, int]]]:
    """(environment, counts by status and mode) for each environment; '' for the rest."""
    out = []
    for env, verdicts in report.by_environment().items():
        counts = {"passed": 0, "denied": 0, "warnings": 0, "audits": 0, "exempt": 0}
        for v in verdicts:
            if v.status is Status.PASSED:
                counts["passed"] += 1
            elif v.status is Status.EXEMPT:
                counts["exempt"] += 1
            else:
                counts[{"deny": "denied", "warn": "warnings", "audit": "audits"}[v.mode.value]] += 1
        out.append((env, counts))
    return out
