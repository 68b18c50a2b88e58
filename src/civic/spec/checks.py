"""Checks that need more than one file: names, owners, hostnames and references.

:func:`check` is called by :func:`civic.spec.estate.parse` once every file has been
loaded on its own. Each check returns problems placed at the field that is wrong.
Pure. Policies (civic.policy) judge what is allowed; these checks judge what is
coherent, and an incoherent estate is never planned.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from typing import TYPE_CHECKING

from civic.errors import Problem
from civic.spec import models, refs, yamlpos

if TYPE_CHECKING:
    from civic.spec.estate import Estate

MAX_LABEL = 63
MAX_HOSTNAME = 253


def check(estate: Estate, *, present: frozenset[str] = frozenset()) -> list[Problem]:
    """Every cross-file problem in ``estate``. ``present`` lists the files that exist,
    so that a team whose file failed to load is not also reported as missing."""
    out: list[Problem] = []
    out += _file_names(estate)
    out += _environments(estate, present)
    out += _hostnames(estate)
    return out


def _file_names(estate: Estate) -> Iterator[Problem]:
    for (kind, name), rel in estate.files.items():
        if kind == "Team" and rel != f"teams/{name}.yaml":
            yield estate.documents[rel].problem(
                ("metadata", "name"),
                (
                    f"the team is named '{name}' but its file is {rel}; rename the file to "
                    f"teams/{name}.yaml or change the name."
                ),
            )
        if kind == "Environment" and rel != f"environments/{name}/environment.yaml":
            folder = rel.split("/")[1]
            yield estate.documents[rel].problem(
                ("metadata", "name"),
                (f"the environment is named '{name}' but its folder is '{folder}'; the two must be the same."),
            )


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


def _references(doc: yamlpos.Document, spec: models.EnvironmentSpec) -> Iterator[Problem]:
    for key, value in spec.variables.items():
        for ref in refs.find(value):
            wrong = refs.check(ref, spec)
            if wrong:
                yield doc.problem(("spec", "variables", key), wrong + ".")


def _hostnames(estate: Estate) -> Iterator[Problem]:
    claims: dict[str, list[tuple[str, int, bool]]] = {}
    for name, env in sorted(estate.environments.items()):
        for i, host in enumerate(env.spec.hosts):
            claims.setdefault(host.name, []).append((name, i, host.shared))
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
