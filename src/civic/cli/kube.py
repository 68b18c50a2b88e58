"""``civic render`` and ``civic cluster plan|apply|status``: the Kubernetes backend's commands.

Thin: options are parsed and results printed here; :mod:`civic.control.clusters` chooses
the cluster, renders, plans, applies and observes. It is imported inside each command,
so that the other commands never load the Kubernetes backend or jsonschema. ``civic
render`` needs no cluster; the ``cluster`` commands talk to the one civic.yaml names,
through the kubeconfig context it gives, and (for the whole cluster, without ``--env``)
also converge Civic's admission policies. Registered by :mod:`civic.cli.main`.
"""

from __future__ import annotations

import asyncio
import sys
from typing import TYPE_CHECKING

import typer
from rich.table import Table

from civic.cli import common
from civic.cli.common import EstateOption
from civic.errors import BackendError

if TYPE_CHECKING:
    from collections.abc import Callable

    from civic.control import clusters

app = typer.Typer(help="Plan, apply and watch environments on a Kubernetes cluster.", no_args_is_help=True)

ServiceOption = typer.Option(
    [],
    "--service",
    "-s",
    metavar="FILE",
    help="A service spec (civic.service.yaml, or a folder holding one); repeat for more.",
)
ClusterOption = typer.Option(None, "--cluster", "-c", help="A cluster named in civic.yaml.")
PoliciesOption = typer.Option(
    True,
    "--policies/--no-policies",
    help=(
        "Include Civic's policies for Kubernetes objects, as cluster-wide ValidatingAdmissionPolicies and "
        "bindings (Kubernetes 1.30 and later; apply prunes those no longer in force). Only for the whole "
        "cluster: with --env they are left alone."
    ),
)


def register(root: typer.Typer) -> None:
    """Add ``civic render`` and the ``civic cluster`` group to the ``civic`` command."""
    root.command()(render)
    root.add_typer(app, name="cluster")


def render(
    env: str = typer.Argument(..., metavar="ENV", help="The environment to render."),
    service: list[str] = ServiceOption,
    cluster: str = ClusterOption,
    validate: bool = typer.Option(
        False,
        "--validate",
        help=(
            "Check every object against the Kubernetes schemas (oldest and newest supported "
            "version, strict) and the CRD schemas; exit 1 on any problem."
        ),
    ),
    policies: bool = typer.Option(
        True,
        "--policies/--no-policies",
        help=(
            "Also print Civic's policies for Kubernetes objects as cluster-wide ValidatingAdmissionPolicies "
            "and bindings (Kubernetes 1.30 and later)."
        ),
    ),
    estate: str = EstateOption,
) -> None:
    """Print ENV's Kubernetes objects as YAML, ready for `kubectl apply -f -`. Secret values are never printed."""
    from civic.control import clusters

    loaded = common.load_estate(common.estate_root(estate))
    placement = clusters.place(loaded, env, name=cluster)
    if placement.note:
        common.err.print(f"note: {placement.note}")
    services = clusters.load_services(service, loaded.environments[env])
    rendered = clusters.render(loaded, env, target=placement.cluster, services=services, policies=policies)
    if validate:
        wrong = clusters.validate(rendered)
        if wrong:
            # A problem found, not a wrong command: exit 1 (BackendError), as the help says.
            raise BackendError(
                "rendered objects are not valid, so nothing was printed:\n" + "\n".join(f"  {w}" for w in wrong)
            )
    sys.stdout.write(rendered.yaml())
    enforced = rendered.enforced
    if enforced.missing:
        common.err.print(f"missing capability: {enforced.missing}.", markup=False)
    if validate:
        common.err.print(
            f"✓ {len(rendered.objects)} objects valid for Kubernetes {clusters.OLDEST} and "
            f"{clusters.NEWEST}"
            + (
                f"; {len(enforced.objects)} admission policy objects for {clusters.SINCE} and {clusters.NEWEST}."
                if enforced.objects
                else "."
            )
        )


EnvOption = typer.Option(
    [],
    "--env",
    help=(
        "Only this environment (repeatable) [default: all on the cluster]; the cluster-wide admission "
        "policies are then left alone."
    ),
)
AllOption = typer.Option(
    False,
    "--all",
    help=(
        "Compare every environment with the cluster, not only those whose rendered digest changed "
        "(finds drift everywhere; costs requests in proportion to the estate)."
    ),
)


def _print_reports(reports: list[clusters.Report], *, dry_run: bool, output: common.Output) -> None:
    from civic.control import clusters

    if output is common.Output.json:
        common.print_json(
            [
                clusters.summary(r)
                | {
                    "outcomes": [
                        {"object": o.ref, "verb": o.verb, "changes": [str(c) for c in o.changes], "detail": o.detail}
                        for o in r.outcomes
                        if o.verb != "unchanged"
                    ]
                }
                for r in reports
            ]
        )
        return
    colours = {
        "create": "green",
        "update": "yellow",
        "prune": "red",
        "delete": "red",
        "foreign": "magenta",
        "missing-capability": "magenta",
    }
    for report in reports:
        if report.skipped:
            continue
        for o in report.outcomes:
            if o.verb == "unchanged":
                continue
            common.out.print(f"[{colours.get(o.verb, 'white')}]{o.verb}[/] {o.ref}", end="")
            common.out.print(f"  {o.detail}" if o.detail else "", markup=False)
            for change in o.changes:
                common.out.print(f"    {'[bold red]drift[/] ' if change.owner else ''}{change}")
    if dry_run:
        for note in (n for r in reports for n in r.notes):
            common.out.print(f"note: {note}", markup=False)
    totals = {verb: sum(r.count(verb) for r in reports) for verb in ("create", "update", "prune", "delete")}
    skipped = sum(1 for r in reports if r.skipped and not r.platform)
    drifted = sum(len(r.drift) for r in reports)
    word = "would" if dry_run else "did"
    policies = "; admission policies unchanged" if any(r.skipped and r.platform for r in reports) else ""
    common.out.print(
        f"{'Plan' if dry_run else 'Applied'}: {word} create {totals['create']}, update "
        f"{totals['update']} ({drifted} drifted), prune {totals['prune']}, delete "
        f"{totals['delete']}; {skipped} environment(s) unchanged since their last apply{policies}."
    )


def _cluster_command(
    *,
    dry_run: bool,
    cluster_name: str | None,
    envs: list[str],
    service: list[str],
    everything: bool,
    allow_delete_production: bool,
    policies: bool,
    estate: str | None,
    output: common.Output,
) -> None:
    from civic.control import clusters

    loaded = common.load_estate(common.estate_root(estate))
    target = clusters.cluster(loaded, cluster_name)
    renders = clusters.renders(loaded, target, envs=envs, service=service)
    enforced = clusters.admission_policies(loaded, target, wanted=policies, envs=envs)
    reports = asyncio.run(
        clusters.sync(
            target,
            renders,
            dry_run=dry_run,
            everything=everything,
            whole=not envs,
            allow_delete_production=allow_delete_production,
            policies=enforced,
        )
    )
    _print_reports(reports, dry_run=dry_run, output=output)
    if any(o.verb == "foreign" for r in reports for o in r.outcomes):
        raise typer.Exit(1)


def _command(*, dry_run: bool, doc: str) -> Callable[..., None]:
    def command(
        cluster_name: str = ClusterOption,
        env: list[str] = EnvOption,
        service: list[str] = ServiceOption,
        all_: bool = AllOption,
        allow_delete_production: bool = typer.Option(False, "--allow-delete-production"),
        policies: bool = PoliciesOption,
        estate: str = EstateOption,
        output: common.Output = common.OutputOption,
    ) -> None:
        _cluster_command(
            dry_run=dry_run,
            cluster_name=cluster_name,
            envs=env,
            service=service,
            everything=all_,
            allow_delete_production=allow_delete_production,
            policies=policies,
            estate=estate,
            output=output,
        )

    command.__doc__ = doc
    return command


app.command("plan")(
    _command(
        dry_run=True,
        doc=(
            "Show what apply would change on the cluster: creates, updates (with drift), prunes; for the whole "
            "cluster, the admission policies too."
        ),
    )
)
app.command("apply")(
    _command(
        dry_run=False,
        doc=(
            "Server-side apply the environments to the cluster and prune what is no longer rendered; for the "
            "whole cluster (no --env), Civic's admission policies too."
        ),
    )
)


@app.command()
def status(
    cluster_name: str = ClusterOption,
    env: list[str] = EnvOption,
    service: list[str] = ServiceOption,
    policies: bool = PoliciesOption,
    estate: str = EstateOption,
    output: common.Output = common.OutputOption,
) -> None:
    """The health of every object, judged as Argo CD judges it (the admission policies' too, for the whole cluster)."""
    from civic.control import clusters

    loaded = common.load_estate(common.estate_root(estate))
    target = clusters.cluster(loaded, cluster_name)
    renders = [r for r, _ in clusters.renders(loaded, target, envs=env, service=service)]
    enforced = clusters.admission_policies(loaded, target, wanted=policies, envs=env)
    rows = asyncio.run(clusters.status(target, renders, policies=enforced))
    if output is common.Output.json:
        common.print_json(
            [{"environment": e, "object": o.ref, "health": v[0].value, "message": v[1]} for e, o, v in rows]
        )
        return
    table = Table("object", "health", "message")
    colours = {"healthy": "green", "progressing": "yellow", "suspended": "blue"}
    for _, o, (verdict, message) in rows:
        table.add_row(o.ref, f"[{colours.get(verdict.value, 'red')}]{verdict.value}[/]", message)
    common.out.print(table)
    if any(v[0].value in ("degraded", "missing") for _, _, v in rows):
        raise typer.Exit(1)
