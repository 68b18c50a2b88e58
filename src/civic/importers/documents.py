"""Multi-document Kubernetes YAML files, each document with its real line numbers.

The MoJ keeps several objects in one file, separated by ``---``. :func:`split` lets the
spec loader's composer (:func:`civic.spec.yamlpos.compose`) find the documents (it knows
directives, ``...`` and ``--- {inline}`` documents, which a line splitter gets wrong) and
walks each one it composed with :func:`civic.spec.yamlpos.walk`, so that problems and
positions point into the whole file. Reading stops at the first document that is not
YAML: the composer cannot find where the next one starts.

Hostile input is refused with a problem instead of being read, by the same bounds as
every file Civic reads (:mod:`civic.spec.yamlpos`): a file over ``MAX_CHARS``, aliases
that expand to more than ``MAX_VALUES`` values (an "alias bomb": a few lines that stand
for billions), nesting deeper than ``MAX_DEPTH``, a string longer than ``MAX_STRING``.
Pure; called by :mod:`civic.importers.moj`.
"""

from __future__ import annotations

import dataclasses

import yaml

from civic.errors import Problem, SpecError
from civic.spec import yamlpos

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
        return self.document.where(path)[0]  # positions count lines of the whole file


def split(text: str, *, file: str) -> list[Part]:
    """Every non-empty document of ``text``, in order; the last is the unreadable one, if any."""
    parts: list[Part] = []
    aliases = "&" in text  # only a text with anchors can loop
    end = 0  # the line where the last document read ends
    try:
        for node in yamlpos.compose(text, file=file):
            if not (isinstance(node, yaml.ScalarNode) and node.tag == _NULL and not node.value):
                document, problems = yamlpos.walk(node, file=file, aliases=aliases)
                parts.append(Part(document, node.start_mark.line, tuple(problems)))
            end = node.end_mark.line
    except SpecError as e:
        parts.append(Part(None, end, tuple(e.problems)))
    return parts
