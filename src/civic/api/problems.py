"""Civic's errors as HTTP answers, and back: one table both the API and the client read.

The API answers a :class:`~civic.errors.CivicError` with the status of the nearest class
in :data:`STATUS` and a body ``{"kind": "NotFound", "bases": [...], "message": "..."}``,
plus ``problems`` for a SpecError and any other argument the class is made with
(``delay`` of a TemporaryError, ``fields`` of a Kubernetes Conflict, ``what`` and
``timeout`` of a deadline's Timeout). The client raises
the same class from that body, so the CLI prints the same message either way. A class the
client's process has not loaded (one a backend defines) comes back as the nearest of its
``bases`` that it has.

A backend's error is the server's side, never a 4xx that blames the request: 502 when
the backend failed, 503 when it is unavailable for now, 409 when what it holds conflicts.
"""

from __future__ import annotations

import inspect
from typing import Any

from civic import errors

STATUS: dict[type[errors.CivicError], int] = {
    errors.UsageError: 400,
    errors.Unauthorized: 401,
    errors.PolicyDenied: 403,
    errors.Forbidden: 403,
    errors.NotFound: 404,
    errors.PlanError: 409,
    errors.LockTimeout: 409,
    errors.BackendConflict: 409,
    errors.SpecError: 422,
    errors.PermanentError: 422,
    errors.SecretError: 500,
    errors.BackendError: 502,
    errors.StoreError: 503,
    errors.BackendUnavailable: 503,
    errors.TemporaryError: 503,
}
"""Looked up along the error's class hierarchy (its MRO); a bare CivicError is a 400."""

_RESERVED = {"kind", "bases", "message", "problems"}


def status_of(e: errors.CivicError) -> int:
    for cls in type(e).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 400


def kinds() -> dict[str, type[errors.CivicError]]:
    """Every CivicError class this process has loaded, by name; errors.py's come first."""
    found: dict[str, type[errors.CivicError]] = {}
    todo: list[type[errors.CivicError]] = [errors.CivicError]
    while todo:
        cls = todo.pop(0)
        found.setdefault(cls.__name__, cls)
        todo += cls.__subclasses__()
    return found


def _arguments(cls: type[errors.CivicError]) -> list[str]:
    """The names of what ``cls`` is made with besides a message, each kept as an attribute."""
    params = inspect.signature(cls).parameters.values()
    return [p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.name not in _RESERVED]


def _takes_message(cls: type[errors.CivicError]) -> bool:
    return "message" in inspect.signature(cls).parameters


def body_of(e: errors.CivicError) -> dict[str, Any]:
    body: dict[str, Any] = {
        "kind": type(e).__name__,
        "bases": [c.__name__ for c in type(e).__mro__[1:] if issubclass(c, errors.CivicError)],
        "message": e.message,
    }
    if isinstance(e, errors.SpecError):
        body["problems"] = [p.as_dict() for p in e.problems]
    else:
        body |= {name: getattr(e, name) for name in _arguments(type(e)) if hasattr(e, name)}
    return body


def error_from(body: dict[str, Any]) -> errors.CivicError:
    """The error ``body`` describes: its own class if this process knows it, else the nearest base."""
    known = kinds()
    message = str(body.get("message", "the API refused the request."))
    for name in [body.get("kind"), *body.get("bases", [])]:
        cls = known.get(str(name))
        if cls is None:
            continue
        if issubclass(cls, errors.SpecError):
            return cls([errors.Problem(**p) for p in body.get("problems", [])])
        given = {n: body[n] for n in _arguments(cls) if n in body}
        try:
            return cls(message, **given) if _takes_message(cls) else cls(**given)
        except TypeError:
            continue  # it needs more than the body says: the nearest base that does not
    return errors.CivicError(message)
