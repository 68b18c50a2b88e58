"""The Kubernetes use cases: render an environment, and plan, apply and watch a cluster.

``civic render`` and ``civic cluster plan|apply|status`` (:mod:`civic.cli.kube`) call
these and only print what they return; the CLI never reaches the Kubernetes backend
itself. Here the target cluster is chosen from civic.yaml (:func:`place` for one
environment, :func:`cluster` for a cluster by name), service files are loaded and
checked against their environment (:func:`load_services`), environments are rendered
(:func:`render`, :func:`renders`) with Civic's admission policies when asked for
(:func:`admission_policies`: only for the whole cluster), and checked against the
Kubernetes schemas (:func:`validate`). :func:`sync` and :func:`status` talk to the
cluster through a client made from the kubeconfig context the cluster names, and
close it when done.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from civic import policy
from civic.backends.kubernetes import admission, health, inputs, manifests, rendering, targets, validation
from civic.backends.kubernetes import client as client_mod
from civic.backends.kubernetes import cluster as cluster_mod
from civic.errors import SpecError, UsageError
from civic.spec import estate as estate_mod
from civic.spec import models

OLDEST = targets.OLDEST
NEWEST = targets.NEWEST
"""The Kubernetes versions :func:`validate` checks an environment's objects against."""
SINCE = admission.SINCE
"""The oldest Kubernetes version that serves the admission policies."""

Report = cluster_mod.Report
Outcome = cluster_mod.Outcome


@dataclasses.dataclass(frozen=True)
class Placement:
    """The cluster an environment is rendered for, and a note for the user (or "")."""

    cluster: models.Cluster
    note: str = ""


@dataclasses.dataclass(frozen=True)
class Rendering:
    """One environment's objects and Civic's admission policies, as ``civic render`` prints them."""

    objects: list[manifests.Obj]
    policy_objects: list[manifests.Obj]  # the admission policies, as members of their ApplySet
    enforced: admission.Admission  # what of the policies renders, and any missing capability

    def yaml(self) -> str:
        return rendering.to_yaml(self.objects + self.policy_objects)


def place(loaded: estate_mod.Estate, env: str, *, name: str | None) -> Placement:
    """The cluster ``name``, or else the one civic.yaml puts ``env`` on (default settings if none)."""
    if env not in loaded.environments:
        raise UsageError(f"there is no environment '{env}' in the estate; 'civic validate' lists what there is.")
    if name is not None:
        return Placement(targets.cluster(loaded, name))
    problems = targets.check(loaded)
    if problems:
        raise SpecError(problems)
    placed = targets.cluster_of(loaded, env)
    if placed is None:
        return Placement(
            models.Cluster(name="default"),
            (
                f"environment '{env}' is on no cluster in civic.yaml (it runs on the local runtime); "
                "rendering with the default cluster settings."
            ),
        )
    return Placement(placed)


def cluster(loaded: estate_mod.Estate, name: str | None) -> models.Cluster:
    """The cluster called ``name`` in civic.yaml (or the only one when ``name`` is None)."""
    return targets.cluster(loaded, name)


def load_services(paths: Sequence[str], environment: models.Environment | None) -> list[models.Service]:
    """The service specs at ``paths`` (files, or folders holding one); every problem in one error."""
    loaded, problems = [], []
    for path in inputs.service_paths(paths):
        try:
            loaded.append(inputs.load_service(path, environment=environment))
        except SpecError as e:
            problems += e.problems
    if problems:
        raise SpecError(problems)
    return loaded


def render(
    loaded: estate_mod.Estate, env: str, *, target: models.Cluster, services: Sequence[models.Service], policies: bool
) -> Rendering:
    """``env``'s objects for ``target``, with Civic's admission policies when ``policies``."""
    rendered = rendering.render(inputs.desired(loaded, env, services=services), target)
    enforced = admission.render(policy.policy_set(loaded), target) if policies else admission.Admission(())
    members = list(rendering.admission_set(enforced.objects).sets[0].members) if enforced.objects else []
    return Rendering(rendered.objects(), members, enforced)


def validate(rendered: Rendering) -> list[str]:
    """Every schema problem: the objects for :data:`OLDEST` and :data:`NEWEST`, the policies from :data:`SINCE`."""
    wrong = validation.check_all(rendered.objects, (OLDEST, NEWEST))
    return wrong + validation.check_all(rendered.policy_objects, (SINCE, NEWEST))


def renders(
    loaded: estate_mod.Estate, target: models.Cluster, *, envs: Sequence[str], service: Sequence[str]
) -> list[tuple[rendering.Rendered, bool]]:
    """Each environment's render (``envs``, or all on ``target``), and whether its services are known."""
    names = list(envs) or targets.environments_on(loaded, target)
    if service and len(names) != 1:
        raise UsageError("--service needs exactly one --env: services belong to one environment.")
    out = []
    for name in names:
        if targets.cluster_of(loaded, name) != target:
            raise UsageError(f"environment '{name}' does not live on cluster '{target.name}' (see civic.yaml).")
        services = load_services(service, loaded.environments[name])
        out.append((rendering.render(inputs.desired(loaded, name, services=services), target), bool(service)))
    return out


def admission_policies(
    loaded: estate_mod.Estate, target: models.Cluster, *, wanted: bool, envs: Sequence[str]
) -> admission.Admission | None:
    """The admission policies to converge: only for the whole cluster, and when asked for."""
    return admission.render(policy.policy_set(loaded), target) if wanted and not envs else None


async def sync(
    target: models.Cluster,
    renders: Sequence[tuple[rendering.Rendered, bool]],
    *,
    dry_run: bool,
    everything: bool,
    whole: bool,
    allow_delete_production: bool,
    policies: admission.Admission | None,
) -> list[cluster_mod.Report]:
    """Plan (``dry_run``) or apply the renders on ``target``; with ``whole``, delete the Civic
    namespaces no longer in the estate."""
    api = client_mod.Client.from_kubeconfig(context=target.context)
    try:
        return await cluster_mod.sync_estate(
            api,
            renders,
            dry_run=dry_run,
            everything=everything,
            delete_others=whole,
            allow_delete_production=allow_delete_production,
            policies=policies,
        )
    finally:
        await api.aclose()


async def status(
    target: models.Cluster, renders: Sequence[rendering.Rendered], *, policies: admission.Admission | None
) -> list[tuple[str, cluster_mod.Outcome, health.Verdict]]:
    """The health of every object the renders (and the admission policies, if any) should have on ``target``."""
    observed = list(renders)
    if policies is not None and policies.objects:
        observed.insert(0, rendering.admission_set(policies.objects))
    api = client_mod.Client.from_kubeconfig(context=target.context)
    try:
        return [(r.environment, o, v) for r in observed for o, v in await cluster_mod.status(api, r)]
    finally:
        await api.aclose()


def summary(report: cluster_mod.Report) -> dict[str, Any]:
    """One report's counts, for ``--output json``."""
    return cluster_mod.summary(report)
