"""``civic validate``, ``civic plan``, ``civic apply`` and ``civic history``."""

from __future__ import annotations

import datetime

import typer
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from civic import vcs
from civic.cli import common
from civic.cli import policy as policy_cli
from civic.cli.common import EstateOption, OutputOption, PlanOutput, StateOption
from civic.control import applying
from civic.errors import PolicyDenied, SpecError, UsageError
from civic.observability import routing
from civic.plan import actions, planning, rendering
from civic.policy import rendering as policy_rendering

KINDS = {"environment": "Environment", "team": "Team", "platform": "Platform"}


def validate(estate: str = EstateOption, output: common.Output = OutputOption) -> None:
    """Check every file of the estate, alone and together."""
    root = common.estate_root(estate)
    try:
        loaded = common.load_estate(root)
    except SpecError as e:
        if output is common.Output.json:
            common.print_json({"valid": False, "problems": [p.as_dict() for p in e.problems]})
            raise typer.Exit(1) from None
        raise
    report = policy_cli.estate_report(loaded)
    if output is common.Output.json:
        common.print_json(
            {
                "valid": True,
                "teams": len(loaded.teams),
                "environments": len(loaded.environments),
                "problems": [],
                "policy": report.as_dict(),
            }
        )
    else:
        common.out.print(
            f"[green]✓[/] the estate is valid: {len(loaded.teams)} teams, {len(loaded.environments)} environments."
        )
        policy_cli.print_report(report)
    if report.denied:
        raise typer.Exit(1)


def plan(
    estate: str = EstateOption,
    state: str = StateOption,
    output: PlanOutput = typer.Option(PlanOutput.human, "--output", "-o", help="human, json or markdown."),
    changed_since: str = typer.Option(
        None, "--changed-since", metavar="REF", help="Only the objects whose files changed since this git ref."
    ),
    allow_delete_production: bool = typer.Option(False, "--allow-delete-production"),
) -> None:
    """Show what apply would change, object by object and field by field."""
    root = common.estate_root(estate)
    loaded = common.load_estate(root)
    report = policy_cli.estate_report(loaded)
    only = vcs.changed_keys(root, changed_since) if changed_since else None
    store = common.open_store(root, state)
    try:
        result = applying.plan(
            loaded, store, only=only, revision=vcs.revision(root), allow_delete_production=allow_delete_production
        )
        from civic.store import state as state_store  # loaded by open_store already; SQLAlchemy is slow to import

        with_values = store.secret_fingerprints()
        alert_routes = routing.changes(
            result,
            loaded,
            store.specs({a.key for a in result.actions}),
            secret_set=lambda team, name: name in with_values.get(state_store.team_scope(team), {}),
        )
    finally:
        store.close()
    if output is PlanOutput.json:
        print(rendering.to_json(result, policy=report.as_dict(), routing=alert_routes), end="")
    elif output is PlanOutput.markdown:
        sections = [policy_rendering.markdown(report)]
        if alert_routes:
            sections.append("#### Alert routing\n\n" + "\n".join(f"- {line}" for line in alert_routes))
        print(rendering.to_markdown(result, sections=sections), end="")
    else:
        render_human(result, routing=alert_routes)
        policy_cli.print_report(report)
    if result.refused or report.denied:
        raise typer.Exit(1)


def render_human(result: planning.Plan, *, routing: tuple[str, ...] | list[str] = ()) -> None:
    lines: list[Text] = []  # printed in one call: a plan of 1,500 creates is thousands of lines
    for action in result.actions:
        colour = {"create": "green", "update": "yellow", "delete": "red"}[action.verb]
        tag = (
            " [bold red](production)[/]"
            if isinstance(action, actions.Delete) and actions.is_production(action.old)
            else ""
        )
        lines.append(
            Text.from_markup(f"[{colour}]{action.verb}[/] {action.kind.lower()} [bold]{escape(action.name)}[/]{tag}")
        )
        for line in rendering.change_lines(action) if action.verb == "update" else []:
            lines.append(Text(f"    {line}"))
    lines += [Text.assemble(("routing:", "cyan"), " ", line) for line in routing]
    lines += [Text.from_markup(f"[bold red]refused:[/] {refusal}") for refusal in result.refused]
    counts = rendering.summary(result)
    scope = " (files changed since the given ref only)" if result.scoped else ""
    lines.append(
        Text(
            f"Plan: {counts['create']} to create, {counts['update']} to update, "
            f"{counts['delete']} to delete, {counts['unchanged']} unchanged{scope}."
        )
    )
    common.out.print(*lines, sep="\n")


def apply(
    estate: str = EstateOption,
    state: str = StateOption,
    changed_since: str = typer.Option(
        None, "--changed-since", metavar="REF", help="Only the objects whose files changed since this git ref."
    ),
    allow_delete_production: bool = typer.Option(False, "--allow-delete-production"),
    lock_timeout: float = typer.Option(30.0, "--lock-timeout", help="Seconds to wait for another apply."),
    output: common.Output = OutputOption,
) -> None:
    """Record the estate as the desired state, in one transaction per object."""
    root = common.estate_root(estate)
    loaded = common.load_estate(root)
    report = policy_cli.estate_report(loaded)
    if report.denied:
        raise PolicyDenied(report.denial_message())
    only = vcs.changed_keys(root, changed_since) if changed_since else None
    store = common.open_store(root, state)
    try:
        with common.progress("applying") as on_progress:
            done = applying.apply(
                loaded,
                store,
                only=only,
                revision=vcs.revision(root),
                allow_delete_production=allow_delete_production,
                lock_timeout=lock_timeout,
                on_progress=on_progress,
            )
    finally:
        store.close()
    if output is common.Output.json:
        print(rendering.to_json(done.plan, appliedRevision=done.revision_id), end="")
        return
    if done.revision_id is None:
        common.out.print("No changes. The store already matches the estate.")
        return
    render_human(done.plan)
    common.out.print(f"[green]Applied[/] as revision {done.revision_id}.")


def history(
    name: str = typer.Argument(..., help="The environment (or, with --kind, team) name."),
    kind: str = typer.Option("environment", "--kind", help="environment, team or platform."),
    estate: str = EstateOption,
    state: str = StateOption,
    output: common.Output = OutputOption,
) -> None:
    """List the applied revisions of one object, newest first."""
    if kind not in KINDS:
        raise UsageError(f"--kind must be one of {', '.join(KINDS)}, got '{kind}'.")
    root = common.estate_root(estate)
    store = common.open_store(root, state)
    try:
        entries = store.history(KINDS[kind], name)
    finally:
        store.close()
    if output is common.Output.json:
        common.print_json([e.as_dict() for e in entries])
        return
    table = Table("revision", "applied at", "by", "git", "operation", "changes")
    for e in entries:
        when = datetime.datetime.fromtimestamp(e.applied_at).strftime("%Y-%m-%d %H:%M:%S")
        table.add_row(
            str(e.revision), when, e.applied_by, (e.git_revision or "-")[:12], e.operation, str(len(e.changes))
        )
    common.out.print(table)
