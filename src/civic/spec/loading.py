"""From one parsed file to one model, with every problem placed at its line and column.

:func:`load` checks ``apiVersion`` and ``kind``, validates the values with the kind's
Pydantic model and turns Pydantic's errors into :class:`~civic.errors.Problem` values
a person can act on: "unknown field 'replica'; did you mean 'replicas'?". Pure.
"""

from __future__ import annotations

import difflib
import types
import typing
from typing import Any

import pydantic
import pydantic_core

from civic.errors import Problem
from civic.spec import models, yamlpos
from civic.spec.yamlpos import Document, Path


def load(doc: Document, *, expect: str) -> tuple[models.Kind | None, list[Problem]]:
    """Validate ``doc`` as kind ``expect``; return the model (or None) and the problems."""
    data = doc.data
    if not isinstance(data, dict):
        return None, [
            doc.problem(
                (),
                f"the file must hold a mapping with apiVersion, kind, metadata and spec; it holds {_describe(data)}.",
            )
        ]
    problems = _check_header(doc, expect)
    if problems:
        return None, problems
    cls = models.KINDS[expect]
    try:
        return cls.model_validate(data), []
    except pydantic.ValidationError as e:
        return None, [_problem(doc, cls, error) for error in e.errors(include_url=False)]


def _check_header(doc: Document, expect: str) -> list[Problem]:
    data = doc.data
    out = []
    version = data.get("apiVersion")
    if version is None:
        out.append(
            doc.problem(
                ("apiVersion",), f"required field 'apiVersion' is missing; add 'apiVersion: {models.API_VERSION}'."
            )
        )
    elif version != models.API_VERSION:
        out.append(doc.problem(("apiVersion",), f"must be '{models.API_VERSION}', got '{version}'."))
    kind = data.get("kind")
    if kind is None:
        out.append(doc.problem(("kind",), f"required field 'kind' is missing; add 'kind: {expect}'."))
    elif kind != expect:
        out.append(doc.problem(("kind",), f"this file must hold a {expect}, got kind '{kind}'."))
    return out


def _problem(doc: Document, cls: type[pydantic.BaseModel], error: pydantic_core.ErrorDetails) -> Problem:
    loc: Path = tuple(error["loc"])
    kind = error["type"]
    if loc and loc[-1] == "[key]":
        loc = loc[:-1]
        return doc.problem(loc, f"the name {yamlpos.quoted(str(loc[-1]))} is not valid: {_value_error(error['msg'])}.")
    if kind == "missing":
        return doc.problem(loc, f"required field '{loc[-1]}' is missing.")
    if kind == "extra_forbidden":
        return doc.problem(loc, _unknown_field(cls, loc))
    return doc.problem(loc, _message(error))


def _message(error: pydantic_core.ErrorDetails) -> str:
    kind, ctx, got = error["type"], error.get("ctx", {}), error.get("input")
    shown = _shown(got)
    if kind == "literal_error":
        return f"must be one of {ctx.get('expected')}, got {shown}."
    if kind in ("int_type", "int_parsing", "int_from_float"):
        return f"must be a whole number, got {shown}."
    if kind in ("float_type", "float_parsing"):
        return f"must be a number, got {shown}."
    if kind in ("bool_type", "bool_parsing"):
        return f"must be true or false, got {shown}."
    if kind == "string_type":
        return f"must be a string, got {_describe(got)}."
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return f"must be a mapping of fields, got {_describe(got)}."
    if kind == "list_type":
        return f"must be a list, got {_describe(got)}."
    if kind in ("greater_than_equal", "greater_than", "less_than_equal", "less_than"):
        words = {
            "greater_than_equal": "at least",
            "greater_than": "more than",
            "less_than_equal": "at most",
            "less_than": "less than",
        }[kind]
        bound = next(iter(ctx.values()))
        return f"must be {words} {bound}, got {shown}."
    if kind == "too_short":
        return f"must have at least {ctx.get('min_length')} item(s)."
    if kind.startswith("date"):
        return f"must be a date written as YYYY-MM-DD, got {shown}."
    if kind == "value_error":
        return _value_error(error["msg"]) + "."
    return error["msg"][0].lower() + error["msg"][1:].rstrip(".") + "."


def _value_error(msg: str) -> str:
    return msg.removeprefix("Value error, ").rstrip(".")


def _shown(value: Any) -> str:
    if isinstance(value, str):
        return yamlpos.quoted(value)
    if isinstance(value, dict | list):
        return _describe(value)
    return repr(value) if value is not None else "nothing (null)"


def _describe(value: Any) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, int | float):
        return f"the number {value}"
    return f"the string {yamlpos.quoted(str(value))}"


def _unknown_field(cls: type[pydantic.BaseModel], loc: Path) -> str:
    name = str(loc[-1])
    known = known_fields(cls, loc[:-1])
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    if close:
        return f"unknown field '{name}'; did you mean '{close[0]}'?"
    if known:
        return f"unknown field '{name}'; the fields here are: {', '.join(sorted(known))}."
    return f"unknown field '{name}'."


def known_fields(cls: type[pydantic.BaseModel], loc: Path) -> list[str]:
    """The field names (as written in files) that the model accepts at ``loc``."""
    tp: Any = cls
    for part in loc:
        tp = _unwrap(tp)
        if isinstance(part, int):
            args = typing.get_args(tp)
            tp = args[0] if args else Any
        elif isinstance(tp, type) and issubclass(tp, pydantic.BaseModel):
            field = next((f for n, f in tp.model_fields.items() if (f.alias or n) == part), None)
            if field is None:
                return []
            tp = field.annotation
        elif typing.get_origin(tp) is dict:
            tp = typing.get_args(tp)[1]
        else:
            return []
    tp = _unwrap(tp)
    if isinstance(tp, type) and issubclass(tp, pydantic.BaseModel):
        return [f.alias or n for n, f in tp.model_fields.items()]
    return []


def _unwrap(tp: Any) -> Any:
    while True:
        origin = typing.get_origin(tp)
        if origin is typing.Annotated:
            tp = typing.get_args(tp)[0]
        elif origin in (typing.Union, types.UnionType):
            options = [a for a in typing.get_args(tp) if a is not type(None)]
            tp = options[0]
        else:
            return tp
