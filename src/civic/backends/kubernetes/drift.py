"""What differs between a live object and what applying would make of it, and whose doing.

The engine dry-runs a server-side apply and hands the result and the live object to
:func:`changes`. Fields the server keeps for itself (``managedFields``,
``resourceVersion``, status ...) are ignored, and so are fields Civic does not set:
those belong to other managers (an HPA's ``spec.replicas``) and are theirs to change.
Each change says which other manager, if any, owns the field live: that is drift
(``kubectl edit`` took it), as opposed to a change in the estate. Pure.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from civic.backends.kubernetes import ownership

Path = tuple[str, ...]
VOLATILE = {"managedFields", "resourceVersion", "generation", "uid", "creationTimestamp"}


@dataclasses.dataclass(frozen=True)
class Change:
    path: str
    owner: str | None = None  # another manager that owns the field live: drift

    def __str__(self) -> str:
        return self.path + (f" (changed by {self.owner})" if self.owner else "")


def leaves(obj: Any, prefix: Path = ()) -> dict[Path, Any]:
    if isinstance(obj, dict) and obj:
        out: dict[Path, Any] = {}
        for key, value in obj.items():
            out.update(leaves(value, prefix + (str(key),)))
        return out
    return {prefix: obj}


def _comparable(obj: dict[str, Any] | None) -> dict[Path, Any]:
    if not obj:
        return {}
    meta = {k: v for k, v in obj.get("metadata", {}).items() if k not in VOLATILE}
    return leaves({k: v for k, v in obj.items() if k not in ("metadata", "status")} | {"metadata": meta})


def owned_paths(obj: dict[str, Any]) -> dict[str, set[Path]]:
    """managedFields as {manager: field paths} (``f:`` keys; list items stay whole)."""
    out: dict[str, set[Path]] = {}
    for entry in obj.get("metadata", {}).get("managedFields") or []:
        paths = out.setdefault(entry.get("manager", ""), set())
        _walk(entry.get("fieldsV1") or {}, (), paths)
    return out


def _walk(node: dict[str, Any], prefix: Path, into: set[Path]) -> None:
    keys = [k for k in node if k.startswith("f:")]
    if not keys:
        into.add(prefix)
    for key in keys:
        _walk(node[key] or {}, prefix + (key[2:],), into)


def _related(a: Path, b: Path) -> bool:
    return a[: len(b)] == b or b[: len(a)] == a


def changes(live: dict[str, Any] | None, result: dict[str, Any], config: dict[str, Any]) -> list[Change]:
    """Fields Civic sets whose value applying would change; sorted by path."""
    before, after = _comparable(live), _comparable(result)
    ours = list(leaves(config))
    owners = owned_paths(live) if live else {}
    out = []
    for path in sorted(set(before) | set(after)):
        if before.get(path, KeyError) == after.get(path, KeyError):
            continue
        if not any(_related(path, mine) for mine in ours):
            continue  # another manager's field, e.g. an HPA's spec.replicas
        other = next(
            (
                m
                for m, paths in sorted(owners.items())
                if m != ownership.FIELD_MANAGER and any(_related(path, p) for p in paths)
            ),
            None,
        )
        out.append(Change(".".join(path), other))
    return out
