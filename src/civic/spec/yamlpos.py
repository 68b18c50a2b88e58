"""YAML in, plain values out, with the line and column of every field.

The spec loader calls :func:`parse` on each file's text; the importer, whose files hold
several documents, calls :func:`compose` and :func:`walk` on each document it yields.
libyaml (PyYAML's C parser) turns the text into events; :func:`compose` builds the node
tree from them itself, counting as it goes, so that hostile input is refused with a
placed :class:`~civic.errors.Problem` after a bounded amount of work instead of being
read: a text over :data:`MAX_CHARS`, a file that stands for more than :data:`MAX_VALUES`
values once its aliases are written out (an "alias bomb": a few hundred bytes that
stand for billions), nesting deeper than :data:`MAX_DEPTH` and a string longer than
:data:`MAX_STRING`. :func:`walk` then turns the nodes into values, so that duplicate
keys, non-string keys, alias loops and scalars that cannot be read (``2024-02-30``,
``!!int abc``) become problems instead of silent overwrites or exceptions. Pure: text
in, values out.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import yaml

from civic.errors import Problem, SpecError

try:  # the C parser is 20x faster; fall back where libyaml is missing
    _Loader: type = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - depends on the build of PyYAML
    _Loader = yaml.SafeLoader

MAX_CHARS = 5 * 1024 * 1024
"""The longest text read, in characters (5 MiB; :mod:`civic.spec.estate` holds a file's size
in bytes to the same number before reading it). The largest file in the MoJ's environments
repository is 70 kB and an estate's files are a few kB; libyaml scans 5 MiB in well under a
second, and :data:`MAX_VALUES` bounds what is built from it."""

MAX_VALUES = 100_000
"""The most values (mappings, lists, scalars, keys) one file may stand for once its aliases
are written out. The MoJ's largest document has 536, an environment.yaml about 60; a 340-byte
alias bomb stands for billions. Counted while the file is composed, so refusing one costs at
most this many steps (about half a second and 30 MB for 5 MiB of ``[a, a, ...]``)."""

MAX_DEPTH = 64
"""The deepest nesting of lists and mappings. The MoJ's deepest document nests 13 levels, a
Civic spec about 6; the walker, Pydantic and CEL recurse once per level, and nesting of about
490 levels exhausted Python's stack."""

MAX_STRING = 256 * 1024
"""The longest string (a value or a key), in characters: twice the longest in the MoJ's files
(a 128 kB dashboard in a ConfigMap). No field Civic reads needs a tenth of it, and a policy
expression has a much smaller bound of its own (:data:`civic.policy.expressions.MAX_CHARS`)."""

INT_RANGE = (-(2**63), 2**63 - 1)
"""Whole numbers Civic reads: 64 bits, what CEL, SQLite and Kubernetes hold (Python's int()
also refuses more than 4,300 digits)."""

Path = tuple[str | int, ...]

_STR = "tag:yaml.org,2002:str"
_INT = "tag:yaml.org,2002:int"
_WANTED = {
    "tag:yaml.org,2002:timestamp": "a valid date (YYYY-MM-DD)",
    _INT: "a whole number",
    "tag:yaml.org,2002:float": "a number",
    "tag:yaml.org,2002:bool": "true or false",
}


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
            out += ("." if out else "") + _escaped(str(part))
    return out


def _escaped(text: str) -> str:
    """``text`` with its control characters written as escapes (``\\x00``, ``\\n``)."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)


def quoted(value: str, *, most: int = 60) -> str:
    """``value`` as a message shows it: quoted, control characters escaped, cut to ``most``."""
    shown = _escaped(value[:most])
    if len(value) > most:
        return f"'{shown}...' ({len(value):,} characters)"
    return f"'{shown}'"


def parse(text: str, *, file: str) -> tuple[Document | None, list[Problem]]:
    """Parse one YAML document; return it and the problems found (never raises)."""
    if len(text) > MAX_CHARS:
        return None, [_too_long(text, file)]
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
        nodes = list(compose(text, file=file, one=True))
    except SpecError as e:
        return None, e.problems
    if not nodes:
        return None, [Problem(file, 1, 1, "", "the file holds no YAML document.")]
    return walk(nodes[0], file=file, aliases="&" in text)


def compose(text: str, *, file: str, one: bool = False) -> Iterator[yaml.Node]:
    """The root node of each document in ``text``, in order, with positions into the whole
    text; raises SpecError (one placed problem) where the text is not YAML or passes a bound.
    With ``one``, a second document is a problem before it is read."""
    if len(text) > MAX_CHARS:
        raise SpecError([_too_long(text, file)])
    composer = _Composer(text, file)
    try:
        yield from composer.documents(one=one)
    except yaml.YAMLError as e:
        raise SpecError([_yaml_problem(e, file)]) from None
    finally:
        composer.loader.dispose()


def walk(node: yaml.Node, *, file: str, aliases: bool = True) -> tuple[Document, list[Problem]]:
    """The values of an already-composed ``node`` (from :func:`compose`) and the problems in
    them. ``aliases=False`` when the text has no anchors (no ``&``): nothing can loop."""
    walker = _Walker(file, aliases=aliases)
    data = walker.value(node, (), frozenset())
    return Document(file, data, walker.positions), walker.problems


def _too_long(text: str, file: str) -> Problem:
    return Problem(
        file, 1, 1, "", f"the file holds {len(text):,} characters, more than the {MAX_CHARS:,} Civic reads; split it."
    )


def _yaml_problem(e: yaml.YAMLError, file: str) -> Problem:
    if not isinstance(e, yaml.MarkedYAMLError):  # a reader error (bad characters) has no mark
        return Problem(file, 1, 1, "", f"this is not valid YAML: {e}.")
    mark = e.problem_mark or e.context_mark
    line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
    what = ", ".join(part for part in (e.context, e.problem) if part)
    if e.context_mark and e.problem_mark and e.context_mark.line != e.problem_mark.line:
        what = (
            f"{e.context} (which starts at line {e.context_mark.line + 1}, column "
            f"{e.context_mark.column + 1}), {e.problem}"
        )
    return Problem(file, line, column, "", f"this is not valid YAML: {what}.")


class _Open:
    """A mapping or list being composed: its node, where it sits in its parent (for messages
    only), the values counted before it, its anchor, and its pending key."""

    __slots__ = ("anchor", "at", "key", "mapping", "node", "parent", "start")

    def __init__(
        self, node: yaml.CollectionNode, parent: _Open | None, at: Any, start: int, anchor: str | None
    ) -> None:
        self.node = node
        self.mapping = isinstance(node, yaml.MappingNode)
        self.parent = parent
        self.at = at  # its key node in a mapping, its index in a list, None at the root
        self.start = start
        self.anchor = anchor
        self.key: yaml.Node | None = None


class _Composer:
    """PyYAML's composer, from libyaml's events, with every bound checked as nodes are made."""

    def __init__(self, text: str, file: str) -> None:
        self.loader = _Loader(text)
        self.file = file
        self.count = 0  # values so far, aliases written out, across the file's documents

    def documents(self, *, one: bool) -> Iterator[yaml.Node]:
        loader = self.loader
        loader.get_event()  # the stream's start
        while not loader.check_event(yaml.StreamEndEvent):
            yield self._document()
            if one and loader.check_event(yaml.DocumentStartEvent):
                self._refuse(
                    loader.peek_event(),
                    None,
                    "this is not valid YAML: the file holds more than one YAML document; keep one per file",
                )

    def _document(self) -> yaml.Node:
        get_event, resolve = self.loader.get_event, self.loader.resolve
        get_event()  # the document's start
        anchors: dict[str, list[Any]] = {}  # anchor -> [node, values it stands for (None while open)]
        top: _Open | None = None  # the innermost open collection
        depth = 0
        root: yaml.Node | None = None
        while True:
            event = get_event()
            kind = type(event)
            node: yaml.Node
            if kind is yaml.ScalarEvent:
                value = event.value
                if len(value) > MAX_STRING:
                    self._refuse(event, top, _long_string(value))
                self.count += 1
                if self.count > MAX_VALUES:
                    self._too_many(event, top, alias=False)
                tag = event.tag
                if tag is None or tag == "!":
                    tag = resolve(yaml.ScalarNode, value, event.implicit) if event.implicit[0] else _STR
                node = yaml.ScalarNode(tag, value, event.start_mark, event.end_mark, event.style)
                if event.anchor is not None:
                    _anchor(anchors, event, node, 1)
            elif kind is yaml.AliasEvent:
                if event.anchor not in anchors:
                    raise yaml.composer.ComposerError(
                        None, None, f"found undefined alias {event.anchor!r}", event.start_mark
                    )
                node, size = anchors[event.anchor]
                self.count += size or 1  # None: it contains itself, which walk() reports
                if self.count > MAX_VALUES:
                    self._too_many(event, top, alias=True)
            elif kind is yaml.MappingStartEvent or kind is yaml.SequenceStartEvent:
                if depth >= MAX_DEPTH:
                    self._refuse(
                        event,
                        top,
                        f"the values nest more than {MAX_DEPTH} levels deep here, more than Civic reads; "
                        "flatten the structure",
                    )
                self.count += 1
                if self.count > MAX_VALUES:
                    self._too_many(event, top, alias=False)
                mapping = kind is yaml.MappingStartEvent
                tag = event.tag
                if tag is None or tag == "!":
                    tag = _MAP if mapping else _SEQ
                node = (yaml.MappingNode if mapping else yaml.SequenceNode)(
                    tag, [], event.start_mark, None, event.flow_style
                )
                if event.anchor is not None:
                    _anchor(anchors, event, node, None)
                at: Any  # where it sits in its parent: its key node, its index, or None
                if top is None:
                    root, at = node, None
                elif not top.mapping:
                    at = len(top.node.value)
                    top.node.value.append(node)
                elif top.key is None:
                    top.key, at = node, None
                else:
                    at = top.key
                    top.node.value.append((top.key, node))
                    top.key = None
                top = _Open(node, top, at, self.count - 1, event.anchor)
                depth += 1
                continue
            elif kind is yaml.MappingEndEvent or kind is yaml.SequenceEndEvent:
                assert top is not None, "libyaml ends only a collection it started"
                top.node.end_mark = event.end_mark
                if top.anchor is not None:
                    anchors[top.anchor][1] = self.count - top.start
                top = top.parent
                depth -= 1
                continue
            else:  # the document's end
                assert root is not None, "libyaml ends a document only after its root node"
                return root
            if top is None:
                root = node
            elif not top.mapping:
                top.node.value.append(node)
            elif top.key is None:
                top.key = node
            else:
                top.node.value.append((top.key, node))
                top.key = None

    def _too_many(self, event: Any, top: _Open | None, *, alias: bool) -> None:
        if alias:
            message = (
                f"aliases expand to more than {MAX_VALUES:,} values by this point of the file; write the "
                "values out instead of repeating aliases of aliases"
            )
        else:
            message = f"the file holds more than {MAX_VALUES:,} values by this point, more than Civic reads; split it"
        self._refuse(event, top, message)

    def _refuse(self, event: Any, top: _Open | None, message: str) -> None:
        mark = event.start_mark
        raise SpecError([Problem(self.file, mark.line + 1, mark.column + 1, dotted(_here(top)), message + ".")])


_MAP = "tag:yaml.org,2002:map"
_SEQ = "tag:yaml.org,2002:seq"


def _anchor(anchors: dict[str, list[Any]], event: Any, node: yaml.Node, size: int | None) -> None:
    if event.anchor in anchors:
        raise yaml.composer.ComposerError(
            f"found duplicate anchor {event.anchor!r}; first occurrence",
            anchors[event.anchor][0].start_mark,
            "second occurrence",
            event.start_mark,
        )
    anchors[event.anchor] = [node, size]


def _long_string(value: str) -> str:
    return (
        f"this string is {len(value):,} characters long, more than the {MAX_STRING:,} Civic reads in one "
        "value; shorten it"
    )


def _here(top: _Open | None) -> Path:
    """The field path of the node about to join ``top`` (built only for a message)."""
    if top is None:
        return ()
    if not top.mapping:
        last: tuple[str | int, ...] = (len(top.node.value),)
    elif top.key is None:  # a key: place it at its mapping
        last = ()
    else:
        last = (top.key.value if isinstance(top.key, yaml.ScalarNode) else "?",)
    path: list[str | int] = []
    frame: _Open | None = top
    while frame is not None and frame.parent is not None:
        at = frame.at
        path.append(at if isinstance(at, int) else at.value if isinstance(at, yaml.ScalarNode) else "?")
        frame = frame.parent
    return (*reversed(path), *last)


class _Walker:
    def __init__(self, file: str, *, aliases: bool) -> None:
        self.file = file
        self.aliases = aliases  # only a document with anchors can loop
        self.positions: dict[Path, tuple[int, int]] = {}
        self.problems: list[Problem] = []
        self.left = MAX_VALUES  # compose() holds its nodes to this; a node from elsewhere may not be
        self.constructor = yaml.constructor.SafeConstructor()  # one per walk: it caches what it built

    def _problem(self, node: yaml.Node, path: Path, message: str) -> None:
        mark = node.start_mark
        self.problems.append(Problem(self.file, mark.line + 1, mark.column + 1, dotted(path), message))

    def value(self, node: yaml.Node, path: Path, seen: frozenset[int]) -> Any:
        mark = node.start_mark
        self.positions.setdefault(path, (mark.line + 1, mark.column + 1))
        self.left -= 1
        if self.left < 0:
            if self.left == -1:
                self._problem(
                    node, path, f"the values pass {MAX_VALUES:,} here, more than Civic reads; split the file."
                )
            return None
        if len(path) > MAX_DEPTH:
            self._problem(node, path, f"the values nest more than {MAX_DEPTH} levels deep here; flatten the structure.")
            return None
        if isinstance(node, yaml.ScalarNode):
            if node.tag == _STR:  # most values: skip the constructor's dispatch
                return node.value
            return self._scalar(node, path)
        if self.aliases:
            if id(node) in seen:
                self._problem(node, path, "this alias refers to itself; write the value out instead.")
                return None
            seen = seen | {id(node)}
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, path, seen)
        return [self.value(item, (*path, i), seen) for i, item in enumerate(node.value)]

    def _scalar(self, node: yaml.ScalarNode, path: Path) -> Any:
        try:
            value = self.constructor.construct_object(node, deep=True)
        except Exception as e:  # noqa: BLE001 - PyYAML's constructors raise whatever int(), date() or a lookup raise
            self._problem(node, path, _unreadable(node, e))
            return None
        if isinstance(value, int) and not isinstance(value, bool) and not INT_RANGE[0] <= value <= INT_RANGE[1]:
            self._problem(node, path, _out_of_range(node.value))
            return None
        return value

    def _mapping(self, node: yaml.MappingNode, path: Path, seen: frozenset[int]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                self._problem(key_node, path, "a key must be a plain string, not a list or mapping.")
                continue
            key = key_node.value  # as written: '1' and 'true' are keys, not numbers
            child = (*path, key)
            if key in out:
                first = self.positions.get(child, (0, 0))
                self._problem(
                    key_node, child, f"duplicate key '{key}' (first given at line {first[0]}); remove one of them."
                )
                continue
            self.positions[child] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
            out[key] = self.value(value_node, child, seen)
        return out


def _unreadable(node: yaml.ScalarNode, error: Exception) -> str:
    """Why a tagged scalar (``2024-02-30``, ``!!int abc``) cannot be read, and what to write."""
    wanted = _WANTED.get(node.tag)
    if node.tag == _INT and node.value.lstrip("+-").replace("_", "").isdigit():
        return _out_of_range(node.value)
    if wanted is None:
        reason = error.problem if isinstance(error, yaml.MarkedYAMLError) else str(error)
        return f"this value cannot be read: {reason}."
    reason = f" ({error})" if type(error) is ValueError and node.tag != _INT else ""
    return f"{quoted(node.value)} is not {wanted}{reason}; write one, or quote the value to keep it as text."


def _out_of_range(text: str) -> str:
    return (
        f"the whole number {quoted(text, most=24)} is too large; Civic reads whole numbers from "
        f"{INT_RANGE[0]:,} to {INT_RANGE[1]:,}. Quote it to keep it as text."
    )
