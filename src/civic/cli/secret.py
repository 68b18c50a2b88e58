"""``civic secret set|list|keygen``: values in, encrypted at rest, never printed."""

from __future__ import annotations

import datetime
import getpass
import sys

import typer
from rich.table import Table

from civic.cli import common
from civic.cli.common import EstateOption, OutputOption, StateOption
from civic.errors import SecretError, SpecError, UsageError
from civic.store import state as state_store

app = typer.Typer(help="Store secret values (encrypted at rest) and list their names.", no_args_is_help=True)


def _read_value() -> str:
    if sys.stdin.isatty():
        value = getpass.getpass("value (not shown): ")
    else:
        value = sys.stdin.read()
        value = value[:-1] if value.endswith("\n") else value
    if not value:
        raise SecretError(
            "no value was given on standard input; nothing was stored. Pipe it "
            'in, for example: printf %s "$VALUE" | civic secret set ENV NAME'
        )
    return value


@app.command("set")
def set_(
    scope: str = typer.Argument(..., metavar="ENV", help="The environment (or, with --team, the team)."),
    name: str = typer.Argument(..., help="The secret's name, as declared in spec.secrets."),
    team: bool = typer.Option(False, "--team", help="ENV names a team: a team secret (alert webhooks)."),
    estate: str = EstateOption,
    state: str = StateOption,
) -> None:
    """Store a secret's value, read from standard input."""
    root = common.estate_root(estate)
    note = _declared_note(root, scope, name, team=team)
    value = _read_value()
    box = common.secret_box(root)
    store = common.open_store(root, state)
    try:
        store.put_secret(
            state_store.team_scope(scope) if team else scope,
            name,
            ciphertext=box.encrypt(value),
            fingerprint=box.fingerprint(value),
        )
    finally:
        store.close()
    where = f"team {scope}" if team else f"environment {scope}"
    common.out.print(f"[green]✓[/] stored secret '{name}' of {where} (encrypted).")
    if note:
        common.err.print(f"[yellow]note:[/] {note}")


def _declared_note(root: str, scope: str, name: str, *, team: bool) -> str | None:
    """A warning if the estate does not (yet) declare the secret; None if it does."""
    try:
        loaded = common.load_estate(root)
    except SpecError:
        return "the estate has problems ('civic validate' lists them), so the name was not checked."
    if team:
        if scope not in loaded.teams:
            raise UsageError(f"team '{scope}' does not exist in the estate at {root}.")
        return None
    env = loaded.environments.get(scope)
    if env is None:
        raise UsageError(
            f"environment '{scope}' does not exist in the estate at {root}; 'civic validate' lists what there is."
        )
    if name not in env.spec.secrets:
        return (
            f"environment '{scope}' does not declare '{name}' yet; add it to spec.secrets "
            "so that services can refer to it."
        )
    return None


@app.command("list")
def list_(
    scope: str = typer.Argument(None, metavar="[ENV]", help="Only this environment's secrets."),
    estate: str = EstateOption,
    state: str = StateOption,
    output: common.Output = OutputOption,
) -> None:
    """List the secrets that have values: names and times only, never values."""
    root = common.estate_root(estate)
    store = common.open_store(root, state)
    try:
        infos = store.list_secrets(scope)
    finally:
        store.close()
    rows = [
        {
            "scope": i.scope,
            "name": i.name,
            "updatedAt": datetime.datetime.fromtimestamp(i.updated_at).isoformat(timespec="seconds"),
        }
        for i in infos
    ]
    if output is common.Output.json:
        common.print_json(rows)
        return
    table = Table("scope", "name", "updated at")
    for row in rows:
        table.add_row(row["scope"], row["name"], row["updatedAt"])
    common.out.print(table)


@app.command()
def keygen() -> None:
    """Print a new key for CIVIC_SECRET_KEY."""
    from cryptography.fernet import Fernet

    print(Fernet.generate_key().decode())
