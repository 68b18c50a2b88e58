"""``civic up``, ``civic down`` and ``civic token create|list|revoke``: the control plane's life.

``civic up`` applies the estate, makes the admin token on first start (saved where the
CLI finds it: :mod:`civic.client.config`), then runs the API, the reconcilers and the
local runtime in this process until Ctrl-C or ``civic down``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import logging
from typing import TYPE_CHECKING

import typer

from civic import deadlines
from civic.cli import common
from civic.cli.common import EstateOption, StateOption
from civic.client import config
from civic.errors import CivicError

if TYPE_CHECKING:
    from civic.control import plane

token_app = typer.Typer(help="Make, list and revoke API tokens.", no_args_is_help=True)


def up(
    estate: str = EstateOption,
    state: str = StateOption,
    port: int = typer.Option(8080, "--port", help="HAProxy's frontend port: services are served here."),
    api_port: int = typer.Option(7470, "--api-port", help="The API's port (on 127.0.0.1)."),
    stats_port: int = typer.Option(8404, "--stats-port", help="HAProxy's stats and /metrics port."),
    deploy: list[str] = typer.Option(
        [], "--deploy", metavar="ENV=FILE", help="Also deploy this civic.service.yaml (repeatable)."
    ),
    monitoring: bool = typer.Option(
        True, "--monitoring/--no-monitoring", help="Run Prometheus, Alertmanager and the Pushgateway."
    ),
    prometheus_port: int = typer.Option(9090, "--prometheus-port"),
    alertmanager_port: int = typer.Option(9093, "--alertmanager-port"),
    pushgateway_port: int = typer.Option(9091, "--pushgateway-port"),
    metrics_retention: str = typer.Option(
        "15d",
        "--metrics-retention",
        metavar="DURATION",
        help="How long Prometheus keeps samples (e.g. 12h, 15d, 8w, 1y).",
    ),
    sync_interval: float = typer.Option(
        2.0,
        "--sync-interval",
        metavar="SECONDS",
        min=0,
        help=(
            "Look at the estate's files this often and apply what changed (apply on merge: keep the "
            "estate a checkout of the branch that is merged into); 0: apply only at start."
        ),
    ),
) -> None:
    """Start Civic: apply the estate, then run the API, the reconcilers, the runtime and monitoring."""
    from civic.api import serving  # FastAPI and uvicorn: loaded only by the command that serves
    from civic.control import plane
    from civic.observability import stack

    root = common.estate_root(estate)
    settings = plane.Settings(
        run_dir=plane.run_dir(root),
        port=port,
        api_port=api_port,
        stats_port=stats_port,
        monitoring=monitoring,
        monitoring_ports=stack.Ports(prometheus_port, alertmanager_port, pushgateway_port),
        metrics_retention=metrics_retention,
        estate_root=root,
        sync_interval=sync_interval,
    )
    plane.preflight(settings)
    startup = [plane.startup_deploy(item) for item in deploy]
    loaded = common.load_estate(root)
    store = common.open_store(root, state)
    try:
        saved = config.stored()
        booted = plane.boot(
            loaded, store, common.secret_box(root), root=root, saved_token=saved.token if saved is not None else None
        )
        if booted.applied_revision is not None:
            common.out.print(f"Applied the estate at {root} as revision {booted.applied_revision}.")
        where = config.save(config.Config(f"http://127.0.0.1:{api_port}", booted.admin_token))
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s", datefmt="%H:%M:%S")
        logging.getLogger("httpx").setLevel(logging.WARNING)  # not every call to Prometheus and Alertmanager
        settings = dataclasses.replace(settings, estate_revision=booted.estate_revision)

        async def main() -> None:
            control = plane.ControlPlane(booted.ctx, settings)
            await serving.serve(
                control, startup=startup, ready=lambda c, adopted, deployed: _ready(c, adopted, deployed, where)
            )

        asyncio.run(main())
    finally:
        store.close()
    common.out.print("Civic has stopped, and so have its replicas.")


def _ready(control: plane.ControlPlane, adopted: int, deployed: list[dict], where: str) -> None:
    s = control.settings
    common.out.print(
        f"[green]Civic is up.[/] API http://127.0.0.1:{s.api_port} (token in {where}); "
        f"services on port {s.port}; HAProxy metrics http://127.0.0.1:{s.stats_port}/metrics"
    )
    m = control.monitor.describe()
    if m["monitoring"] == "on":
        common.out.print(
            f"Monitoring: Prometheus {m['prometheus']}, Alertmanager {m['alertmanager']}, "
            f"Pushgateway {m['pushgateway']}; metrics kept {m['retention']}"
        )
    else:
        common.out.print(f"[yellow]Monitoring is off:[/] {m['reason']}.")
    if adopted:
        common.out.print(f"Adopted {adopted} replica(s) that were still running.")
    for item in deployed:
        common.out.print(f"  {item['environment']}/{item['service']}: {item['url']}")
    common.out.print("Ctrl-C or 'civic down' stops it.")


def down(timeout: float = typer.Option(60.0, "--timeout", help="Seconds to wait for it to stop.")) -> None:
    """Stop Civic and every replica it runs."""
    from civic.client import api as client_api

    with client_api.Client() as client:
        client.shutdown()
        try:
            deadlines.poll(lambda: not client.healthy(), timeout=timeout, what="Civic to stop")
        except deadlines.Timeout as e:
            raise CivicError(f"Civic did not stop within {timeout:g} s.") from e
    common.out.print("Civic has stopped.")


@token_app.command("create")
def token_create(
    team: str = typer.Option(None, "--team", help="Limit the token to this team's environments."),
    output: common.Output = common.OutputOption,
) -> None:
    """Make a token (with --team: for that team's environments only)."""
    from civic.client import api as client_api

    with client_api.Client() as client:
        made = client.create_token(team)
    if output is common.Output.json:
        common.print_json(made)
    else:
        print(made["token"])  # alone on stdout, for scripts: TOKEN=$(civic token create ...)


@token_app.command("list")
def token_list(output: common.Output = common.OutputOption) -> None:
    """List the valid tokens: id, team and when each was made (never the token itself; admin only)."""
    from rich.table import Table

    from civic.client import api as client_api

    with client_api.Client() as client:
        rows = client.tokens()
    if output is common.Output.json:
        common.print_json(rows)
        return
    table = Table("id", "team", "created")
    for r in rows:
        created = datetime.datetime.fromtimestamp(r["created"]).strftime("%Y-%m-%d %H:%M:%S")
        table.add_row(r["id"], r["team"] or "(admin)", created)
    common.out.print(table if rows else "No tokens.")


@token_app.command("revoke")
def token_revoke(
    token_id: str = typer.Argument(..., metavar="ID", help="The token's id, as 'civic token list' shows it."),
    output: common.Output = common.OutputOption,
) -> None:
    """Revoke a token: it is refused from now on (admin only)."""
    from civic.client import api as client_api

    with client_api.Client() as client:
        gone = client.revoke_token(token_id)
    if output is common.Output.json:
        common.print_json(gone)
    else:
        common.out.print(
            f"Revoked {gone['id']} (team {gone['team']})." if gone["team"] else f"Revoked {gone['id']} (admin)."
        )
