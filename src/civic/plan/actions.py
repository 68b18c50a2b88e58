"""What a plan asks for, one value per object: Create, Update or Delete.

Actions are frozen values: the planner makes them, renderers show them, policy judges
them and the store applies them. ``Key`` names an object as (kind, name).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from civic.plan import diffs

Key = tuple[str, str]

SECRET_FIELD = "secrets"  # changes to secret values are reported under this path


@dataclasses.dataclass(frozen=True)
class Create:
    kind: str
    name: str
    spec: dict[str, Any]
    verb = "create"

    @property
    def key(self) -> Key:
        return (self.kind, self.name)


@dataclasses.dataclass(frozen=True)
class Update:
    kind: str
    name: str
    spec: dict[str, Any]
    changes: tuple[diffs.DiffItem, ...]
    secrets_changed: tuple[str, ...] = ()
    verb = "update"

    @property
    def key(self) -> Key:
        return (self.kind, self.name)


@dataclasses.dataclass(frozen=True)
class Delete:
    kind: str
    name: str
    old: dict[str, Any]
    verb = "delete"

    @property
    def key(self) -> Key:
        return (self.kind, self.name)


Action = Create | Update | Delete


def is_production(spec: dict[str, Any]) -> bool:
    return bool(spec.get("spec", {}).get("production"))
