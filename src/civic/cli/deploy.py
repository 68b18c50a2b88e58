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


SPEC_FILE = "civic.service.yaml"


def deploy(
    environment: str = typer.Argument(..., metavar="ENV"),
    path: str = typer.Argument(None, metavar="[PATH]", help="The service's folder [default: the spec's, or '.']."),
    file: str = typer.Option(None, "--file", "-f", help=f"The service spec [default: PATH/{SPEC_FILE}]."),
    overrides: list[str] = typer.Option(
        [], "--set", metavar="KEY=VALUE", help="Override a spec field, e.g. replicas=3 or env.GREETING=hi."
    ),
    include_secrets: bool = typer.Option(
        False, "--include-secrets", help="Upload files that look like secrets (.env, keys) all the same."
    ),
    write_spec: bool = typer.Option(
        False, "--write-spec", help=f"With no {SPEC_FILE}: save the spec Civic derives, for review, and deploy it."
    ),
    wait: bool = typer.Option(True, "--wait/--no-wait", help="Follow the rollout until it ends."),
) -> None:
    """Deploy a service's folder: upload its code, build it, and run it as a new numbered revision."""
    from civic.client import api as client_api  # httpx: only for the commands that call the API

    folder, spec_file, text = _spec(path, file, write_spec=write_spec)
    with client_api.Client() as client:
        artifact = _upload(client, environment, folder, include_secrets=include_secrets) if folder else None
        if artifact:
            common.out.print("Building ...")
        result = client.deploy(environment, file=spec_file, text=text, overrides=overrides, artifact=artifact)
        for warning in result["warnings"]:
            common.err.print(f"[yellow]warning:[/] {warning}", markup=True)
        built = result.get("build")
        if built:
            cached = ", dependencies from the cache" if built["cached"] else ""
            common.out.print(f"Built {built['id']} ({built['kind']}{cached}) in {built['seconds']:.1f} s.")
        name, number = result["service"], result["revision"]
        common.out.print(f"Deploying {environment}/{name} revision {number}.")
        if wait:
            follow(client, environment, name, number, timeout=result["progressDeadlineSeconds"] + 30)
        common.out.print(f"[green]✓[/] {environment}/{name} revision {number}: {result['url']}")


def _spec(path: str | None, file: str | None, *, write_spec: bool) -> tuple[str | None, str, str]:
    """The folder to upload (None: no code, an image-only spec), the spec's file name and its text."""
    if path and file is None and os.path.isfile(path):
        file, path = path, None  # `civic deploy ENV service.yaml`: a spec, with its folder
    if file is not None:
        folder = path or os.path.dirname(os.path.abspath(file))
        text = _read(file)
    else:
        folder = path or "."
        if not os.path.isdir(folder):
            raise UsageError(f"{folder} is not a folder; give the service's folder, or its spec with -f.")
        file = os.path.join(folder, SPEC_FILE)
        if os.path.isfile(file):
            text = _read(file)
        else:
            text = _derived(folder, file, write_spec=write_spec)
    return (None if _image_only(text) else folder), file, text


def _read(file: str) -> str:
    try:
        with open(file, encoding="utf-8") as f:
            return f.read(1 << 20)
    except OSError as e:
        raise UsageError(f"cannot read {file}: {e.strerror}; give the service spec with -f.") from e


def _derived(folder: str, file: str, *, write_spec: bool) -> str:
    from civic.releases import detection

    derived = detection.derive(folder)
    common.out.print(f"No {SPEC_FILE} in {folder}: Civic derived this spec from {derived.how}:\n")
    common.out.print(derived.text, markup=False, highlight=False)
    for warning in derived.warnings:
        common.err.print(f"[yellow]warning:[/] {warning}", markup=True)
    if write_spec:
        with open(file, "x", encoding="utf-8") as f:
            f.write(derived.text)
        common.out.print(f"Saved it as {file}: review it and keep it with the code.")
    return derived.text


def _image_only(text: str) -> bool:
    """A spec that names an image and nothing to run here has no code to upload (Kubernetes runs the image)."""
    import yaml

    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError:
        return False  # the control plane reports the problem at its line
    spec = data.get("spec") if isinstance(data, dict) else None
    return isinstance(spec, dict) and bool(spec.get("image")) and not spec.get("run")


def _upload(client: client_api.Client, environment: str, folder: str, *, include_secrets: bool) -> str:
    """Pack ``folder`` and upload it unless the control plane has it already; its digest."""
    import tempfile

    from civic.releases import packing

    with tempfile.TemporaryDirectory(prefix="civic-pack-") as scratch:
        packed = packing.pack(folder, include_secrets=include_secrets, dest_dir=scratch)
        what = f"{packed.files} file(s), {_size(packed.size)}"
        if client.has_artifact(environment, packed.digest):
            common.out.print(f"Code unchanged ({what}, {packed.digest[:19]}): not uploaded again.")
        else:
            client.upload(environment, packed.digest, packed.path)
            common.out.print(f"Uploaded {what} ({packed.digest[:19]}).")
        return packed.digest


def _size(n: int) -> str:
    if n < 1024:
        return f"{n} B"
    return f"{n / 1024:.1f} KiB" if n < (1 << 20) else f"{n / (1 << 20):.1f} MiB"


def builds(
    target: str = typer.Argument(..., metavar="ENV/SERVICE"),
    logs: bool = typer.Option(False, "--logs", help="Show a build's whole output (the newest, or --build)."),
    build_id: str = typer.Option(None, "--build", metavar="ID", help="The build to show with --logs."),
) -> None:
    """A service's builds: when, from which code, how, and their outcome; --logs shows the output."""
    import datetime

    from rich.table import Table

    from civic.client import api as client_api

    env, name = _target(target)
    with client_api.Client() as client:
        found = client.builds(env, name)
        if logs or build_id:
            chosen = build_id or (found[0]["id"] if found else None)
            if chosen is None:
                raise UsageError(f"{env}/{name} has no builds yet; 'civic deploy {env} FOLDER' makes one.")
            shown = client.build_log(chosen)
            common.out.print(f"Build {shown['id']}: {shown['status']}", highlight=False)
            common.out.print(shown["log"], markup=False, highlight=False, end="")
            return
    if not found:
        common.out.print(f"{env}/{name} has no builds yet; 'civic deploy {env} FOLDER' makes one.")
        return
    table = Table(box=None, pad_edge=False)
    for column in ("BUILD", "STARTED", "STATUS", "KIND", "CACHED", "SECONDS", "CODE", "BY", "MESSAGE"):
        table.add_column(column)
    for b in found:
        started = datetime.datetime.fromtimestamp(b["startedAt"]).strftime("%Y-%m-%d %H:%M:%S")
        table.add_row(
            b["id"],
            started,
            b["status"],
            b["kind"] or "-",
            "yes" if b["cached"] else "no",
            f"{b['seconds']:.1f}",
            b["artifact"][:19],
            b["startedBy"],
            b["message"].splitlines()[0][:80] if b["message"] else "",
        )
    common.out.print(table)


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
