"""Builders the policy tests share: valid objects of each kind, as the suites' bases."""

from __future__ import annotations

from typing import Any

from civic.policy import subjects, suites


def obj(kind: str, **over: Any) -> dict[str, Any]:
    """A valid object of ``kind`` with ``over`` merged in (``spec={...}``, ``metadata={...}``)."""
    return suites.merge(suites.BASES[kind], over)


def subject(kind: str, *, environment: dict[str, Any] | None = None, **over: Any) -> subjects.Subject:
    raw = obj(kind, **over)
    env = subjects.KINDS["Environment"].view(environment) if environment else None
    return subjects.from_spec(kind, raw["metadata"]["name"], raw, environment=env)


PLATFORM = subjects.KINDS["Platform"].view(suites.BASES["Platform"])
