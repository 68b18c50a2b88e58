"""``civic schema KIND``: the JSON Schema of a kind of file, for editors."""

from __future__ import annotations

import json

import typer

from civic.errors import UsageError
from civic.spec import models


def schema(kind: str = typer.Argument(..., help="Platform, Team, Environment or Service.")) -> None:
    """Print the JSON Schema of a kind of file (for editors' completion and checks)."""
    by_lower = {k.lower(): k for k in models.KINDS}
    name = by_lower.get(kind.lower())
    if name is None:
        raise UsageError(f"unknown kind '{kind}'; the kinds are: {', '.join(models.KINDS)}.")
    print(json.dumps(json_schema(name), indent=2))


def json_schema(kind: str) -> dict:
    out = models.KINDS[kind].model_json_schema(by_alias=True)
    out["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    out["$id"] = f"https://civic.local/schemas/{kind.lower()}.json"
    return out
