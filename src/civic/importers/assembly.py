"""From every namespace read to one Civic estate that passes ``civic validate``.

:func:`assemble` settles what needs the whole import: one spelling per business unit,
one owner per hostname, ``allowFrom`` only to imported environments, one file per team.
It then writes the estate's texts and checks them with :func:`civic.spec.estate.parse`,
the same check ``civic validate`` runs; an environment that still fails is left out and
its problems go into the report, word for word. Pure: values in, texts and report out.
Called by :mod:`civic.importers.importing`.
"""

from __future__ import annotations

import collections
import dataclasses
import datetime
from typing import Any

import yaml

from civic import policy
from civic.errors import SpecError
from civic.importers import normalise
from civic.importers.moj import Namespace
from civic.importers.report import DEFAULT, MAPPED, Entry, NamespaceResult, Normalisation, Report
from civic.spec import estate, models

HEADER = (
    "# Written by 'civic import cloud-platform-environments'{origin}.\n"
    "# import-report.json says what was mapped, normalised and skipped.\n"
)


@dataclasses.dataclass(frozen=True)
class Result:
    texts: dict[str, str]  # relative path → file text; empty when nothing could be imported
    report: Report


def assemble(
    namespaces: list[Namespace], *, source: str, platform_name: str = "imported", today: datetime.date | None = None
) -> Result:
    report = Report(source=source)
    today = today or datetime.date.today()
    kept = _unique(namespaces, report)
    units = normalise.business_units(ns.spec["businessUnit"] for ns in kept)
    for ns in kept:
        _business_unit(ns, units)
    _hosts(kept)
    names = {ns.name for ns in kept}
    for ns in kept:
        _allow_from(ns, names)
    dropped: dict[str, str] = {}
    texts: dict[str, str] = {}
    for _ in range(len(kept) + 1):
        live = [ns for ns in kept if ns.name not in dropped]
        texts = _texts(live, platform_name=platform_name, report=report)
        if not live:
            break
        failures, report.problems = _failures(texts)
        if not failures:
            break
        dropped.update(failures)
        _forget(kept, set(failures))
    live = [ns for ns in kept if ns.name not in dropped]
    if live and _exempt_denials(live, texts, today=today):
        texts = _texts(live, platform_name=platform_name, report=report)
    report.entries += _team_collisions(kept, dropped)
    for ns in kept:
        report.entries += ns.entries
        report.normalisations += ns.normalisations
        why = dropped.get(ns.name, "")
        report.namespaces.append(
            NamespaceResult(ns.name, ns.cluster, None if why else ns.name, imported=not why, why=why)
        )
    report.namespaces.sort(key=lambda n: (n.namespace, n.cluster))
    return Result(texts if any(n.imported for n in report.namespaces) else {}, report)


def _unique(namespaces: list[Namespace], report: Report) -> list[Namespace]:
    seen: dict[str, Namespace] = {}
    for ns in sorted(namespaces, key=lambda n: (n.name, n.cluster)):
        why = ns.failed
        if not why and ns.name in seen:
            why = (
                f"collides with {seen[ns.name].cluster}/{ns.name}: both become environment "
                f"'{ns.name}'; the first is imported"
            )
            ns.skip("", 0, "Namespace", ns.name, "name-collision", why)
        if why:
            report.namespaces.append(NamespaceResult(ns.name, ns.cluster, None, imported=False, why=why))
            report.entries += ns.entries
            report.normalisations += ns.normalisations
            continue
        seen[ns.name] = ns
    return list(seen.values())


def _business_unit(ns: Namespace, units: dict[str, str]) -> None:
    raw = ns.spec["businessUnit"]
    value = units.get(raw.strip(), raw)
    if value != raw:
        rel, line = ns.business_unit_line
        ns.normalised(
            rel,
            line,
            "spec.businessUnit",
            "business-unit",
            raw,
            value,
            f"'{raw}' is written '{value}' across the estate",
        )
    ns.spec["businessUnit"] = value


def _hosts(kept: list[Namespace]) -> None:
    """Each hostname to one environment: production first, then by name."""
    owner: dict[str, str] = {}
    for ns in sorted(kept, key=lambda n: (not n.spec["production"], n.name)):
        hosts = []
        for claim in ns.hosts:
            if claim.value in owner:
                ns.skip(
                    claim.file,
                    claim.line,
                    claim.kind,
                    claim.name,
                    "duplicate",
                    f"hostname '{claim.value}' is also claimed by '{owner[claim.value]}', which "
                    "keeps it; mark both 'shared: true' by hand if they really share it",
                )
                continue
            owner[claim.value] = ns.name
            hosts.append(claim.value)
            ns.entry(claim.file, claim.line, claim.kind, claim.name, MAPPED, target="spec.hosts")
        if hosts:
            ns.spec["hosts"] = hosts


def _allow_from(ns: Namespace, names: set[str]) -> None:
    allowed: list[str] = []
    for claim in ns.allow_from:
        other = normalise.to_name(claim.value)
        if other == ns.name:
            ns.entry(
                claim.file,
                claim.line,
                claim.kind,
                claim.name,
                DEFAULT,
                target="(same environment)",
                detail="the namespace itself",
            )
        elif other in names:
            if other not in allowed:
                allowed.append(other)
            ns.entry(
                claim.file,
                claim.line,
                claim.kind,
                claim.name,
                MAPPED,
                target="spec.network.allowFrom",
                detail=claim.note,
            )
        else:
            ns.skip(
                claim.file,
                claim.line,
                claim.kind,
                claim.name,
                "outside-import",
                f"namespace '{claim.value}' is not part of this import; add it to "
                "spec.network.allowFrom once it is a Civic environment",
            )
    if allowed:
        ns.spec.setdefault("network", {})["allowFrom"] = allowed


def _forget(kept: list[Namespace], gone: set[str]) -> None:
    """Take allowFrom references to environments left out out of the others."""
    for ns in kept:
        network = ns.spec.get("network", {})
        for other in [o for o in network.get("allowFrom", []) if o in gone]:
            network["allowFrom"].remove(other)
            ns.skip(
                "04-networkpolicy.yaml",
                0,
                "NetworkPolicy",
                f"(from {other})",
                "outside-import",
                f"environment '{other}' was left out of the import (it does not validate)",
            )
        if "allowFrom" in network and not network["allowFrom"]:
            del network["allowFrom"]


def _failures(texts: dict[str, str]) -> tuple[dict[str, str], list[str]]:
    """Environment name → the validate problems that keep it out, and any other problems."""
    try:
        estate.parse(texts)
    except SpecError as e:
        by_env: dict[str, list[str]] = collections.defaultdict(list)
        other = []
        for problem in e.problems:
            parts = problem.file.split("/")
            if len(parts) == 3 and parts[0] == estate.ENVIRONMENTS_DIR:
                by_env[parts[1]].append(str(problem))
            else:
                other.append(str(problem))
        return {name: "civic validate would fail: " + "; ".join(found) for name, found in by_env.items()}, other
    return {}, []


EXEMPTION_DAYS = 90


def _exempt_denials(live: list[Namespace], texts: dict[str, str], *, today: datetime.date) -> bool:
    """A namespace that breaks a deny policy is imported as it is, with a dated exception
    that names the problem, so that the estate validates and the plan keeps showing it."""
    verdicts = policy.check_estate(estate.parse(texts), today=today).verdicts
    by_name = {ns.name: ns for ns in live}
    expires = today + datetime.timedelta(days=EXEMPTION_DAYS)
    found = False
    for verdict in verdicts:
        ns = by_name.get(verdict.name)
        if not verdict.denied or verdict.kind != "Environment" or ns is None:
            continue
        message = " ".join(verdict.messages)
        ns.spec.setdefault("policyExceptions", []).append(
            {
                "policy": verdict.policy,
                "expires": expires.isoformat(),
                "reason": f"imported as it was from cloud-platform-environments: {message} Fix it at the "
                "source, then remove this exception.",
            }
        )
        ns.normalisations.append(
            Normalisation(
                ns.name,
                verdict.file,
                verdict.line,
                "spec.policyExceptions",
                "policy-exception",
                message,
                f"exempt until {expires}",
            )
        )
        found = True
    return found


# --- texts -----------------------------------------------------------------------------


def _texts(live: list[Namespace], *, platform_name: str, report: Report) -> dict[str, str]:
    texts: dict[str, str] = {}
    teams = _teams(live)
    report.teams = sorted(teams)
    report.business_units = sorted({ns.spec["businessUnit"] for ns in live})
    report.domains = _domains(h for ns in live for h in ns.spec.get("hosts", []))
    if not live:
        return texts
    names = list(normalise.CIVIC_ENVIRONMENT_NAMES)
    names += sorted({ns.spec["environmentName"] for ns in live} - set(names))
    platform = {
        "apiVersion": models.API_VERSION,
        "kind": "Platform",
        "metadata": {"name": platform_name},
        "spec": {"domains": report.domains, "businessUnits": report.business_units, "environmentNames": names},
    }
    texts[estate.PLATFORM_FILE] = _dump(platform, origin="")
    for name, spec in sorted(teams.items()):
        team = {"apiVersion": models.API_VERSION, "kind": "Team", "metadata": {"name": name}, "spec": spec}
        texts[f"{estate.TEAMS_DIR}/{name}.yaml"] = _dump(team, origin="")
    for ns in live:
        metadata: dict[str, Any] = {"name": ns.name}
        annotations = {"civic.import/source": f"namespaces/{ns.cluster}/{ns.name}", **ns.annotations}
        metadata["annotations"] = annotations
        env = {"apiVersion": models.API_VERSION, "kind": "Environment", "metadata": metadata, "spec": _ordered(ns.spec)}
        texts[f"{estate.ENVIRONMENTS_DIR}/{ns.name}/{estate.ENVIRONMENT_FILE}"] = _dump(
            env, origin=f" from namespaces/{ns.cluster}/{ns.name}"
        )
    return texts


_ORDER = (
    "team",
    "businessUnit",
    "application",
    "owner",
    "sourceCode",
    "teamChannel",
    "serviceArea",
    "production",
    "environmentName",
    "reviewAfter",
    "access",
    "quota",
    "limits",
    "network",
    "hosts",
    "backingServices",
    "alertRules",
    "scrape",
)


def _ordered(spec: dict[str, Any]) -> dict[str, Any]:
    return {k: spec[k] for k in _ORDER if k in spec} | {k: v for k, v in spec.items() if k not in _ORDER}


def _teams(live: list[Namespace]) -> dict[str, dict[str, Any]]:
    github: dict[str, set[str]] = collections.defaultdict(set)
    owners: dict[str, str] = {}
    for ns in live:
        for name, info in ns.teams.items():
            github[name] |= info["github"]
        if ns.spec.get("owner"):
            owners.setdefault(ns.spec["team"], ns.spec["owner"])
    out = {}
    for name in sorted(github):
        spec: dict[str, Any] = {}
        owner = owners.get(name, "")
        display, _, email = owner.partition(":")
        if display.strip():
            spec["displayName"] = display.strip()
        if "@" in email and " " not in email.strip():
            spec["email"] = email.strip()
        if github[name]:
            spec["githubTeams"] = sorted(github[name])
        out[name] = spec
    return out


def _team_collisions(kept: list[Namespace], dropped: dict[str, str]) -> list[Entry]:
    """GitHub teams whose names differ only in spelling become one Civic team: say so."""
    github: dict[str, set[str]] = collections.defaultdict(set)
    for ns in kept:
        if ns.name not in dropped:
            for name, info in ns.teams.items():
                github[name] |= info["github"]
    return [
        Entry(
            "",
            f"teams/{name}.yaml",
            0,
            "Team",
            name,
            MAPPED,
            target="spec.githubTeams",
            detail=f"GitHub teams {sorted(slugs)} collide as Civic team '{name}'; merged into one",
        )
        for name, slugs in sorted(github.items())
        if len(slugs) > 1
    ]


def _domains(hosts: Any) -> list[str]:
    """The parent domains of the hosts, without any that another covers."""
    parents = sorted(
        {h.lstrip("*.").split(".", 1)[1] for h in hosts if h.lstrip("*.").count(".") >= 2},
        key=lambda d: (d.count("."), d),
    )
    out: list[str] = []
    for domain in parents:
        if not any(domain == d or domain.endswith("." + d) for d in out):
            out.append(domain)
    return sorted(out)


class _Dumper(yaml.SafeDumper):
    pass


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def _dump(data: dict[str, Any], *, origin: str) -> str:
    return HEADER.format(origin=origin) + yaml.dump(
        data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=120
    )
