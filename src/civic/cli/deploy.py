"""``civic deploy``, ``rollback``, ``scale`` and ``restart``: thin calls to the API.

A deploy shows its progress (replicas ready / desired) until the new revision is
healthy, then prints the URL; a revision that never gets ready is rolled back by the
platform, and the command says why and exits 1.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import typer

from civic import deadlines
from civic.cli import common
from civic.errors import CivicError, UsageError

if TYPE_CHECKING:
    from civic.client import api as client_api


def _target(value: str) -> tuple[str, str]:
    env, sep, name = value.partition("/")
    if not sep or not env or not name:
        raise UsageError(f"name the service as ENV/SERVICE, got '{value}'.")
    return env, name


def deploy(
    environment: str = typer.Argument(..., metavar="ENV"),
    file: str = typer.Option("civic.service.yaml", "--file", "-f", help="The service spec."),
    overrides: list[str] = typer.Option(
        [], "--set", metavar="KEY=VALUE", help="Override a spec field, e.g. replicas=3 or env.GREETING=hi."
    ),
    wait: bool = typer.Option(True, "--wait/--no-wait", help="Follow the rollout until it ends."),
) -> None:
    """Deploy a service into an environment as a new numbered revision."""
    from civic.client import api as client_api  # httpx: only for the commands that call the API

    try:
        with open(file, encoding="utf-8") as f:
            text = f.read()
    except OSError as e:
        raise UsageError(f"cannot read {file}: {e.strerror}; give the service spec with -f.") from e
    with client_api.Client() as client:
        result = client.deploy(
            environment, file=file, text=text, overrides=overrides, workdir=os.path.dirname(os.path.abspath(file))
        )
        for warning in result["warnings"]:
            common.err.print(f"[yellow]warning:[/] {warning}", markup=True)
        name, number = result["service"], result["revision"]
        common.out.print(f"Deploying {environment}/{name} revision {number}.")
        if wait:
            follow(client, environment, name, number, timeout=result["progressDeadlineSeconds"] + 30)
        common.out.print(f"[green]✓[/] {environment}/{name} revision {number}: {result['url']}")


def follow(client: client_api.Client, environment: str, name: str, number: int, *, timeout: float) -> None:
    """Print ready/desired as it changes, until revision ``number`` is healthy or has failed."""
    state: dict[str, Any] = {}
    shown = None

    def rolled_out() -> bool:
        nonlocal state, shown
        state = client.service(environment, name)
        latest = state["latest"]
        if latest["revision"] == number and latest["status"] == "failed":
            raise CivicError(f"revision {number} of {environment}/{name} failed: {latest['message']}")
        progress = (state["ready"], state["desired"])
        if state["observedRevision"] == number and progress != shown:
            shown = progress
            common.out.print(f"  {state['ready']}/{state['desired']} replicas ready")
        return state["observedRevision"] == number and state["health"] in ("healthy", "suspended")

    try:
        deadlines.poll(rolled_out, timeout=timeout, interval=0.2, what=f"revision {number} of {environment}/{name}")
    except deadlines.Timeout as e:
        raise CivicError(
            f"revision {number} of {environment}/{name} is not ready after {timeout:g} s "
            f"({state['health']}): {state['message'] or 'no reason given'}"
        ) from e


def rollback(
    target: str = typer.Argument(..., metavar="ENV/SERVICE"),
    to: int = typer.Option(None, "--to", metavar="REVISION", help="[default: the one before]"),
) -> None:
    """Run an earlier revision again."""
    from civic.client import api as client_api

    env, name = _target(target)
    with client_api.Client() as client:
        result = client.rollback(env, name, to=to)
        common.out.print(f"Rolling {env}/{name} back to revision {result['revision']}.")
        follow(client, env, name, result["revision"], timeout=120)
    common.out.print(f"[green]✓[/] {env}/{name} revision {result['revision']}: {result['url']}")


def scale(
    target: str = typer.Argument(..., metavar="ENV/SERVICE"), replicas: int = typer.Argument(..., metavar="N", min=0)
) -> None:
    """Run N replicas of a service."""
    from civic.client import api as client_api

    env, name = _target(target)
    with client_api.Client() as client:
        client.scale(env, name, replicas)
    common.out.print(f"{env}/{name} scaled to {replicas} replica(s).")


def restart(target: str = typer.Argument(..., metavar="ENV/SERVICE")) -> None:
    """Replace every replica of a service, one at a time, with no downtime."""
    from civic.client import api as client_api

    env, name = _target(target)
    with client_api.Client() as client:
        client.restart(env, name)
    common.out.print(f"{env}/{name} is restarting, one replica at a time.")
