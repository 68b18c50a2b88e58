"""A plan as JSON (stable, documented in docs/plan-format.md) or as a pull-request comment.

The human rendering, with colour, lives in the CLI (it needs Rich); the two here are
plain text and pure. Secret values never reach a plan: a changed secret is shown as
``(secret changed)``.
"""

from __future__ import annotations

import json
from typing import Any

from civic.plan import actions, diffs
from civic.plan.planning import Plan

FORMAT_VERSION = 1
SECRET_CHANGED = "(secret changed)"


def as_dict(plan: Plan) -> dict[str, Any]:
    """The JSON form: ``formatVersion``, ``revision``, ``summary``, ``changes``, ``refused``."""
    return {
        "formatVersion": FORMAT_VERSION,
        "revision": plan.revision,
        "scoped": plan.scoped,
        "summary": summary(plan),
        "changes": [_change(a) for a in plan.actions],
        "refused": list(plan.refused),
    }


def summary(plan: Plan) -> dict[str, int]:
    return {
        "create": plan.count("create"),
        "update": plan.count("update"),
        "delete": plan.count("delete"),
        "unchanged": sum(plan.unchanged.values()),
    }


def to_json(plan: Plan, **extra: Any) -> str:
    return json.dumps(as_dict(plan) | extra, indent=2, sort_keys=False, default=str) + "\n"


def _change(action: actions.Action) -> dict[str, Any]:
    out: dict[str, Any] = {"kind": action.kind, "name": action.name, "action": action.verb}
    if isinstance(action, actions.Create):
        out["spec"] = action.spec
    elif isinstance(action, actions.Update):
        out["fields"] = [field_change(item) for item in action.changes]
        out["fields"] += [
            {"path": f"{actions.SECRET_FIELD}.{name}", "operation": "change", "old": None, "new": SECRET_CHANGED}
            for name in action.secrets_changed
        ]
    elif isinstance(action, actions.Delete):
        out["production"] = actions.is_production(action.old)
    return out


def field_change(item: diffs.DiffItem) -> dict[str, Any]:
    return {"path": item.field, "operation": item.operation.value, "old": item.old, "new": item.new}


def value_text(value: Any) -> str:
    """A value as one line, for the human and markdown renderings."""
    if value is None:
        return "(none)"
    if isinstance(value, str):
        return json.dumps(value)
    return json.dumps(value, sort_keys=True, default=str)


def change_lines(action: actions.Action) -> list[str]:
    """One line a field: ``spec.quota.cpu: "2" → "4"``."""
    if isinstance(action, actions.Update):
        lines = []
        for item in action.changes:
            if item.operation is diffs.Operation.ADD:
                lines.append(f"+ {item.field}: {value_text(item.new)}")
            elif item.operation is diffs.Operation.REMOVE:
                lines.append(f"- {item.field}: {value_text(item.old)}")
            else:
                lines.append(f"~ {item.field}: {value_text(item.old)} → {value_text(item.new)}")
        lines += [f"~ {actions.SECRET_FIELD}.{n}: {SECRET_CHANGED}" for n in action.secrets_changed]
        return lines
    if isinstance(action, actions.Create):
        return [f"+ {'.'.join(path)}: {value_text(v)}" for path, v in _leaves(action.spec, ())]
    return []


def _leaves(value: Any, path: tuple[str, ...]) -> list[tuple[tuple[str, ...], Any]]:
    if isinstance(value, dict) and value:
        out = []
        for key in value:
            out += _leaves(value[key], path + (str(key),))
        return out
    return [(path, value)]


def to_markdown(plan: Plan, *, sections: list[str] | None = None) -> str:
    """A pull-request comment: the summary table first, each object's details folded.

    ``sections`` are further markdown blocks (policy verdicts, alert routing) appended
    by the layers that own them.
    """
    counts = summary(plan)
    out = ["### Civic plan" + (f" for `{plan.revision[:12]}`" if plan.revision else ""), ""]
    out += [
        "| create | update | delete | unchanged |",
        "|---:|---:|---:|---:|",
        f"| {counts['create']} | {counts['update']} | {counts['delete']} | {counts['unchanged']} |",
        "",
    ]
    if plan.refused:
        out += ["**Refused:**", ""] + [f"- :no_entry: {r}" for r in plan.refused] + [""]
    if plan.empty:
        out += ["No changes. The estate matches what was last applied.", ""]
    else:
        out += ["| object | action | fields |", "|---|---|---:|"]
        for a in plan.actions:
            fields = len(change_lines(a)) if a.verb != "delete" else 0
            out.append(f"| {a.kind} `{a.name}` | {a.verb} | {fields} |")
        out.append("")
        for a in plan.actions:
            lines = change_lines(a)
            if not lines:
                continue
            out += [
                f"<details><summary>{a.verb} {a.kind} <code>{a.name}</code></summary>",
                "",
                "```diff",
                *lines,
                "```",
                "",
                "</details>",
                "",
            ]
    for section in sections or []:
        out += [section.rstrip(), ""]
    return "\n".join(out).rstrip() + "\n"
