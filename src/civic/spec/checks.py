"""Checks that need more than one file: names, owners, hostnames and references.

A hostname under ``<environment>.<baseDomain>`` is that environment's (it serves its
services there): another environment's ``spec.hosts`` may not name it (:func:`zone_of`,
also used by the deploy-time policy ``hostname-owned``).

:func:`check` is called by :func:`civic.spec.estate.parse` once every file has been
loaded on its own. Each check returns problems placed at the field that is wrong.
Pure. Policies (civic.policy) judge what is allowed; these checks judge what is
coherent, and an incoherent estate is never planned.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING

from civic.errors import Problem
from civic.spec import models, refs, yamlpos

if TYPE_CHECKING:
    from civic.spec.estate import Estate

MAX_LABEL = 63
MAX_HOSTNAME = 253


def base_domains(platform: models.PlatformSpec) -> tuple[str, ...]:
    """The domains Civic names services under, ``<service>.<environment>.<domain>``: the
    platform's ``baseDomain`` and each cluster's own, longest first."""
    found = {platform.base_domain, *(c.base_domain for c in platform.clusters or () if c.base_domain)}
    return tuple(sorted(found, key=lambda d: (-len(d), d)))


def zone_of(host: str, domains: Iterable[str]) -> tuple[str, str] | None:
    """(environment, zone) when ``host`` lies under an environment's zone
    ``<environment>.<domain>`` (``web.opg-lpa-dev.localhost``, or deeper) for the longest of
    ``domains`` that it ends with; None for a host outside them, or right under one
    (``shop.localhost``), which belongs to whoever claims it first."""
    for domain in sorted(domains, key=len, reverse=True):
        if host.endswith("." + domain):
            labels = host[: -len(domain) - 1].split(".")
            return (labels[-1], f"{labels[-1]}.{domain}") if len(labels) >= 2 else None
    return None


def _apex(host: str, domains: Iterable[str], environments: Iterable[str]) -> tuple[str, str] | None:
    """(environment, zone) when ``host`` is an environment's own name under a base domain."""
    names = set(environments)
    for domain in domains:
        label = host.removesuffix("." + domain)
        if label != host and label in names:
            return (label, host)
    return None


def check(estate: Estate, *, present: frozenset[str] = frozenset()) -> list[Problem]:
    """Every cross-file problem in ``estate``. ``present`` lists the files that exist,
    so that a team whose file failed to load is not also reported as missing."""
    out: list[Problem] = []
    out += _environments(estate, present)
    out += _channels(estate)
    out += _hostnames(estate)
    return out


def path_of(kind: str, name: str) -> str:
    """The file a Team or an Environment named ``name`` belongs in."""
    return f"teams/{name}.yaml" if kind == "Team" else f"environments/{name}/environment.yaml"


def file_names(loaded: Mapping[str, models.Kind], documents: Mapping[str, yamlpos.Document]) -> list[Problem]:
    """A problem at every Team and Environment file (``loaded``: path → model) whose
    ``metadata.name`` is not its file's or folder's name, each at its own file, saying
    which other files hold the same name. Called by :func:`civic.spec.estate.parse`
    before it assembles the estate, which keeps one file per name."""
    holders: dict[tuple[str, str], list[str]] = {}
    for rel, model in sorted(loaded.items()):
        if isinstance(model, models.Team | models.Environment):
            holders.setdefault((model.kind, model.metadata.name), []).append(rel)
    out = []
    for (kind, name), rels in holders.items():
        for rel in rels:
            if rel == path_of(kind, name):
                continue
            if kind == "Team":
                wrong = (
                    f"the team is named '{name}' but its file is {rel}; rename the file to "
                    f"{path_of(kind, name)} or change the name"
                )
            else:
                folder = rel.split("/")[1]
                wrong = f"the environment is named '{name}' but its folder is '{folder}'; the two must be the same"
            out.append(documents[rel].problem(("metadata", "name"), wrong + _also(name, rel, rels) + "."))
    return out


def _also(name: str, rel: str, rels: list[str]) -> str:
    """Which other files hold ``name`` (the first three: 10,000 copies are 10,000 problems)."""
    others = len(rels) - 1
    if not others:
        return ""
    shown = ", ".join([r for r in rels[:4] if r != rel][:3]) + (f" and {others - 3:,} more" if others > 3 else "")
    return f" ({shown} {'is' if others == 1 else 'are'} '{name}' too)"


def _suggest(name: str, known: list[str]) -> str:
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    return f"; did you mean '{close[0]}'?" if close else ""


def _environments(estate: Estate, present: frozenset[str]) -> Iterator[Problem]:
    platform = estate.platform.spec
    teams = sorted(estate.teams)
    domain_room = MAX_HOSTNAME - MAX_LABEL - 1 - len(platform.base_domain)
    for name, env in sorted(estate.environments.items()):
        doc = estate.document("Environment", name)
        spec = env.spec
        if spec.team not in estate.teams and f"teams/{spec.team}.yaml" not in present:
            yield doc.problem(
                ("spec", "team"),
                f"team '{spec.team}' does not exist (no file teams/{spec.team}.yaml){_suggest(spec.team, teams)}",
            )
        for i, grant in enumerate(spec.access):
            if grant.team and grant.team not in estate.teams and f"teams/{grant.team}.yaml" not in present:
                yield doc.problem(
                    ("spec", "access", i, "team"), f"team '{grant.team}' does not exist{_suggest(grant.team, teams)}"
                )
        if spec.business_unit not in platform.business_units:
            yield doc.problem(
                ("spec", "businessUnit"),
                (
                    f"'{spec.business_unit}' is not a business unit of this platform; use one of "
                    f"{', '.join(platform.business_units)} (civic.yaml spec.businessUnits)."
                ),
            )
        if spec.environment_name not in platform.environment_names:
            yield doc.problem(
                ("spec", "environmentName"),
                (
                    f"'{spec.environment_name}' is not an environment name of this platform; use one "
                    f"of {', '.join(platform.environment_names)} (civic.yaml spec.environmentNames)."
                ),
            )
        if spec.production:
            for field, value in (("owner", spec.owner), ("teamChannel", spec.team_channel)):
                if not value:
                    yield doc.problem(
                        ("spec", field),
                        f"a production environment needs '{field}' so that someone can be reached when it breaks.",
                    )
        if len(name) + 1 + len(platform.base_domain) > domain_room:
            yield doc.problem(
                ("metadata", "name"),
                (
                    f"'{name}.{platform.base_domain}' leaves no room for a service name within "
                    f"{MAX_HOSTNAME} characters; choose a shorter name."
                ),
            )
        for i, other in enumerate(spec.network.allow_from):
            if other not in estate.environments and f"environments/{other}/environment.yaml" not in present:
                yield doc.problem(
                    ("spec", "network", "allowFrom", i),
                    (f"environment '{other}' does not exist{_suggest(other, sorted(estate.environments))}"),
                )
        yield from _references(doc, spec)


def _channels(estate: Estate) -> Iterator[Problem]:
    """A channel that lists environments by name lists only the team's own."""
    for name, team in sorted(estate.teams.items()):
        for i, channel in enumerate(team.spec.channels):
            for j, env in enumerate(channel.environments if isinstance(channel.environments, list) else []):
                found = estate.environments.get(env)
                if found is None or found.spec.team != name:
                    why = "does not exist" if found is None else f"belongs to team '{found.spec.team}'"
                    yield estate.document("Team", name).problem(
                        ("spec", "channels", i, "environments", j),
                        f"environment '{env}' {why}; a channel takes alerts of its own team's environments only.",
                    )


def _references(doc: yamlpos.Document, spec: models.EnvironmentSpec) -> Iterator[Problem]:
    for key, value in spec.variables.items():
        for ref in refs.find(value):
            wrong = refs.check(ref, spec)
            if wrong:
                yield doc.problem(("spec", "variables", key), wrong + ".")


def _hostnames(estate: Estate) -> Iterator[Problem]:
    claims: dict[str, list[tuple[str, int, bool]]] = {}
    domains = base_domains(estate.platform.spec)
    for name, env in sorted(estate.environments.items()):
        for i, host in enumerate(env.spec.hosts):
            claims.setdefault(host.name, []).append((name, i, host.shared))
            zone = zone_of(host.name, domains) or _apex(host.name, domains, estate.environments)
            if zone is not None and zone[0] != name:
                yield estate.document("Environment", name).problem(
                    ("spec", "hosts", i, "name"),
                    (
                        f"hostname '{host.name}' is under '{zone[1]}', where environment '{zone[0]}' "
                        "serves its services; use a name of your own."
                        if host.name != zone[1]
                        else f"hostname '{host.name}' is the name of environment '{zone[0]}' under the "
                        "base domain, and belongs to it; use a name of your own."
                    ),
                )
            for label in host.name.split("."):
                if len(label) > MAX_LABEL:
                    yield estate.document("Environment", name).problem(
                        ("spec", "hosts", i, "name"),
                        f"the label '{label}' is {len(label)} characters; at most {MAX_LABEL}.",
                    )
    for hostname, owners in sorted(claims.items()):
        if len(owners) < 2 or all(shared for _, _, shared in owners):
            continue
        names = [n for n, _, _ in owners]
        for name, i, _ in owners:
            others = ", ".join(f"'{n}'" for n in names if n != name) or "itself"
            yield estate.document("Environment", name).problem(
                ("spec", "hosts", i, "name"),
                (
                    f"hostname '{hostname}' is also claimed by {others}; a hostname belongs to one "
                    "environment unless every claim says 'shared: true'."
                ),
            )
