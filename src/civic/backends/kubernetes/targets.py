"""Which cluster an environment lives on, and the checks that keep that coherent.

``civic.yaml`` lists clusters under ``spec.clusters``; each names the environments
that live on it (names or shell-style patterns). An environment no cluster claims
runs on the local runtime, the default. The CLI and the Kubernetes backend call
:func:`cluster` and :func:`environments_on`; :func:`check` reports problems at the
line of ``civic.yaml`` that causes them. Pure.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterator

from civic.backends.kubernetes import ownership
from civic.errors import Problem, SpecError, UsageError
from civic.spec import estate as estate_mod
from civic.spec import models

OLDEST = "1.25"
NEWEST = "1.37"
"""The Kubernetes versions Civic renders for: those whose schemas kubernetes-validate ships."""


def _minor(version: str) -> int:
    return int(version.split(".")[1])


def supported(version: str) -> bool:
    return _minor(OLDEST) <= _minor(version) <= _minor(NEWEST)


def clusters(estate: estate_mod.Estate) -> list[models.Cluster]:
    return list(estate.platform.spec.clusters or [])


def cluster(estate: estate_mod.Estate, name: str | None) -> models.Cluster:
    """The cluster called ``name`` (or the only one when ``name`` is None)."""
    known = clusters(estate)
    problems = check(estate)
    if problems:
        raise SpecError(problems)
    if not known:
        raise UsageError("civic.yaml declares no clusters; add one under spec.clusters (docs/kubernetes.md shows how).")
    if name is None:
        if len(known) > 1:
            raise UsageError(
                f"civic.yaml declares {len(known)} clusters; say which with --cluster "
                f"({', '.join(c.name for c in known)})."
            )
        return known[0]
    for item in known:
        if item.name == name:
            return item
    raise UsageError(
        f"there is no cluster '{name}' in civic.yaml; the clusters are: {', '.join(c.name for c in known)}."
    )


def claims(item: models.Cluster, environment: str) -> bool:
    return any(fnmatch.fnmatchcase(environment, pattern) for pattern in item.environments)


def cluster_of(estate: estate_mod.Estate, environment: str) -> models.Cluster | None:
    """The cluster an environment lives on; None: the local runtime."""
    return next((c for c in clusters(estate) if claims(c, environment)), None)


def environments_on(estate: estate_mod.Estate, item: models.Cluster) -> list[str]:
    return sorted(name for name in estate.environments if claims(item, name))


def base_domain(platform: models.Platform, item: models.Cluster) -> str:
    return item.base_domain or platform.spec.base_domain


def check(estate: estate_mod.Estate) -> list[Problem]:
    """Problems in ``spec.clusters`` of civic.yaml, each at its line."""
    return sorted(_problems(estate))


def _problems(estate: estate_mod.Estate) -> Iterator[Problem]:
    doc = estate.document("Platform", "platform")
    seen: dict[str, int] = {}
    claimed: dict[str, str] = {}
    for i, item in enumerate(clusters(estate)):
        at = ("spec", "clusters", i)
        if item.name in seen:
            yield doc.problem(
                at + ("name",),
                f"cluster '{item.name}' is declared twice (also "
                f"spec.clusters[{seen[item.name]}]); give each cluster its own name.",
            )
        seen.setdefault(item.name, i)
        if not supported(item.kubernetes_version):
            yield doc.problem(
                at + ("kubernetesVersion",),
                (
                    f"Civic renders for Kubernetes {OLDEST} to {NEWEST}, got "
                    f"'{item.kubernetes_version}'; pick a version in that range."
                ),
            )
        for j, pattern in enumerate(item.environments):
            matched = [n for n in estate.environments if fnmatch.fnmatchcase(n, pattern)]
            if not matched:
                yield doc.problem(
                    at + ("environments", j), (f"'{pattern}' matches no environment; fix the name or remove it.")
                )
            for name in matched:
                if name == ownership.PLATFORM_NAMESPACE:
                    yield doc.problem(
                        at + ("environments", j),
                        (
                            f"environment '{name}' cannot live on a cluster: Civic keeps its cluster-wide "
                            "objects' ApplySets in that namespace; rename the environment."
                        ),
                    )
                if claimed.setdefault(name, item.name) != item.name:
                    yield doc.problem(
                        at + ("environments", j),
                        (
                            f"environment '{name}' is already placed on cluster '{claimed[name]}'; "
                            "an environment lives on one cluster."
                        ),
                    )
