"""Civic's errors as HTTP answers, and back: one table both the API and the client read.

The API answers a :class:`~civic.errors.CivicError` with the status below and a body
``{"kind": "NotFound", "message": "...", "problems": [...]}``; the client raises the
same class from that body, so the CLI prints the same message either way.
"""

from __future__ import annotations

from typing import Any

from civic import errors

STATUS: dict[type[errors.CivicError], int] = {
    errors.SpecError: 422,
    errors.PolicyDenied: 403,
    errors.NotFound: 404,
    errors.Unauthorized: 401,
    errors.Forbidden: 403,
    errors.BackendError: 502,
    errors.UsageError: 400,
    errors.PlanError: 409,
    errors.LockTimeout: 409,
    errors.StoreError: 503,
    errors.SecretError: 500,
}

KINDS: dict[str, type[errors.CivicError]] = {cls.__name__: cls for cls in STATUS} | {
    "CivicError": errors.CivicError}


def status_of(e: errors.CivicError) -> int:
    for cls in type(e).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 400


def body_of(e: errors.CivicError) -> dict[str, Any]:
    body: dict[str, Any] = {"kind": type(e).__name__, "message": e.message}
    if isinstance(e, errors.SpecError):
        body["problems"] = [p.as_dict() for p in e.problems]
    return body


def error_from(body: dict[str, Any]) -> errors.CivicError:
    cls = KINDS.get(str(body.get("kind")), errors.CivicError)
    if cls is errors.SpecError:
        return errors.SpecError([errors.Problem(**p) for p in body.get("problems", [])])
    return cls(str(body.get("message", "the API refused the request.")))
