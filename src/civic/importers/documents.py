"""Multi-document Kubernetes YAML files, each document with its real line numbers.

The MoJ keeps several objects in one file, separated by ``---``. The spec loader's
:func:`civic.spec.yamlpos.parse` reads one document; :func:`split` cuts a file at its
document markers and parses each part with it, shifting every line number so that
problems and positions point into the whole file. Pure; called by
:mod:`civic.importers.moj`.
"""

from __future__ import annotations

import dataclasses
import re

from civic.errors import Problem
from civic.spec import yamlpos

_MARKER = re.compile(r"^---(?:\s.*)?$")


@dataclasses.dataclass(frozen=True)
class Part:
    """One document of a file: its values (None if it cannot be read) and where it starts."""

    document: yamlpos.Document | None
    offset: int                 # lines before the document's first line
    problems: tuple[Problem, ...] = ()

    def line(self, path: yamlpos.Path = ()) -> int:
        if self.document is None:
            return self.offset + 1
        return self.document.where(path)[0] + self.offset


def split(text: str, *, file: str) -> list[Part]:
    """Every non-empty document of ``text``, in order."""
    chunks: list[tuple[int, list[str]]] = [(0, [])]
    for number, line in enumerate(text.splitlines()):
        if _MARKER.match(line):
            chunks.append((number + 1, []))
        else:
            chunks[-1][1].append(line)
    parts = []
    for offset, lines in chunks:
        body = "\n".join(lines)
        if not body.strip() or all(not ln.strip() or ln.lstrip().startswith("#") for ln in lines):
            continue
        doc, problems = yamlpos.parse(body + "\n", file=file)
        shifted = tuple(dataclasses.replace(p, line=p.line + offset) for p in problems)
        parts.append(Part(doc, offset, shifted))
    return parts
