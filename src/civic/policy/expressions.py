"""CEL expressions: compiled once, run many times, with Civic's few extra functions.

:func:`compile_` caches each expression's program by its text (the Rust
``common-expression-language`` runs a compiled check in a few microseconds; compiling
costs far more). :func:`context` builds one CEL context per subject, which every
policy for that subject reuses; ``params`` is looked up per policy, so switching
policies does not convert the object again. Extra functions: ``memory_bytes("512Mi")``
and ``cpu_millicores("500m")``, since CEL has no Kubernetes quantities here, and
``lower(s)``; Kubernetes' ``s.lowerAscii()`` and ``list.join(sep)``.
Called by :mod:`civic.policy.evaluation` and :mod:`civic.policy.files`. Pure.
"""

from __future__ import annotations

import functools
import re
import sys
import types
from collections.abc import Callable, Mapping
from typing import Any

# The cel package's __init__ imports its interactive shell (prompt_toolkit, ~160 ms at every
# `civic` start); Civic uses only the evaluator, so the shell's module is stood in for.
sys.modules.setdefault("cel.cli", types.ModuleType("cel.cli"))
import cel  # noqa: E402 - after the stand-in above

from civic.spec import quantities  # noqa: E402 - likewise


class ExpressionError(ValueError):
    """An expression that does not compile, or that failed on a value."""


@functools.lru_cache(maxsize=4096)
def compile_(text: str) -> cel.Program:
    """The compiled program of ``text``; raises ExpressionError saying where it is wrong."""
    try:
        return cel.compile(text)
    except (ValueError, RuntimeError) as e:
        raise ExpressionError(_first_lines(str(e))) from None


_WHERE = re.compile(r"<input>:(\d+):(\d+): (.*)")


def _first_lines(text: str) -> str:
    """CEL's report without its banner: 'column 8: Syntax error: ...'."""
    line = next((x.strip() for x in text.strip().splitlines() if x.strip()), text)
    found = _WHERE.search(line)
    if found:
        row, col, what = found.groups()
        where = f"line {row}, column {col}" if row != "1" else f"column {col}"
        return f"at {where} of the expression: {what.rstrip('.')}"
    return line.rstrip(".")


def _memory_bytes(value: Any) -> int:
    return quantities.bytes_(str(value))


def _cpu_millicores(value: Any) -> int:
    return quantities.millicores(str(value))


def _lower(value: Any) -> str:
    return str(value).lower()


def _join(items: Any, separator: str = "") -> str:
    return str(separator).join(str(i) for i in items)


# lower() because a case-insensitive regular expression is compiled again on every call.
# lowerAscii and join are Kubernetes' CEL string library, so policies for Kubernetes objects
# that use them still run in a ValidatingAdmissionPolicy; the others are Civic's own.
FUNCTIONS: dict[str, Callable[..., Any]] = {
    "memory_bytes": _memory_bytes,
    "cpu_millicores": _cpu_millicores,
    "lower": _lower,
    "lowerAscii": _lower,
    "join": _join,
}
CIVIC_ONLY = ("memory_bytes", "cpu_millicores", "lower")
"""Functions a Kubernetes API server does not have: a policy using them cannot be a VAP."""


LAZY = ("environment", "platform")
"""Variables converted only when an expression names them: most policies use neither."""


class Context:
    """The CEL context of one subject; ``run`` evaluates any policy's program on it."""

    def __init__(self, variables: Mapping[str, Any]) -> None:
        self._params: Mapping[str, Any] = {}
        # a resolver's None means "not mine": null values stay eager
        self._lazy = {k: v for k, v in variables.items() if k in LAZY and v is not None}
        eager = {k: v for k, v in variables.items() if k not in self._lazy}
        self._cel = cel.Context(variables=eager, functions=FUNCTIONS)
        self._cel.set_variable_resolver(self._resolve)

    def _resolve(self, name: str) -> Any:
        if name == "params":
            return self._params
        return self._lazy.get(name)

    def run(self, program: cel.Program, params: Mapping[str, Any]) -> Any:
        """The value of ``program``; raises ExpressionError if it fails on these values."""
        self._params = params
        try:
            return program.execute(self._cel)
        except (KeyError, TypeError, ValueError, RuntimeError) as e:
            raise ExpressionError(_runtime_reason(e)) from None


def _runtime_reason(e: Exception) -> str:
    if isinstance(e, KeyError):
        return f"the object has no field {e}; test for it with has(...) first"
    return _first_lines(str(e))
