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
import concurrent.futures
import dataclasses
import datetime
import multiprocessing
import os
import sys
import threading
from typing import Any

import yaml

from civic import policy
from civic.errors import SpecError
from civic.importers import moj, normalise
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
    collisions = _team_collisions(kept)
    by_name = {ns.name: ns for ns in kept}
    for ns in kept:
        _allow_from(ns, by_name)
    dropped: dict[str, str] = {}
    texts: dict[str, str] = {}
    cache: estate.ParseCache = {}  # files that did not change between rounds are parsed once
    parsed: estate.Estate | None = None
    for _ in range(len(kept) + 1):
        live = [ns for ns in kept if ns.name not in dropped]
        texts = _texts(live, platform_name=platform_name, report=report)
        if not live:
            break
        failures, report.problems, parsed = _failures(texts, cache)
        if not failures:
            break
        dropped.update(failures)
        _forget(kept, set(failures))
    live = [ns for ns in kept if ns.name not in dropped]
    if live and parsed is not None and _exempt_denials(live, parsed, today=today):
        texts = _texts(live, platform_name=platform_name, report=report)
    report.entries += collisions
    report.entries += _team_notes(live, _teams(live))
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


def _allow_from(ns: Namespace, others: dict[str, Namespace]) -> None:
    """``allowFrom`` for each namespace a policy names that is imported too and carries the label
    the policy selects it by; then the namespace-wide switches, said in the report when off."""
    allowed: list[str] = []
    for claim in ns.allow_from:
        other = normalise.to_name(claim.value)
        if other in others and not _carries(others[other], claim.label, claim.value):
            ns.skip(
                claim.file,
                claim.line,
                claim.kind,
                claim.name,
                "selector-policy",
                f"namespace '{claim.value}' does not carry the label {claim.label}={claim.value}, so on the "
                "MoJ's cluster this admits nothing from it; nothing to carry over",
            )
        elif other == ns.name:
            ns.spec.setdefault("network", {})["allowSameEnvironment"] = True
            ns.entry(
                claim.file,
                claim.line,
                claim.kind,
                claim.name,
                DEFAULT,
                target="spec.network.allowSameEnvironment",
                detail="the namespace itself: traffic within the environment, as Civic admits by default",
            )
        elif other in others:
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
    _network_switches(ns)


def _carries(ns: Namespace, label: str, value: str) -> bool:
    """Whether the namespace, as its source defines it, carries ``label: value`` (Kubernetes adds the name)."""
    if label in ("", moj.KUBERNETES_NAME):
        return True
    return str(ns.spec.get("namespaceLabels", {}).get(label, "")) == value


_SWITCHED_OFF = {
    "allowMonitoring": " (the platform's Prometheus cannot scrape the services' metrics until it is true)",
    "allowIngress": " (Civic renders no Ingress for the services: no routes from the platform's router)",
}


def _network_switches(ns: Namespace) -> None:
    """Say each namespace-wide switch the source leaves off; drop those left at Civic's default."""
    network = ns.spec.get("network")
    if not network:
        return
    first = next((e for e in ns.entries if e.kind == "NetworkPolicy"), None)
    for field, who in moj.FLAGS.items():
        if network.get(field) is False:
            ns.entry(
                first.file if first else "",
                0,
                "NetworkPolicy",
                f"(no policy admits {who} to every pod)",
                MAPPED,
                target=f"spec.network.{field}",
                detail=f"no NetworkPolicy of the namespace admits {who} to all its pods: {field}: false"
                + _SWITCHED_OFF.get(field, ""),
            )
        elif network.get(field) is True and field != "allowIngress":
            del network[field]  # Civic's default; allowIngress is written either way, as before
    order = ("allowFrom", "allowIngress", "allowSameEnvironment", "allowMonitoring", "extraPolicies")
    ns.spec["network"] = {k: network[k] for k in order if k in network}


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


def _failures(
    texts: dict[str, str], cache: estate.ParseCache
) -> tuple[dict[str, str], list[str], estate.Estate | None]:
    """Environment name → the validate problems that keep it out, any other problems, and the
    estate when it parsed cleanly."""
    try:
        return {}, [], estate.parse(texts, cache=cache)
    except SpecError as e:
        by_env: dict[str, list[str]] = collections.defaultdict(list)
        other = []
        for problem in e.problems:
            parts = problem.file.split("/")
            if len(parts) == 3 and parts[0] == estate.ENVIRONMENTS_DIR:
                by_env[parts[1]].append(str(problem))
            else:
                other.append(str(problem))
        failed = {name: "civic validate would fail: " + "; ".join(found) for name, found in by_env.items()}
        return failed, other, None


EXEMPTION_DAYS = 90


def _exempt_denials(live: list[Namespace], parsed: estate.Estate, *, today: datetime.date) -> bool:
    """A namespace that breaks a deny policy is imported as it is, with a dated exception
    that names the problem, so that the estate validates and the plan keeps showing it."""
    verdicts = policy.check_estate(parsed, today=today).verdicts
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
                cluster=ns.cluster,
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
    files: list[tuple[str, dict[str, Any], str]] = []  # (path, data, origin)
    for ns in live:
        metadata: dict[str, Any] = {"name": ns.name}
        annotations = {"civic.import/source": f"namespaces/{ns.cluster}/{ns.name}", **ns.annotations}
        metadata["annotations"] = annotations
        env = {"apiVersion": models.API_VERSION, "kind": "Environment", "metadata": metadata, "spec": _ordered(ns.spec)}
        path = f"{estate.ENVIRONMENTS_DIR}/{ns.name}/{estate.ENVIRONMENT_FILE}"
        files.append((path, env, f" from namespaces/{ns.cluster}/{ns.name}"))
    for (path, _, _), text in zip(files, _dump_many([(data, origin) for _, data, origin in files]), strict=True):
        texts[path] = text
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
    "ownerAccess",
    "namespaceLabels",
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
    displays: dict[str, str] = {}
    for ns in live:
        for name, info in ns.teams.items():
            github[name] |= info["github"]
            if info.get("display"):
                displays.setdefault(name, info["display"])
        if ns.spec.get("owner"):
            owners.setdefault(ns.spec["team"], ns.spec["owner"])
    channels = _channels(live)
    out = {}
    for name in sorted(github):
        spec: dict[str, Any] = {}
        display, email = _owner(owners.get(name, ""))
        if display or displays.get(name):
            spec["displayName"] = display or displays[name]
        if email:
            spec["email"] = email
        if github[name]:
            spec["githubTeams"] = sorted(github[name])
        if channels.get(name):
            spec["channels"] = channels[name]
        out[name] = spec
    return out


def _owner(owner: str) -> tuple[str, str]:
    """(display name, email) of an owner annotation: 'Team: team@example.org', either alone."""
    display, colon, email = owner.partition(":")
    if not colon and "@" in display and " " not in display.strip():
        display, email = "", display
    email = email.strip()
    return display.strip(), email if "@" in email and " " not in email else ""


SLACK_SECRET = "slack-webhook-{channel}"
"""The team secret an imported channel's webhook URL goes in (``civic secret set --team``)."""


def _channels(live: list[Namespace]) -> dict[str, list[dict[str, Any]]]:
    """Each team's alert channels, one per Slack channel its namespaces name: alerts go where
    the source's slack-channel says. A channel lists its environments unless it has them all."""
    found: dict[str, dict[str, list[str]]] = collections.defaultdict(dict)
    envs: dict[str, int] = collections.Counter(ns.spec["team"] for ns in live)
    for ns in sorted(live, key=lambda n: n.name):
        if ns.spec.get("teamChannel"):
            found[ns.spec["team"]].setdefault(ns.spec["teamChannel"], []).append(ns.name)
    out: dict[str, list[dict[str, Any]]] = {}
    for team, by_channel in found.items():
        taken: set[str] = set()
        for channel, names in sorted(by_channel.items()):
            base = normalise.to_name(channel) or "slack"
            name, n = base, 2
            while name in taken:
                name, n = f"{base[:60]}-{n}", n + 1
            taken.add(name)
            value: dict[str, Any] = {
                "name": name,
                "slack": {"channel": channel, "webhookUrlSecret": SLACK_SECRET.format(channel=name)},
            }
            if len(names) < envs[team]:
                value["environments"] = names
            out.setdefault(team, []).append(value)
    return out


def _team_notes(live: list[Namespace], teams: dict[str, dict[str, Any]]) -> list[Entry]:
    """What the team files leave to a person: the webhook secrets of the channels each
    namespace's alerts now go to, and the teams that no GitHub team's members are in."""
    out = []
    owned: dict[str, list[str]] = collections.defaultdict(list)
    for ns in live:
        owned[ns.spec["team"]].append(ns.name)
        for channel in teams.get(ns.spec["team"], {}).get("channels", []):
            if channel["slack"]["channel"] == ns.spec.get("teamChannel"):
                team, secret = ns.spec["team"], channel["slack"]["webhookUrlSecret"]
                out.append(
                    Entry(
                        ns.name,
                        ns.channel_line[0],
                        ns.channel_line[1],
                        "Namespace",
                        f"slack-channel {channel['slack']['channel']}",
                        MAPPED,
                        target=f"teams/{team}.yaml spec.channels",
                        detail=f"alerts go to {channel['slack']['channel']} through team {team}'s channel "
                        f"'{channel['name']}'; its webhook secret is not set yet: "
                        f"civic secret set --team {team} {secret}",
                        cluster=ns.cluster,
                    )
                )
    for name, spec in sorted(teams.items()):
        if not spec.get("githubTeams") and owned.get(name):
            shown = ", ".join(sorted(owned[name])[:3]) + (" ..." if len(owned[name]) > 3 else "")
            out.append(
                _team_entry(
                    name,
                    f"needs an owner: no RoleBinding of the source names a GitHub team '{name}', so no "
                    f"one is in it; it owns {len(owned[name])} environments ({shown}): add githubTeams or "
                    "members by hand",
                )
            )
    return out


def _team_entry(name: str, detail: str) -> Entry:
    """A report entry about the team file ``teams/<name>.yaml`` (its GitHub teams)."""
    return Entry("", f"teams/{name}.yaml", 0, "Team", name, MAPPED, target="spec.githubTeams", detail=detail)


def _team_collisions(kept: list[Namespace]) -> list[Entry]:
    """GitHub teams whose names differ only in spelling ('LAA-Apply', 'laa-apply') would read as
    one Civic team, and a grant to it binds all its GitHub teams: more access than the source
    gives. So each is kept apart, the one spelled as the Civic name keeping it, the others
    '<name>-2' ...; each namespace's grants follow its own GitHub team. Said in the report."""
    github: dict[str, set[str]] = collections.defaultdict(set)
    for ns in kept:
        for name, info in ns.teams.items():
            github[name] |= info["github"]
    renamed: dict[str, str] = {}  # GitHub team → its own Civic team
    out = []
    for name, slugs in sorted(github.items()):
        if len(slugs) < 2:
            continue
        keep = name if name in slugs else sorted(slugs)[0]
        n = 2
        for slug in sorted(slugs - {keep}):
            while f"{name[:60]}-{n}" in github or f"{name[:60]}-{n}" in renamed.values():
                n += 1
            renamed[slug] = f"{name[:60]}-{n}"
        apart = ", ".join(f"'{slug}' is team '{renamed[slug]}'" for slug in sorted(slugs - {keep}))
        out.append(
            _team_entry(
                name,
                f"GitHub teams {sorted(slugs)} collide as Civic team '{name}'; kept apart, as a grant to "
                f"one would bind the others too: {apart}",
            )
        )
    for ns in kept:
        _rename_teams(ns, renamed)
    return out


def _rename_teams(ns: Namespace, renamed: dict[str, str]) -> None:
    """Move the namespace's grants and teams from merged names to each GitHub team's own."""
    for name, info in list(ns.teams.items()):
        moved = sorted(info["github"] & renamed.keys())
        if not moved:
            continue
        for slug in moved:
            info["github"].discard(slug)
            ns.teams[renamed[slug]] = {"github": {slug}, "roles": [(s, r) for s, r in info["roles"] if s == slug]}
            ns.normalisations = [
                dataclasses.replace(
                    n, value=renamed[slug], note=f"the GitHub team '{slug}' is kept apart from '{name}' (see teams)"
                )
                if n.kind == "team-name" and n.original == slug and n.field.startswith("subjects[")
                else n
                for n in ns.normalisations
            ]
        info["roles"] = [(s, r) for s, r in info["roles"] if s not in moved]
        grants: list[dict[str, str]] = []
        for grant in ns.spec.get("access", []):
            if grant["team"] != name:
                grants.append(grant)
                continue
            role = grant.get("role", "admin")
            for team in [name, *(renamed[s] for s in moved)]:
                if any(r == role for _, r in ns.teams[team]["roles"]):
                    grants.append({"team": team} | ({"role": role} if "role" in grant else {}))
        if "access" in ns.spec:
            ns.spec["access"] = grants
        if ns.spec.get("team") == name and not info["roles"] and not info["github"]:
            ns.spec["team"] = renamed[moved[0]]  # the owner was named by a GitHub team now apart
        if not info["github"] and ns.spec.get("team") != name:
            del ns.teams[name]


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


class _CDumper(yaml.CSafeDumper):  # libyaml's emitter: the same text for the values _plain() allows
    pass


def _str(dumper: yaml.SafeDumper | yaml.CSafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)
_CDumper.add_representer(str, _str)
_DUMPED: collections.OrderedDict[tuple[str, str], str] = collections.OrderedDict()  # (origin, repr) → text
_DUMPED_MOST = 4096


def _dump(data: dict[str, Any], *, origin: str) -> str:
    """The YAML text of one file. Each text is made once: assemble() writes the estate
    twice (again after adding policy exceptions), and most files do not change between."""
    key = (origin, repr(data))  # repr tells apart what YAML writes differently (1 and "1", dates)
    text = _DUMPED.get(key)
    if text is None:
        dumper = _CDumper if yaml.__with_libyaml__ and _plain(data) else _Dumper
        text = HEADER.format(origin=origin) + yaml.dump(
            data, Dumper=dumper, sort_keys=False, allow_unicode=True, width=120
        )
        _remember(key, text)
    return text


def _remember(key: tuple[str, str], text: str) -> None:
    _DUMPED[key] = text
    while len(_DUMPED) > _DUMPED_MOST:
        _DUMPED.popitem(last=False)


_POOL_FROM = 200  # files to make; fewer are made in this process, where a pool costs more than it saves


def _dump_many(files: list[tuple[dict[str, Any], str]]) -> list[str]:
    """The texts of many files, in order: those not made yet by a pool of processes (forked,
    one per CPU) when there are many, as PyYAML's emitter is most of an import's time."""
    keys = [(origin, repr(data)) for data, origin in files]
    todo = [i for i, key in enumerate(keys) if key not in _DUMPED]
    made: dict[int, str] = {}
    workers = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1
    if len(todo) >= _POOL_FROM and workers > 1 and sys.platform == "linux" and threading.active_count() == 1:
        context = multiprocessing.get_context("fork")  # one thread: forking is safe
        chunk = max(1, len(todo) // (workers * 4))
        with concurrent.futures.ProcessPoolExecutor(workers, mp_context=context) as pool:
            made = dict(zip(todo, pool.map(_dump_one, [files[i] for i in todo], chunksize=chunk), strict=True))
        for i, text in made.items():
            _remember(keys[i], text)
    return [made[i] if i in made else _dump(data, origin=origin) for i, (data, origin) in enumerate(files)]


def _dump_one(job: tuple[dict[str, Any], str]) -> str:
    return _dump(job[0], origin=job[1])


def _plain(data: Any) -> bool:
    """Whether libyaml's emitter writes ``data`` as PyYAML's does: it does unless a string
    might be folded or escaped (the two fold long quoted strings differently), so every
    string must be printable ASCII, on one line, not padded, and short or without spaces."""
    if isinstance(data, dict):
        return all(_plain(k) and _plain(v) for k, v in data.items())
    if isinstance(data, list):
        return all(_plain(v) for v in data)
    if isinstance(data, str):
        return (
            data.isascii() and data.isprintable() and data.strip() == data and (len(data) <= _SHORT or " " not in data)
        )
    return data is None or isinstance(data, bool | int | float | datetime.date)


_SHORT = 40  # characters: a string this short cannot reach the 120th column
