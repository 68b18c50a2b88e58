"""Free-form MoJ values into Civic's vocabulary: environment names, flags, units, names.

Each function takes the value as written and returns the Civic value with a short note
saying why it changed (or None when nothing changed), so the caller can record every
rewrite in the import report. Pure; called by :mod:`civic.importers.moj` and
:mod:`civic.importers.assembly`.
"""

from __future__ import annotations

import collections
import datetime
import re
from collections.abc import Iterable

from civic.spec import models

CIVIC_ENVIRONMENT_NAMES = ("development", "test", "staging", "preproduction", "production")

# Spellings seen across cloud-platform-environments, by the Civic name they mean.
_ENVIRONMENT_SYNONYMS = {
    "development": ("dev", "develop", "development", "devel", "sandbox", "dev1", "dev2", "local"),
    "test": (
        "test",
        "testing",
        "tst",
        "qa",
        "uat",
        "sit",
        "e2e",
        "int",
        "integration",
        "perf",
        "performance",
        "training",
        "train",
        "demo",
        "nle",
        "non-prod",
        "nonprod",
        "non-production",
    ),
    "staging": ("staging", "stage", "stg"),
    "preproduction": ("preprod", "pre-prod", "preproduction", "pre-production", "pre", "pp"),
    "production": ("prod", "production", "live", "prd", "prod1"),
}
ENVIRONMENT_NAMES = {alias: name for name, aliases in _ENVIRONMENT_SYNONYMS.items() for alias in aliases}

# Business units as the MoJ spells them in the majority of namespaces.
_BUSINESS_UNITS = (
    "HMPPS",
    "HMCTS",
    "LAA",
    "OPG",
    "CICA",
    "HQ",
    "YJB",
    "Platforms",
    "Central Digital",
    "Technology Services",
    "OCTO",
    "MoJ Digital",
)
BUSINESS_UNITS = {re.sub(r"[\s_-]+", " ", b.lower()): b for b in _BUSINESS_UNITS}

_TRUE = ("true", "yes", "y", "1", "on")
_FALSE = ("false", "no", "n", "0", "off", "")


def environment_name(value: object, *, namespace: str) -> tuple[str, str | None]:
    """The Civic environment name for ``value`` (the label as written)."""
    text = "" if value is None else str(value).strip()
    key = text.lower()
    if key in ENVIRONMENT_NAMES:
        name = ENVIRONMENT_NAMES[key]
        return name, None if name == text else f"'{text}' means '{name}'"
    guess = _from_suffix(namespace)
    if guess:
        why = "no environment-name label" if not text else f"'{text}' is not a known environment name"
        return guess, f"{why}; taken from the namespace's suffix"
    if not text:
        return "development", "no environment-name label and no known suffix; assumed development"
    label = to_name(text)
    return label, f"'{text}' kept as a new environment name of this platform"


def _from_suffix(namespace: str) -> str | None:
    parts = namespace.lower().split("-")
    for n in (2, 1):
        if len(parts) > n and "-".join(parts[-n:]) in ENVIRONMENT_NAMES:
            return ENVIRONMENT_NAMES["-".join(parts[-n:])]
    return None


def production(value: object, *, environment: str) -> tuple[bool, str | None]:
    """The is-production label ("true", "false", True ...) as a boolean."""
    if isinstance(value, bool):
        return value, None
    text = "" if value is None else str(value).strip().lower()
    if text in _TRUE:
        return True, f"the string '{value}' read as true"
    if text in _FALSE and text:
        return False, f"the string '{value}' read as false"
    guess = environment == "production"
    why = "no is-production label" if not text else f"'{value}' is not true or false"
    return guess, f"{why}; {'production' if guess else 'not production'}, from its environment name"


def business_units(values: Iterable[str]) -> dict[str, str]:
    """Map every spelling to one canonical unit: the MoJ's own, else the most used spelling."""
    spellings = collections.Counter(v.strip() for v in values if v and v.strip())
    groups: dict[str, list[str]] = collections.defaultdict(list)
    for spelling in spellings:
        groups[_unit_key(spelling)].append(spelling)
    out = {}
    for key, members in groups.items():
        canonical = BUSINESS_UNITS.get(key) or sorted(members, key=lambda s: (-spellings[s], s))[0]
        out.update({m: canonical for m in members})
    return out


def _unit_key(value: str) -> str:
    return re.sub(r"[\s_-]+", " ", value.strip().lower())


def review_after(value: object) -> tuple[datetime.date | None, str | None]:
    """A review-after annotation as a date; empty or unreadable values become None."""
    if isinstance(value, datetime.date):
        return value, None
    text = "" if value is None else str(value).strip()
    if not text:
        return None, "empty review-after left out"
    for fmt in ("%Y-%m-%d", "%d/%m/%Y", "%Y/%m/%d", "%d-%m-%Y"):
        try:
            date = datetime.datetime.strptime(text, fmt).date()
        except ValueError:
            continue
        return date, None if fmt == "%Y-%m-%d" else f"'{text}' read as {date.isoformat()}"
    return None, f"'{text}' is not a date; left out"


def slack_channel(value: object) -> tuple[str | None, str | None]:
    """``apply-dev`` → ``#apply-dev``: Civic writes channels with their '#'."""
    text = "" if value is None else str(value).strip()
    if not text:
        return None, None
    if text.startswith("#"):
        return text, None
    return "#" + text, "'#' added"


def severity(value: object) -> tuple[str, str | None]:
    """A PrometheusRule severity label into critical, warning or info.

    The MoJ routes alerts by putting a Slack receiver's name in ``severity``; such a
    value becomes ``warning`` and the caller keeps the receiver as a label."""
    text = "" if value is None else str(value).strip().lower()
    if text in ("critical", "warning", "info"):
        return text, None
    if text in ("page", "error", "high", "p1", "severe"):
        return "critical", f"'{value}' means critical"
    if text in ("low", "none", "notice", "debug"):
        return "info", f"'{value}' means info"
    if not text:
        return "warning", "no severity; warning assumed"
    return "warning", f"'{value}' is a routing key, not a severity; warning, with label receiver='{value}'"


def to_name(value: str) -> str:
    """The nearest DNS label to ``value``: lower case, '-' for anything else, at most 63."""
    text = re.sub(r"[^a-z0-9-]+", "-", value.strip().lower()).strip("-")
    text = re.sub(r"-{2,}", "-", text)[:63].strip("-")
    return text


def is_name(value: str) -> bool:
    return len(value) <= 63 and bool(models.DNS_LABEL.match(value))


def hostname(value: object) -> tuple[str | None, str | None]:
    """A certificate's DNS name as a Civic host, or None with why it cannot be one.
    A trailing '.' (the DNS root) or '/' (a URL's) is trimmed."""
    text = "" if value is None else str(value).strip()
    lowered = text.lower().rstrip("/").rstrip(".")
    if (
        not lowered
        or not models.HOSTNAME.match(lowered)
        or len(lowered) > 253
        or any(len(label) > 63 for label in lowered.split("."))
    ):
        return None, f"'{text}' is not a hostname Civic accepts"
    return lowered, None if lowered == text else f"'{text}' written as '{lowered}'"
