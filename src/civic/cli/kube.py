"""``civic render`` and ``civic cluster plan|apply|status``: the Kubernetes backend's commands.

Thin: options are parsed here, then :mod:`civic.backends.kubernetes` renders, plans,
applies and observes. ``civic render`` needs no cluster; the ``cluster`` commands
talk to the one civic.yaml names, through the kubeconfig context it gives.
"""

from __future__ import annotations

import asyncio
import sys

import typer

from civic.backends.kubernetes import inputs, rendering, targets, validation
from civic.cli import common
from civic.cli.common import EstateOption
from civic.errors import SpecError, UsageError
from civic.spec import estate as estate_mod
from civic.spec import models

app = typer.Typer(help="Plan, apply and watch environments on a Kubernetes cluster.", no_args_is_help=True)

ServiceOption = typer.Option(
    [], "--service", "-s", metavar="FILE",
    help="A service spec (civic.service.yaml, or a folder holding one); repeat for more.")
ClusterOption = typer.Option(None, "--cluster", "-c", help="A cluster named in civic.yaml.")


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
    if validate:
        wrong = validation.check_all(objects, (targets.OLDEST, targets.NEWEST))
        if wrong:
            raise UsageError("rendered objects are not valid:\n" + "\n".join(f"  {w}" for w in wrong))
    sys.stdout.write(rendering.to_yaml(objects))
    if validate:
        common.err.print(f"✓ {len(objects)} objects valid for Kubernetes {targets.OLDEST} and {targets.NEWEST}.")


def run(coroutine):  # small helper shared by the cluster commands
    return asyncio.run(coroutine)
