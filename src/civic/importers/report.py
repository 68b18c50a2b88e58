"""The import report: what became of every namespace, object and value.

The importers (:mod:`civic.importers.moj`, :mod:`civic.importers.terraform`,
:mod:`civic.importers.assembly`) append to a :class:`Report` as they go; the CLI prints
it and :mod:`civic.importers.importing` writes it beside the estate. Nothing read from
the source is dropped without an :class:`Entry` that says so and why. Pure.
"""

from __future__ import annotations

import collections
import dataclasses
from collections.abc import Callable
from typing import Any

MAPPED = "mapped"  # became part of the estate
DEFAULT = "default"  # what Civic does anyway (e.g. the standard network policies)
SKIPPED = "skipped"  # not carried over; ``reason`` says why
KEPT_STRICTER = "kept-stricter"  # Civic cannot say it exactly: kept as written, or imported stricter

# Why an object was skipped: short codes for counting, with the detail in each entry.
REASONS = {
    "no-equivalent": "Civic has no equivalent of this object",
    "workload": "a workload: it belongs in the service's civic.service.yaml",
    "dashboard": "a Grafana dashboard: Civic keeps no dashboards in the estate",
    "custom-role": "a role other than admin, edit or view",
    "non-team-subject": "a subject that is not a GitHub team",
    "outside-import": "names a namespace that is not part of this import",
    "selector-policy": "a network policy that selects by labels Civic cannot follow",
    "recording-rule": "a recording rule, not an alert",
    "unmapped-module": "a Terraform module with no Civic backing service",
    "unsupported-engine": "a database engine Civic does not provide",
    "terraform-resource": "a plain Terraform resource, not a module",
    "duplicate": "already claimed by another environment or object",
    "invalid-value": "a value Civic cannot accept",
    "parse-error": "the file cannot be read",
    "unknown-kind": "a kind of object the importer does not know",
    "not-valid": "the environment does not pass civic validate",
    "name-collision": "the name collides with another imported object",
}


@dataclasses.dataclass(frozen=True)
class Entry:
    """One source object (or one field of one) and what became of it."""

    namespace: str
    file: str
    line: int
    kind: str
    name: str
    outcome: str  # MAPPED, DEFAULT, KEPT_STRICTER or SKIPPED
    target: str = ""  # where it went, e.g. "spec.hosts"
    reason: str = ""  # a key of REASONS when skipped
    detail: str = ""  # the full sentence a person reads
    cluster: str = ""  # the namespace's cluster folder; "" for the estate as a whole

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class Normalisation:
    """A source value rewritten into Civic's vocabulary."""

    namespace: str
    file: str
    line: int
    field: str
    kind: str  # e.g. "environment-name", "business-unit", "production"
    original: Any
    value: Any
    note: str = ""
    cluster: str = ""  # the namespace's cluster folder

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass
class NamespaceResult:
    namespace: str
    cluster: str
    environment: str | None  # the Civic environment written, or None
    imported: bool = True
    why: str = ""


@dataclasses.dataclass
class Report:
    """Everything the import did; built up while importing, then read by the CLI."""

    source: str
    namespaces: list[NamespaceResult] = dataclasses.field(default_factory=list)
    entries: list[Entry] = dataclasses.field(default_factory=list)
    normalisations: list[Normalisation] = dataclasses.field(default_factory=list)
    problems: list[str] = dataclasses.field(default_factory=list)  # validate problems left
    teams: list[str] = dataclasses.field(default_factory=list)
    business_units: list[str] = dataclasses.field(default_factory=list)
    domains: list[str] = dataclasses.field(default_factory=list)

    def totals(self) -> dict[str, Any]:
        """The counts a person asks for first."""
        outcomes = collections.Counter(e.outcome for e in self.entries)
        skipped = collections.Counter(e.reason for e in self.entries if e.outcome == SKIPPED)
        kinds = collections.Counter(n.kind for n in self.normalisations)
        imported = [n for n in self.namespaces if n.imported]
        return {
            "namespacesFound": len(self.namespaces),
            "namespacesImported": len(imported),
            "namespacesNotImported": len(self.namespaces) - len(imported),
            "teams": len(self.teams),
            "objectsMapped": outcomes[MAPPED],
            "objectsCivicDefault": outcomes[DEFAULT],
            "objectsKeptStricter": outcomes[KEPT_STRICTER],
            "objectsSkipped": outcomes[SKIPPED],
            "skippedByReason": dict(sorted(skipped.items())),
            "normalisations": len(self.normalisations),
            "normalisationsByKind": dict(sorted(kinds.items())),
        }

    def as_dict(self) -> dict[str, Any]:
        """The report as JSON: each namespace keyed by cluster and name, with its own objects only."""
        by_ns: dict[tuple[str, str], dict[str, list[dict[str, Any]]]] = collections.defaultdict(
            lambda: {"objects": [], "normalisations": []}
        )
        key = _keys(self.namespaces)
        for e in self.entries:
            by_ns[key(e)]["objects"].append(e.as_dict())
        for n in self.normalisations:
            by_ns[key(n)]["normalisations"].append(n.as_dict())
        return {
            "source": self.source,
            "totals": self.totals(),
            "businessUnits": self.business_units,
            "domains": self.domains,
            "teams": self.teams,
            "problems": self.problems,
            "namespaces": [
                {
                    **dataclasses.asdict(ns),
                    **by_ns.get((ns.cluster, ns.namespace), {"objects": [], "normalisations": []}),
                }
                for ns in self.namespaces
            ],
            "global": by_ns.get(("", ""), {"objects": [], "normalisations": []}),
        }


def _keys(namespaces: list[NamespaceResult]) -> Callable[[Entry | Normalisation], tuple[str, str]]:
    """(cluster, namespace) of an entry. One made without its cluster goes to the only namespace of
    its name, or to "global" (where it keeps its namespace field) when two clusters have that name."""
    clusters: dict[str, set[str]] = collections.defaultdict(set)
    for ns in namespaces:
        clusters[ns.namespace].add(ns.cluster)

    def key(item: Entry | Normalisation) -> tuple[str, str]:
        if item.cluster or not item.namespace:
            return item.cluster, item.namespace
        found = clusters.get(item.namespace, set())
        return (next(iter(found)), item.namespace) if len(found) == 1 else ("", "")

    return key


def summary_lines(report: Report) -> list[str]:
    """The human summary: counts, then what was skipped and normalised, by kind."""
    t = report.totals()
    lines = [
        f"Imported {t['namespacesImported']} of {t['namespacesFound']} namespaces "
        f"into {t['namespacesImported']} environments and {t['teams']} teams.",
        f"Objects: {t['objectsMapped']} mapped, {t['objectsCivicDefault']} already Civic's "
        f"defaults, {t['objectsKeptStricter']} kept stricter, {t['objectsSkipped']} skipped.",
    ]
    for reason, count in t["skippedByReason"].items():
        lines.append(f"  skipped {count:4} × {reason}: {REASONS.get(reason, reason)}")
    lines.append(f"Normalisations: {t['normalisations']}.")
    for kind, count in t["normalisationsByKind"].items():
        lines.append(f"  {count:4} × {kind}")
    for ns in report.namespaces:
        if not ns.imported:
            lines.append(f"not imported: {ns.cluster}/{ns.namespace}: {ns.why}")
    lines += [f"problem: {p}" for p in report.problems]
    return lines


def normalisation_table(report: Report) -> list[tuple[str, str, str, int]]:
    """(kind, original, value, count): every distinct rewrite, most frequent first."""
    counts = collections.Counter((n.kind, _shown(n.original), _shown(n.value)) for n in report.normalisations)
    return [(k, o, v, c) for (k, o, v), c in sorted(counts.items(), key=lambda i: (i[0][0], -i[1], i[0]))]


def to_markdown(report: Report) -> str:
    """The report as Markdown, for a pull request or a wiki page."""
    out = ["# Import report", "", f"Source: `{report.source}`", ""]
    out += [f"- {line.strip()}" for line in summary_lines(report)]
    out += ["", "## Normalisations", "", "| kind | from | to | count |", "|---|---|---|---|"]
    out += [f"| {k} | {_md(o)} | {_md(v)} | {c} |" for k, o, v, c in normalisation_table(report)]
    out += [
        "",
        "## Objects",
        "",
        "| namespace | file:line | kind | name | outcome | detail |",
        "|---|---|---|---|---|---|",
    ]
    names = collections.Counter(ns.namespace for ns in report.namespaces)
    for e in report.entries:
        what = {SKIPPED: f"{e.reason}: {e.detail}", KEPT_STRICTER: f"{e.target}: {e.detail}"}.get(e.outcome, e.target)
        # A folder name found in two clusters (the platform's own `monitoring`) is shown with its cluster.
        where = f"{e.cluster}/{e.namespace}" if e.cluster and names[e.namespace] > 1 else e.namespace
        out.append(f"| {where} | {e.file}:{e.line} | {e.kind} | {_md(e.name)} | {e.outcome} | {_md(what)} |")
    return "\n".join(out) + "\n"


def _shown(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    return "(empty)" if value in ("", None) else str(value)


def _md(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")
