"""Field-by-field differences between two JSON-like values.

``diff(old, new)`` returns an immutable, ordered sequence of :class:`DiffItem`:
each one operation on one field path, with the old and the new value. Mappings are
compared key by key; lists of the same length item by item; anything else as a whole.
Pure, and the basis of every plan.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Iterator, Mapping
from typing import Any


class Operation(str, enum.Enum):
    ADD = "add"
    CHANGE = "change"
    REMOVE = "remove"


@dataclasses.dataclass(frozen=True)
class DiffItem:
    operation: Operation
    path: tuple[str | int, ...]
    old: Any
    new: Any

    @property
    def field(self) -> str:
        out = ""
        for part in self.path:
            out += f"[{part}]" if isinstance(part, int) else ("." if out else "") + str(part)
        return out


def diff(old: Any, new: Any) -> tuple[DiffItem, ...]:
    return tuple(_walk((), old, new))


def _walk(path: tuple[str | int, ...], old: Any, new: Any) -> Iterator[DiffItem]:
    if isinstance(old, Mapping) and isinstance(new, Mapping):
        for key in sorted(set(old) | set(new), key=str):
            if key not in new:
                yield DiffItem(Operation.REMOVE, path + (key,), old[key], None)
            elif key not in old:
                yield DiffItem(Operation.ADD, path + (key,), None, new[key])
            else:
                yield from _walk(path + (key,), old[key], new[key])
    elif isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        for i, (a, b) in enumerate(zip(old, new, strict=True)):
            yield from _walk(path + (i,), a, b)
    elif old != new or type(old) is not type(new):
        yield DiffItem(Operation.CHANGE, path, old, new)
