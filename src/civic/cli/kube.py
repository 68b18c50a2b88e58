"""``civic render`` and ``civic cluster plan|apply|status``: the Kubernetes backend's commands.

Thin: options are parsed here, then :mod:`civic.backends.kubernetes` renders, plans,
applies and observes. ``civic render`` needs no cluster; the ``cluster`` commands
talk to the one civic.yaml names, through the kubeconfig context it gives, and (for
the whole cluster, without ``--env``) also converge Civic's admission policies.
"""

from __future__ import annotations

import asyncio
import sys

import typer
from rich.table import Table

from civic.cli import common
from civic.cli.common import EstateOption
from civic.errors import SpecError, UsageError
from civic.spec import estate as estate_mod
from civic.spec import models

# The Kubernetes backend (and jsonschema) only for the commands that use it
policy = common.lazy("civic.policy")
admission = common.lazy("civic.backends.kubernetes.admission")
cluster = common.lazy("civic.backends.kubernetes.cluster")
inputs = common.lazy("civic.backends.kubernetes.inputs")
rendering = common.lazy("civic.backends.kubernetes.rendering")
targets = common.lazy("civic.backends.kubernetes.targets")
validation = common.lazy("civic.backends.kubernetes.validation")
client_mod = common.lazy("civic.backends.kubernetes.client")

app = typer.Typer(help="Plan, apply and watch environments on a Kubernetes cluster.", no_args_is_help=True)

ServiceOption = typer.Option(
    [], "--service", "-s", metavar="FILE",
    help="A service spec (civic.service.yaml, or a folder holding one); repeat for more.")
ClusterOption = typer.Option(None, "--cluster", "-c", help="A cluster named in civic.yaml.")
PoliciesOption = typer.Option(True, "--policies/--no-policies", help=(
    "Include Civic's policies for Kubernetes objects, as cluster-wide ValidatingAdmissionPolicies and "
    "bindings (Kubernetes 1.30 and later; apply prunes those no longer in force). Only for the whole "
    "cluster: with --env they are left alone."))


def register(root: typer.Typer) -> None:
    """Add ``civic render`` and the ``civic cluster`` group to the ``civic`` command."""
    root.command()(render)
    root.add_typer(app, name="cluster")


def _target(loaded: estate_mod.Estate, env: str, cluster: str | None) -> models.Cluster:
    if cluster is not None:
        return targets.cluster(loaded, cluster)
    problems = targets.check(loaded)
    if problems:
        raise SpecError(problems)
    placed = targets.cluster_of(loaded, env)
    if placed is None:
        common.err.print(f"note: environment '{env}' is on no cluster in civic.yaml (it runs on the "
                         "local runtime); rendering with the default cluster settings.")
        return models.Cluster(name="default")
    return placed


def _services(paths: list[str], environment: models.Environment | None) -> list[models.Service]:
    loaded, problems = [], []
    for path in inputs.service_paths(paths):
        try:
            loaded.append(inputs.load_service(path, environment=environment))
        except SpecError as e:
            problems += e.problems
    if problems:
        raise SpecError(problems)
    return loaded


def render(
    env: str = typer.Argument(..., metavar="ENV", help="The environment to render."),
    service: list[str] = ServiceOption,
    cluster: str = ClusterOption,
    validate: bool = typer.Option(False, "--validate", help=(
        "Check every object against the Kubernetes schemas (oldest and newest supported "
        "version, strict) and the CRD schemas; exit 1 on any problem.")),
    policies: bool = typer.Option(True, "--policies/--no-policies", help=(
        "Also print Civic's policies for Kubernetes objects as cluster-wide ValidatingAdmissionPolicies "
        "and bindings (Kubernetes 1.30 and later).")),
    estate: str = EstateOption,
) -> None:
    """Print ENV's Kubernetes objects as YAML, ready for `kubectl apply -f -`. Secret values are never printed."""
    loaded = common.load_estate(common.estate_root(estate))
    if env not in loaded.environments:
        raise UsageError(f"there is no environment '{env}' in the estate; 'civic validate' lists what there is.")
    target = _target(loaded, env, cluster)
    services = _services(service, loaded.environments[env])
    rendered = rendering.render(inputs.desired(loaded, env, services=services), target)
    objects = rendered.objects()
    enforced = admission.render(policy.policy_set(loaded), target) if policies else admission.Admission(())
    members = list(rendering.admission_set(enforced.objects).sets[0].members) if enforced.objects else []
    if validate:
        wrong = validation.check_all(objects, (targets.OLDEST, targets.NEWEST))
        wrong += validation.check_all(members, (admission.SINCE, targets.NEWEST))
        if wrong:
            raise UsageError("rendered objects are not valid:\n" + "\n".join(f"  {w}" for w in wrong))
    sys.stdout.write(rendering.to_yaml(objects + members))
    if enforced.missing:
        common.err.print(f"missing capability: {enforced.missing}.", markup=False)
    if validate:
        common.err.print(f"✓ {len(objects)} objects valid for Kubernetes {targets.OLDEST} and {targets.NEWEST}"
                         + (f"; {len(enforced.objects)} admission policy objects for {admission.SINCE} and "
                            f"{targets.NEWEST}." if enforced.objects else "."))


EnvOption = typer.Option([], "--env", help=(
    "Only this environment (repeatable) [default: all on the cluster]; the cluster-wide admission "
    "policies are then left alone."))
AllOption = typer.Option(False, "--all", help=(
    "Compare every environment with the cluster, not only those whose rendered digest changed "
    "(finds drift everywhere; costs requests in proportion to the estate)."))


def _renders(loaded: estate_mod.Estate, target: models.Cluster, envs: list[str],
             service: list[str]) -> list[tuple[rendering.Rendered, bool]]:
    names = envs or targets.environments_on(loaded, target)
    if service and len(names) != 1:
        raise UsageError("--service needs exactly one --env: services belong to one environment.")
    out = []
    for name in names:
        if targets.cluster_of(loaded, name) != target:
            raise UsageError(f"environment '{name}' does not live on cluster '{target.name}' (see civic.yaml).")
        services = _services(service, loaded.environments[name])
        out.append((rendering.render(inputs.desired(loaded, name, services=services), target), bool(service)))
    return out


def _policies(loaded: estate_mod.Estate, target: models.Cluster, *, wanted: bool,
              envs: list[str]) -> admission.Admission | None:
    """The admission policies to converge: only for the whole cluster, and when asked for."""
    return admission.render(policy.policy_set(loaded), target) if wanted and not envs else None


async def _sync(target: models.Cluster, renders, *, dry_run: bool, everything: bool, whole: bool,
                allow_delete_production: bool, policies: admission.Admission | None) -> list[cluster.Report]:
    api = client_mod.Client.from_kubeconfig(context=target.context)
    try:
        return await cluster.sync_estate(api, renders, dry_run=dry_run, everything=everything,
                                         delete_others=whole, allow_delete_production=allow_delete_production,
                                         policies=policies)
    finally:
        await api.aclose()


def _print_reports(reports: list[cluster.Report], *, dry_run: bool, output: common.Output) -> None:
    if output is common.Output.json:
        common.print_json([cluster.summary(r) | {"outcomes": [
            {"object": o.ref, "verb": o.verb, "changes": [str(c) for c in o.changes], "detail": o.detail}
            for o in r.outcomes if o.verb != "unchanged"]} for r in reports])
        return
    colours = {"create": "green", "update": "yellow", "prune": "red", "delete": "red", "foreign": "magenta",
               "missing-capability": "magenta"}
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
    common.out.print(f"{'Plan' if dry_run else 'Applied'}: {word} create {totals['create']}, update "
                     f"{totals['update']} ({drifted} drifted), prune {totals['prune']}, delete "
                     f"{totals['delete']}; {skipped} environment(s) unchanged since their last apply{policies}.")


def _cluster_command(*, dry_run: bool, cluster_name: str | None, envs: list[str], service: list[str],
                     everything: bool, allow_delete_production: bool, policies: bool, estate: str | None,
                     output: common.Output) -> None:
    loaded = common.load_estate(common.estate_root(estate))
    target = targets.cluster(loaded, cluster_name)
    renders = _renders(loaded, target, envs, service)
    reports = asyncio.run(_sync(target, renders, dry_run=dry_run, everything=everything, whole=not envs,
                                allow_delete_production=allow_delete_production,
                                policies=_policies(loaded, target, wanted=policies, envs=envs)))
    _print_reports(reports, dry_run=dry_run, output=output)
    if any(o.verb == "foreign" for r in reports for o in r.outcomes):
        raise typer.Exit(1)


def _command(*, dry_run: bool, doc: str):
    def command(
        cluster_name: str = ClusterOption, env: list[str] = EnvOption, service: list[str] = ServiceOption,
        all_: bool = AllOption, allow_delete_production: bool = typer.Option(False, "--allow-delete-production"),
        policies: bool = PoliciesOption, estate: str = EstateOption, output: common.Output = common.OutputOption,
    ) -> None:
        _cluster_command(dry_run=dry_run, cluster_name=cluster_name, envs=env, service=service,
                         everything=all_, allow_delete_production=allow_delete_production, policies=policies,
                         estate=estate, output=output)
    command.__doc__ = doc
    return command


app.command("plan")(_command(dry_run=True, doc=(
    "Show what apply would change on the cluster: creates, updates (with drift), prunes; for the whole "
    "cluster, the admission policies too.")))
app.command("apply")(_command(dry_run=False, doc=(
    "Server-side apply the environments to the cluster and prune what is no longer rendered; for the "
    "whole cluster (no --env), Civic's admission policies too.")))


@app.command()
def status(
    cluster_name: str = ClusterOption, env: list[str] = EnvOption, service: list[str] = ServiceOption,
    policies: bool = PoliciesOption, estate: str = EstateOption, output: common.Output = common.OutputOption,
) -> None:
    """The health of every object, judged as Argo CD judges it (the admission policies' too, for the whole cluster)."""
    loaded = common.load_estate(common.estate_root(estate))
    target = targets.cluster(loaded, cluster_name)
    renders = [r for r, _ in _renders(loaded, target, env, service)]
    enforced = _policies(loaded, target, wanted=policies, envs=env)
    if enforced is not None and enforced.objects:
        renders.insert(0, rendering.admission_set(enforced.objects))

    async def observe() -> list[tuple[str, cluster.Outcome, tuple]]:
        api = client_mod.Client.from_kubeconfig(context=target.context)
        try:
            return [(r.environment, o, v) for r in renders for o, v in await cluster.status(api, r)]
        finally:
            await api.aclose()
    rows = asyncio.run(observe())
    if output is common.Output.json:
        common.print_json([{"environment": e, "object": o.ref, "health": v[0].value, "message": v[1]}
                           for e, o, v in rows])
        return
    table = Table("object", "health", "message")
    colours = {"healthy": "green", "progressing": "yellow", "suspended": "blue"}
    for _, o, (verdict, message) in rows:
        table.add_row(o.ref, f"[{colours.get(verdict.value, 'red')}]{verdict.value}[/]", message)
    common.out.print(table)
    if any(v[0].value in ("degraded", "missing") for _, _, v in rows):
        raise typer.Exit(1)
