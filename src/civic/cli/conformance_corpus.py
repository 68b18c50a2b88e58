"""Reading a gatekeeper-library corpus for ``civic policy conformance``: index.json and its YAML.

The judging is pure (:mod:`civic.policy.gatekeeper`); this reads the files it names and
turns a missing or broken one into a clear error naming the file. Called by
:mod:`civic.cli.policy` and the conformance tests.
"""

from __future__ import annotations

import json
import os
from typing import Any

import yaml

from civic.errors import NotFound, Problem, SpecError
from civic.policy import gatekeeper

REQUIRED = ("id", "policy", "constraint", "object", "expected_violations")


def read(directory: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The cases of ``directory/index.json`` and every object they refer to, by path."""
    path = os.path.join(directory, "index.json")
    if not os.path.isfile(path):
        raise NotFound(
            f"no index.json in {directory}; give the folder of a gatekeeper-library corpus "
            "(index.json lists its cases; see its README.md)."
        )
    with open(path, encoding="utf-8") as f:
        try:
            index = json.load(f)
        except json.JSONDecodeError as e:
            raise SpecError([Problem(path, e.lineno, e.colno, "", f"is not valid JSON: {e.msg}.")]) from None
    if not isinstance(index, list):
        raise SpecError([Problem(path, 1, 1, "", "must be a JSON list of cases.")])
    problems = [
        Problem(path, 0, 0, f"[{i}].{k}", "is missing; every case needs it.")
        for i, case in enumerate(index)
        for k in REQUIRED
        if k not in case
    ]
    if problems:
        raise SpecError(problems)
    return index, {p: _load(directory, p) for p in gatekeeper.paths(index)}


def _load(directory: str, rel: str) -> Any:
    path = os.path.join(directory, rel)
    try:
        with open(path, encoding="utf-8") as f:
            return yaml.safe_load(f)
    except FileNotFoundError:
        raise NotFound(f"{path}: named in index.json but missing; is the corpus complete?") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line, column = (mark.line + 1, mark.column + 1) if mark else (0, 0)
        raise SpecError([Problem(path, line, column, "", f"is not valid YAML: {getattr(e, 'problem', e)}.")]) from None
