"""``civic alerts``, ``civic silence`` and ``civic silences``: operating on alerts, through the API."""

from __future__ import annotations

import datetime
import re

import typer
from rich.table import Table

from civic.cli import common
from civic.errors import UsageError

_DURATION = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?$")


def hours_of(text: str) -> float:
    """``2h`` → 2.0, ``1d12h`` → 36.0, ``90m`` → 1.5."""
    match = _DURATION.match(text.strip())
    if not text.strip() or not match:
        raise UsageError(f"--for '{text}' is not a duration; write it as '2h', '90m' or '1d'.")
    days, hours, minutes = (int(g or 0) for g in match.groups())
    return days * 24 + hours + minutes / 60


def alerts(
    team: str = typer.Option(None, "--team", help="Only this team's alerts."),
    history: bool = typer.Option(False, "--history", help="What Alertmanager sent, newest first."),
    output: common.Output = common.OutputOption,
) -> None:
    """List firing alerts (or, with --history, every notification Civic received)."""
    from civic.client import api as client_api  # httpx: only for the commands that call the API

    with client_api.Client() as client:
        rows = client.alert_history(team=team) if history else client.alerts(team=team)
    if output is common.Output.json:
        common.print_json(rows)
        return
    if history:
        table = Table("received", "status", "alert", "environment", "service", "team", "summary")
        for r in rows:
            when = datetime.datetime.fromtimestamp(r["received_at"]).strftime("%Y-%m-%d %H:%M:%S")
            table.add_row(when, r["status"], r["alertname"], r["environment"], r["service"], r["team"], r["summary"])
    else:
        table = Table("alert", "severity", "environment", "service", "team", "since", "summary")
        for a in rows:
            labels = a["labels"]
            table.add_row(
                labels.get("alertname", ""),
                labels.get("severity", ""),
                labels.get("environment", ""),
                labels.get("service", ""),
                labels.get("team", ""),
                a.get("startsAt", "")[:19],
                a.get("annotations", {}).get("summary", ""),
            )
    common.out.print(table if rows else "No alerts.")


def silence(
    target: str = typer.Argument(..., metavar="ENV[/SERVICE]"),
    for_: str = typer.Option(..., "--for", help="How long: '2h', '90m', '1d'."),
    reason: str = typer.Option(..., "--reason", help="Why; shown to everyone who looks."),
) -> None:
    """Silence an environment's (or one service's) alerts for a while, with a reason."""
    from civic.client import api as client_api

    environment, _, service = target.partition("/")
    with client_api.Client() as client:
        made = client.silence(environment=environment, service=service or None, hours=hours_of(for_), reason=reason)
    common.out.print(f"[green]✓[/] silenced {target} for {for_} (silence {made['id']}).")


def silences(output: common.Output = common.OutputOption) -> None:
    """List the silences in force."""
    from civic.client import api as client_api

    with client_api.Client() as client:
        rows = client.silences()
    if output is common.Output.json:
        common.print_json(rows)
        return
    table = Table("id", "matchers", "until", "by", "reason")
    for s in rows:
        matchers = ", ".join(f"{m['name']}={m['value']}" for m in s["matchers"])
        table.add_row(s["id"][:8], matchers, s["endsAt"][:19], s["createdBy"], s["comment"])
    common.out.print(table if rows else "No silences.")
