"""``civic policy list|explain|test|audit|conformance``, and the policy report that validate, plan and apply print.

Thin: each command reads files or the store, calls :mod:`civic.policy`, and prints.
"""

from __future__ import annotations

import datetime
import json
import os
from typing import TYPE_CHECKING, Any

import typer
from rich.table import Table

from civic import policy
from civic.cli import common
from civic.cli.common import EstateOption, OutputOption, StateOption
from civic.errors import NotFound, Problem, SpecError
from civic.policy import auditing, files, rendering, suites
from civic.policy.definitions import PolicySet
from civic.spec import estate as estate_mod
from civic.store import deployments

if TYPE_CHECKING:
    from civic.policy import gatekeeper

app = typer.Typer(no_args_is_help=True, help="Guardrails: list, explain, test and audit policies.")

MODE_STYLE = {"deny": "bold red", "warn": "yellow", "audit": "cyan"}
BRIEF_OVER = 25
"""Above this many environments, validate, plan and apply list only those with findings."""


def estate_report(loaded: estate_mod.Estate) -> policy.Report:
    """Every verdict on the estate; files unchanged since the last command keep theirs."""
    return policy.check_estate(loaded, today=datetime.date.today(), memo=common.memo_for(loaded.root).verdicts)


def print_report(report: policy.Report) -> None:
    """The policy part of validate, plan and apply: per environment, then each finding."""
    common.out.print(f"[bold]Policy:[/] {rendering.summary(report)}.")
    rows = rendering.per_environment(report)
    clean = [env for env, counts in rows if not any(n for k, n in counts.items() if k != "passed")]
    brief = len(rows) > BRIEF_OVER  # a large estate: list only what has findings
    for env, counts in rows:
        if brief and env in clean:
            continue
        shown = ", ".join(f"{n} {k}" for k, n in counts.items() if n)
        common.out.print(f"  {env or '(platform and teams)':<32} {shown}", markup=False)
    if brief and clean:
        common.out.print(f"  {len(clean)} more: every policy passed (--output json lists each)", markup=False)
    for v in report.denied + report.warnings:
        for line in v.lines():
            common.out.print(f"  [{MODE_STYLE[v.mode.value]}]{v.mode.value:<5}[/] ", end="")
            common.out.print(line, markup=False)
    for note in report.notes:
        common.out.print("  note: ", end="")
        common.out.print(note, markup=False)


def _texts(estate: str | None) -> dict[str, str]:
    root = common.estate_root(estate)
    return estate_mod.read(root) if os.path.isdir(root) else {}


def _policies(estate: str | None) -> PolicySet:
    return files.policy_set(_texts(estate))


@app.command("list")
def list_(estate: str = EstateOption, output: common.Output = OutputOption) -> None:
    """List the policies in force: the built-ins, as the estate changes them, and its own."""
    chosen = _policies(estate)
    rows: list[dict[str, Any]] = [
        {
            "name": p.name,
            "mode": p.mode.value,
            "appliesTo": list(p.applies_to),
            "origin": p.origin,
            "description": p.description,
        }
        for p in chosen.policies
    ]
    rows += [
        {"name": n, "mode": "disabled", "appliesTo": [], "origin": "built-in", "description": ""}
        for n in chosen.disabled
    ]
    if output is common.Output.json:
        common.print_json({"policies": rows, "notes": list(chosen.notes)})
        return
    table = Table(box=None, padding=(0, 2))
    table.add_column("policy", no_wrap=True)
    table.add_column("mode", no_wrap=True)
    table.add_column("applies to", min_width=12, overflow="fold")
    table.add_column("from", overflow="fold")
    table.add_column("description", ratio=1, min_width=30)
    for r in rows:
        table.add_row(r["name"], r["mode"], ", ".join(r["appliesTo"]), r["origin"], r["description"])
    common.out.print(table)
    for note in chosen.notes:
        common.out.print(f"override: {note}", markup=False)


@app.command()
def explain(
    name: str = typer.Argument(..., help="The policy's name."),
    estate: str = EstateOption,
    output: common.Output = OutputOption,
) -> None:
    """Show one policy: what it asks, its rule, parameters, message, mode and any override."""
    chosen = _policies(estate)
    found = chosen.get(name)
    override = next((o for o in chosen.overrides if o.policy == name), None)
    if found is None and name not in chosen.disabled:
        known = ", ".join(p.name for p in chosen.policies)
        raise NotFound(f"no policy named '{name}'; the policies are: {known}.")
    builtin = next((p for p in policy.BUILTIN if p.name == name), None)
    shown = found or builtin
    assert shown is not None
    info = {
        "name": name,
        "mode": shown.mode.value if found else "disabled",
        "description": shown.description,
        "appliesTo": list(shown.applies_to),
        "when": shown.when,
        "rule": shown.rule,
        "params": dict(shown.params),
        "message": shown.message,
        "origin": shown.origin,
        "override": {"file": override.file, "reason": override.reason} if override else None,
        "suite": f"civic/policy/suites/{name}.yaml" if builtin else None,
    }
    if output is common.Output.json:
        common.print_json(info)
        return
    for key, value in info.items():
        if value not in (None, {}, []):
            text = json.dumps(value) if isinstance(value, dict | list) else str(value)
            common.out.print(f"[bold]{key}:[/] ", end="")
            common.out.print(text, markup=False)


@app.command()
def test(
    directory: str = typer.Argument(
        None, help="A folder of suites [default: the built-in suites and the estate's policies/tests/]."
    ),
    estate: str = EstateOption,
    output: common.Output = OutputOption,
) -> None:
    """Run policy test suites: objects each policy must allow, and must deny."""
    texts = _texts(estate)
    chosen = files.policy_set(texts)
    if directory:
        suite_texts = _read_dir(directory)
    else:
        suite_texts = {**suites.builtin_texts(), **files.suite_files(texts)}
    results = policy.run_suites(files.suites(suite_texts), chosen)
    failed = [r for r in results if not r.ok]
    if output is common.Output.json:
        common.print_json({"cases": len(results), "failed": len(failed), "results": [r.__dict__ for r in results]})
    else:
        for r in results:
            common.out.print(str(r), markup=False)
        colour = "red" if failed else "green"
        common.out.print(
            f"[{colour}]{len(results) - len(failed)} of {len(results)} cases passed[/] in {len(suite_texts)} suites."
        )
    if failed:
        raise typer.Exit(1)


def _read_dir(directory: str) -> dict[str, str]:
    if not os.path.isdir(directory):
        raise NotFound(f"no such folder: {directory}; give a folder of PolicySuite files.")
    out = {}
    for name in sorted(os.listdir(directory)):
        if name.endswith((".yaml", ".yml")):
            with open(os.path.join(directory, name), encoding="utf-8") as f:
                out[os.path.join(directory, name)] = f.read()
    if not out:
        raise SpecError(
            [Problem(directory, 0, 0, "", "holds no .yaml suites; write one per policy (see docs/policies.md).")]
        )
    return out


@app.command()
def audit(estate: str = EstateOption, state: str = StateOption, output: common.Output = OutputOption) -> None:
    """Judge everything applied and every deployed service (the store), as Gatekeeper's audit does;
    exit 1 on deny violations."""
    root = common.estate_root(estate)
    chosen = _policies(estate)
    store = common.open_store(root, state)
    try:  # the applied estate, and the current revision of every deployed service
        specs = {**store.all_specs(), **deployments.Deployments(store).current_specs()}
    finally:
        store.close()
    report = policy.audit(specs, policies=chosen, today=datetime.date.today())
    groups = auditing.by_policy(report)
    if output is common.Output.json:
        common.print_json(
            {
                "auditedAt": datetime.datetime.now(datetime.UTC).isoformat(),
                "objects": len(specs),
                "summary": report.counts(),
                "notes": list(report.notes),
                "policies": groups,
            }
        )
    else:
        common.out.print(f"Audited {len(specs)} applied objects: {rendering.summary(report)}.")
        for g in groups:
            if g["totalViolations"]:
                common.out.print(
                    f"[{MODE_STYLE[g['mode']]}]{g['policy']}[/] ({g['mode']}): {g['totalViolations']} violation(s)"
                )
                for v in g["violations"]:
                    common.out.print(f"  {v['kind']} {v['name']}: {v['message']}", markup=False)
        for note in report.notes:
            common.out.print(f"note: {note}", markup=False)
    if report.denied:
        raise typer.Exit(1)


@app.command()
def conformance(
    directory: str = typer.Argument(..., help="A gatekeeper-library corpus: index.json and the suites' files."),
    estate: str = EstateOption,
    output: common.Output = OutputOption,
) -> None:
    """Judge Gatekeeper's own test cases with Civic's policies; exit 1 if a covered case disagrees."""
    from civic.cli import conformance_corpus  # only for civic policy conformance
    from civic.policy import gatekeeper

    index, docs = conformance_corpus.read(directory)
    results = gatekeeper.run(index, docs, _policies(estate))
    rows = gatekeeper.table(results)
    if output is common.Output.json:
        common.print_json({"policies": rows, "cases": [r.as_dict() for r in results]})
    else:
        _print_conformance(rows, results)
    if not gatekeeper.covered_ok(results):
        raise typer.Exit(1)


def _print_conformance(rows: list[dict], results: list[gatekeeper.CaseResult]) -> None:
    from civic.policy import gatekeeper

    table = Table("gatekeeper policy", "civic policy", "cases", "agree", "disagree", "not covered")
    for row in rows:
        table.add_row(
            row["gatekeeper"],
            row["civic"] or "-",
            str(row["cases"]),
            str(row["agrees"]),
            str(row["disagrees"]),
            str(row["not covered"]),
        )
    common.out.print(table)
    for r in results:
        if r.outcome is gatekeeper.Outcome.DISAGREES:
            common.out.print(f"[red]disagrees[/] {r.id}: ", end="")
            common.out.print(f"{r.detail}; Civic said: {list(r.messages) or 'nothing'}", markup=False)
    for why in sorted({(r.gatekeeper, r.detail) for r in results if r.outcome is gatekeeper.Outcome.NOT_COVERED}):
        common.out.print(f"not covered: {why[0]}: {why[1]}", markup=False)
    covered = [r for r in results if r.outcome is not gatekeeper.Outcome.NOT_COVERED]
    agree = sum(r.outcome is gatekeeper.Outcome.AGREES for r in covered)
    colour = "green" if agree == len(covered) else "red"
    common.out.print(
        f"[{colour}]{agree} of {len(covered)} covered cases agree[/]; "
        f"{len(results) - len(covered)} of {len(results)} cases not covered."
    )
