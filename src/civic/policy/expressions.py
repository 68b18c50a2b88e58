"""CEL expressions: compiled once, run many times, with Civic's few extra functions.

:func:`compile_` caches each expression's program by its text (the Rust
``common-expression-language`` runs a compiled check in a few microseconds; compiling
costs far more). :func:`context` builds one CEL context per subject, which every
policy for that subject reuses; ``params`` is looked up per policy, so switching
policies does not convert the object again. Extra functions: ``memory_bytes("512Mi")``
and ``cpu_millicores("500m")``, since CEL has no Kubernetes quantities here, and
``lower(s)``; Kubernetes' ``s.lowerAscii()`` and ``list.join(sep)``.
Called by :mod:`civic.policy.evaluation` and :mod:`civic.policy.files`. Pure.

The cel package has no cost limit (cel-go's ``CostLimit``): it offers ``compile`` and
``execute`` and nothing to cap the work either does. So :func:`check` bounds what an
expression may be before CEL's parser sees it: its size (:data:`MAX_CHARS`), how deep
its brackets nest (:data:`MAX_NESTING`), how many operators it has (:data:`MAX_OPERATORS`),
and that only characters of CEL's grammar appear outside its strings. Work at run time
still grows with the data it runs on, which :mod:`civic.spec.yamlpos` bounds. An
expression that fails on a value (``1 / 0``, an overflow, a missing field) raises
:class:`ExpressionError`, which the evaluator turns into an error verdict.
"""

from __future__ import annotations

import functools
import re
import string
import sys
import types
from collections.abc import Callable, Mapping
from typing import Any

# The cel package's __init__ imports its interactive shell (prompt_toolkit, ~160 ms at every
# `civic` start); Civic uses only the evaluator, so the shell's module is stood in for.
sys.modules.setdefault("cel.cli", types.ModuleType("cel.cli"))
import cel  # noqa: E402 - after the stand-in above

from civic.spec import quantities  # noqa: E402 - likewise

MAX_CHARS = 32 * 1024
"""The longest expression compiled, in characters: over one and a half times the longest
built-in (``pod-seccomp``, 19,774, from the gatekeeper library). CEL's parser writes the
whole expression into its report of each character it cannot read, so a bad expression
costs its length squared: 10,000 characters took 150 MB, the drill's 1 MB took 23.7 GB."""

MAX_NESTING = 32
"""Brackets (``( [ {``) nested in each other: the built-ins nest at most 7 deep, and CEL's
parser gives up below 100 with a report of every bracket."""

MAX_OPERATORS = 4096
"""Operator characters (``. + - * / % ! < > = & | ? [``) outside strings: each can deepen
the tree CEL's evaluator walks recursively, and a chain of 16,000 (``1 + 1 + ...``) crashed
the process with a native stack overflow, which no ``except`` catches (12,000 still ran). The
built-ins have at most 1,718 (``pod-seccomp``)."""

_GRAMMAR = frozenset(string.ascii_letters + string.digits + "_ \t\r\n+-*/%!=<>&|?:.,()[]{}")
_OPERATORS = frozenset(".+-*/%!<>=&|?[")


class ExpressionError(ValueError):
    """An expression that does not compile, or that failed on a value."""


class TooLarge(ExpressionError):
    """An expression larger than a bound, refused before it is compiled."""


@functools.lru_cache(maxsize=4096)
def compile_(text: str) -> cel.Program:
    """The compiled program of ``text``; raises ExpressionError saying where it is wrong."""
    check(text)
    try:
        return cel.compile(text)
    except (ValueError, RuntimeError) as e:
        raise ExpressionError(_first_lines(str(e))) from None


def check(text: str) -> None:
    """Raise ExpressionError (TooLarge for a size) where ``text`` passes a bound, or has a
    character CEL does not know outside its strings and comments; before CEL's parser runs."""
    if len(text) > MAX_CHARS:
        raise TooLarge(f"is {len(text):,} characters long, more than the {MAX_CHARS:,} Civic compiles; shorten it")
    depth = operators = i = 0
    while i < len(text):
        c = text[i]
        if c in "'\"":
            i = _string_end(text, i)
            continue
        if text.startswith("//", i):  # a comment, to the end of its line
            i = len(text) if (end := text.find("\n", i)) < 0 else end
            continue
        if c not in _GRAMMAR:
            raise ExpressionError(f"{_at(text, i)}: {c!r} cannot appear outside a string")
        if c in "([{":
            depth += 1
            if depth > MAX_NESTING:
                raise ExpressionError(f"{_at(text, i)}: brackets nest more than {MAX_NESTING} deep")
        elif c in ")]}":
            depth = max(depth - 1, 0)
        operators += c in _OPERATORS
        i += 1
    if operators > MAX_OPERATORS:
        raise TooLarge(
            f"has {operators:,} operators, more than the {MAX_OPERATORS:,} Civic compiles in one expression; split it"
        )


def _string_end(text: str, start: int) -> int:
    """Where the string literal starting at ``start`` ends (one past its closing quote; at an
    unclosed one-line string's newline, or the end, for CEL's parser to report)."""
    prefix = start
    while prefix > 0 and text[prefix - 1].isalpha():
        prefix -= 1
    raw = text[prefix:start].lower() in ("r", "rb", "br")
    quote = text[start] * 3 if text.startswith(text[start] * 3, start) else text[start]
    i = start + len(quote)
    while i < len(text):
        if text[i] == "\\" and not raw:
            i += 2
        elif text.startswith(quote, i):
            return i + len(quote)
        elif text[i] == "\n" and len(quote) == 1:
            return i
        else:
            i += 1
    return len(text)


def _at(text: str, i: int) -> str:
    row = text.count("\n", 0, i) + 1
    column = i - text.rfind("\n", 0, i)
    return f"at line {row}, column {column} of the expression" if row > 1 else f"at column {column} of the expression"


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
        except (LookupError, TypeError, ValueError, ArithmeticError, RuntimeError) as e:
            # what CEL raises on a value: a missing field or index, a type, 1 / 0, an overflow
            raise ExpressionError(_runtime_reason(e)) from None


def _runtime_reason(e: Exception) -> str:
    if isinstance(e, KeyError):
        return f"the object has no field {e}; test for it with has(...) first"
    return _first_lines(str(e))
