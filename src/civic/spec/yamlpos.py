"""YAML in, plain values out, with the line and column of every field.

The spec loader calls :func:`parse` on each file's text. PyYAML's C composer gives
nodes with positions (about 60 µs a file); we walk the node tree ourselves so that
duplicate keys, non-string keys and alias loops become :class:`~civic.errors.Problem`
values instead of silent overwrites or exceptions. Pure: text in, values out.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import yaml

from civic.errors import Problem

try:  # the C composer is 20x faster; fall back where libyaml is missing
    _Loader: type = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - depends on the build of PyYAML
    _Loader = yaml.SafeLoader

Path = tuple[str | int, ...]

_constructor = yaml.constructor.SafeConstructor()
_STR = "tag:yaml.org,2002:str"


@dataclasses.dataclass(frozen=True)
class Document:
    """One parsed file: its values and where each field path starts."""

    file: str
    data: Any
    positions: dict[Path, tuple[int, int]]

    def where(self, path: Path) -> tuple[int, int]:
        """The position of ``path``, or of its nearest ancestor that has one."""
        path = tuple(path)
        while path:
            if path in self.positions:
                return self.positions[path]
            path = path[:-1]
        return self.positions.get((), (1, 1))

    def problem(self, path: Path, message: str) -> Problem:
        line, column = self.where(path)
        return Problem(self.file, line, column, dotted(path), message)


def dotted(path: Path) -> str:
    """``("spec", "services", 0, "port")`` → ``spec.services[0].port``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def parse(text: str, *, file: str) -> tuple[Document | None, list[Problem]]:
    """Parse one YAML document; return it and the problems found (never raises)."""
    if not text.strip() or all(not line.strip() or line.lstrip().startswith("#") for line in text.splitlines()):
        return None, [
            Problem(
                file,
                1,
                1,
                "",
                "the file is empty; it must hold one YAML mapping with apiVersion, kind, metadata and spec.",
            )
        ]
    try:
        node = yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        what = ", ".join(part for part in (e.context, e.problem) if part)
        if e.context_mark and e.problem_mark and e.context_mark.line != e.problem_mark.line:
            what = (
                f"{e.context} (which starts at line {e.context_mark.line + 1}, column "
                f"{e.context_mark.column + 1}), {e.problem}"
            )
        if "expected a single document" in what:
            what = "the file holds more than one YAML document; keep one per file"
        return None, [Problem(file, line, column, "", f"this is not valid YAML: {what}.")]
    except yaml.YAMLError as e:  # a reader error (bad bytes) has no mark
        return None, [Problem(file, 1, 1, "", f"this is not valid YAML: {e}.")]
    if node is None:
        return None, [Problem(file, 1, 1, "", "the file holds no YAML document.")]
    walker = _Walker(file, aliases="&" in text)
    data = walker.value(node, (), frozenset())
    return Document(file, data, walker.positions), walker.problems


class _Walker:
    def __init__(self, file: str, *, aliases: bool) -> None:
        self.file = file
        self.aliases = aliases  # only a document with anchors can loop
        self.positions: dict[Path, tuple[int, int]] = {}
        self.problems: list[Problem] = []

    def _problem(self, node: yaml.Node, path: Path, message: str) -> None:
        mark = node.start_mark
        self.problems.append(Problem(self.file, mark.line + 1, mark.column + 1, dotted(path), message))

    def value(self, node: yaml.Node, path: Path, seen: frozenset[int]) -> Any:
        mark = node.start_mark
        self.positions.setdefault(path, (mark.line + 1, mark.column + 1))
        if isinstance(node, yaml.ScalarNode):
            if node.tag == _STR:  # most values: skip the constructor's dispatch
                return node.value
            try:
                return _constructor.construct_object(node, deep=True)
            except yaml.constructor.ConstructorError as e:
                self._problem(node, path, f"this value cannot be read: {e.problem}.")
                return None
        if self.aliases:
            if id(node) in seen:
                self._problem(node, path, "this alias refers to itself; write the value out instead.")
                return None
            seen = seen | {id(node)}
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, path, seen)
        return [self.value(item, path + (i,), seen) for i, item in enumerate(node.value)]

    def _mapping(self, node: yaml.MappingNode, path: Path, seen: frozenset[int]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                self._problem(key_node, path, "a key must be a plain string, not a list or mapping.")
                continue
            key = key_node.value
            if key_node.tag != _STR and key_node.style is None:
                key = str(_constructor.construct_object(key_node))
            child = path + (key,)
            if key in out:
                first = self.positions.get(child, (0, 0))
                self._problem(
                    key_node, child, f"duplicate key '{key}' (first given at line {first[0]}); remove one of them."
                )
                continue
            self.positions[child] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
            out[key] = self.value(value_node, child, seen)
        return out
