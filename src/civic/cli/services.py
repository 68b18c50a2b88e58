"""``civic services [ENV]`` and ``civic status [ENV]``: what runs, read from the API."""

from __future__ import annotations

import datetime
from typing import TYPE_CHECKING

import typer
from rich.table import Table

from civic import errors
from civic.cli import common

if TYPE_CHECKING:
    from civic.client import api as client_api

COLOURS = {
    "healthy": "green",
    "progressing": "yellow",
    "degraded": "red",
    "crash-looping": "red",
    "missing": "red",
    "suspended": "dim",
}


def services(
    environment: str = typer.Argument(None, metavar="[ENV]"), output: common.Output = common.OutputOption
) -> None:
    """List deployed services: revision, replicas ready / desired, health and URL."""
    from civic.client import api as client_api  # httpx: only for the commands that call the API

    with client_api.Client() as client:
        rows = client.services(environment)
    if output is common.Output.json:
        common.print_json(rows)
        return
    table = Table("environment", "service", "revision", "ready", "health", "url")
    for row in rows:
        colour = COLOURS.get(row["health"], "white")
        table.add_row(
            row["environment"],
            row["service"],
            str(row["revision"]),
            f"{row['ready']}/{row['desired']}",
            f"[{colour}]{row['health']}[/]",
            row["url"],
        )
    common.out.print(table)


def _estate(client: client_api.Client) -> dict | None:
    """What the estate sync last did; None for a team's token (only the admin's may see it)."""
    try:
        return client.estate()
    except errors.Forbidden:
        return None


def _print_estate(estate: dict | None) -> None:
    if estate is None:
        return
    if estate["sync"] == "off":
        common.out.print("estate: applied at start only (civic up --sync-interval 0)")
        return
    commit, dirty, _ = (estate["revision"] or "not in git").partition("-dirty")
    revision = commit[:12] + (" with uncommitted changes" if dirty else "")
    when = (
        datetime.datetime.fromtimestamp(estate["appliedAt"]).strftime("%H:%M:%S")
        if estate.get("appliedAt")
        else "start"
    )
    line = f"estate: {revision} applied at {when}; files checked every {estate['interval']:g} s"
    if estate["error"]:
        common.out.print(f"{line}\n  [red]the estate's files now are[/] ", end="")
        common.out.print(estate["error"], markup=False)
    else:
        last = estate["summary"]
        common.out.print(
            line
            + (
                f" (last change: {last['create']} created, {last['update']} updated, {last['delete']} deleted)"
                if last
                else ""
            ),
            markup=False,
        )


def status(
    environment: str = typer.Argument(None, metavar="[ENV]"), output: common.Output = common.OutputOption
) -> None:
    """Services and their replicas: processes, ports, phases, and what is wrong."""
    from civic.client import api as client_api

    with client_api.Client() as client:
        rows = client.services(environment)
        replicas = client.replicas(environment)
        watching = client.monitoring()
        estate = _estate(client)
    if output is common.Output.json:
        common.print_json({"services": rows, "replicas": replicas, "monitoring": watching, "estate": estate})
        return
    _print_estate(estate)
    if watching["monitoring"] == "on":
        common.out.print(
            f"monitoring: on (Prometheus {watching['prometheus']}, Alertmanager {watching['alertmanager']})"
        )
    else:
        common.out.print("[yellow]monitoring: off[/] ", end="")
        common.out.print(f"({watching['reason']})", markup=False)
    for row in rows:
        colour = COLOURS.get(row["health"], "white")
        common.out.print(
            f"[bold]{row['environment']}/{row['service']}[/] revision {row['revision']}: "
            f"{row['ready']}/{row['desired']} ready, [{colour}]{row['health']}[/]  {row['url']}"
        )
        if row["message"]:
            common.out.print(f"  {row['message']}", markup=False)
        if row["latest"]["status"] == "failed":
            common.out.print(f"  revision {row['latest']['revision']} failed: {row['latest']['message']}", markup=False)
        table = Table(
            "replica", "pid", "port", "revision", "phase", "started", "limits", "isolation", box=None, padding=(0, 2)
        )
        for r in replicas:
            if (r["environment"], r["service"]) == (row["environment"], row["service"]):
                started = datetime.datetime.fromtimestamp(r["started_at"]).strftime("%H:%M:%S")
                table.add_row(
                    r["id"],
                    str(r["pid"]),
                    str(r["port"]),
                    str(r["revision"]),
                    r["phase"],
                    started,
                    "enforced" if r.get("limited") else "-",
                    "isolated" if r.get("isolated") else "not isolated",
                )
        common.out.print(table)
