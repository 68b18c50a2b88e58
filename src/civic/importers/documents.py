"""Multi-document Kubernetes YAML files, each document with its real line numbers.

The MoJ keeps several objects in one file, separated by ``---``. :func:`split` lets
PyYAML's composer find the documents (``yaml.compose_all``: it knows directives, ``...``
and ``--- {inline}`` documents, which a line splitter gets wrong), then reads each one's
text with the spec loader's :func:`civic.spec.yamlpos.parse`, shifting every line number
so that problems and positions point into the whole file. Reading stops at the first
document that is not YAML: the composer cannot find where the next one starts.

Hostile input is refused with a problem instead of being read: a file over
:data:`MAX_CHARS`, and a document whose aliases expand to more than
:data:`MAX_VALUES` values (an "alias bomb": a few lines that stand for billions).
Pure; called by :mod:`civic.importers.moj`.
"""

from __future__ import annotations

import dataclasses

import yaml

from civic.errors import Problem
from civic.spec import yamlpos

MAX_CHARS = 5 * 1024 * 1024
"""The largest file read (the largest in the MoJ's repository is 70 kB)."""
MAX_VALUES = 100_000
"""The most values one document may stand for once its aliases are written out (the MoJ's
largest has about 550)."""

_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml's composer where PyYAML has it
_NULL = "tag:yaml.org,2002:null"


@dataclasses.dataclass(frozen=True)
class Part:
    """One document of a file: its values (None if it cannot be read) and where it starts."""

    document: yamlpos.Document | None
    offset: int  # lines before the document's first line
    problems: tuple[Problem, ...] = ()

    def line(self, path: yamlpos.Path = ()) -> int:
        if self.document is None:
            return self.offset + 1
        return self.document.where(path)[0] + self.offset


def split(text: str, *, file: str) -> list[Part]:
    """Every non-empty document of ``text``, in order; the last is the unreadable one, if any."""
    if len(text) > MAX_CHARS:
        return [
            Part(
                None,
                0,
                (
                    Problem(
                        file,
                        1,
                        1,
                        "",
                        f"the file holds {len(text):,} characters, more than the {MAX_CHARS:,} Civic reads; split it.",
                    ),
                ),
            )
        ]
    parts: list[Part] = []
    end = yaml.Mark(file, 0, 0, 0, None, 0)  # where the last document read ends
    try:
        for node in yaml.compose_all(text, Loader=_LOADER):
            if not (isinstance(node, yaml.ScalarNode) and node.tag == _NULL and not node.value):
                parts.append(_part(text, node, file=file, aliases="&" in text))
            end = node.end_mark
    except yaml.YAMLError as e:
        parts.append(_unreadable(text, end, e, file=file))
    return parts


def _part(text: str, node: yaml.Node, *, file: str, aliases: bool) -> Part:
    offset = node.start_mark.line
    if aliases and _expanded(node) > MAX_VALUES:
        return Part(
            None,
            offset,
            (
                Problem(
                    file,
                    offset + 1,
                    node.start_mark.column + 1,
                    "",
                    (
                        f"this document's aliases expand to more than {MAX_VALUES:,} values; write the values "
                        "out instead of repeating aliases of aliases."
                    ),
                ),
            ),
        )
    start = node.start_mark.index - node.start_mark.column  # its first line, with any '---'
    document, problems = yamlpos.parse(text[start : node.end_mark.index], file=file)
    return Part(document, offset, tuple(dataclasses.replace(p, line=p.line + offset) for p in problems))


def _unreadable(text: str, end: yaml.Mark, error: yaml.YAMLError, *, file: str) -> Part:
    """The document that stopped the composer, with the problem :func:`yamlpos.parse` gives
    for it (the spec loader's wording) when it finds the same one."""
    mark = getattr(error, "problem_mark", None) or getattr(error, "context_mark", None)
    line, column = (mark.line + 1, mark.column + 1) if mark else (end.line + 1, 1)
    _, problems = yamlpos.parse(text[end.index :], file=file)
    for p in problems:
        if (p.line + end.line, p.column + (end.column if p.line == 1 else 0)) == (line, column):
            return Part(None, end.line, (dataclasses.replace(p, line=line, column=column),))
    what = ", ".join(
        str(part) for part in (getattr(error, "context", None), getattr(error, "problem", None)) if part
    ) or str(error)
    return Part(None, end.line, (Problem(file, line, column, "", f"this is not valid YAML: {what}."),))


def _expanded(root: yaml.Node) -> int:
    """How many values ``root`` stands for once its aliases are written out (a node that
    contains itself counts once: yamlpos reports it)."""
    size: dict[int, int] = {}
    entered: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        children = (
            [n for pair in node.value for n in pair]
            if isinstance(node, yaml.MappingNode)
            else node.value
            if isinstance(node, yaml.SequenceNode)
            else []
        )
        if children_done:
            size[id(node)] = 1 + sum(size.get(id(child), 1) for child in children)
        elif id(node) not in entered:
            entered.add(id(node))
            stack.append((node, True))
            stack.extend((child, False) for child in children)
    return size[id(root)]
