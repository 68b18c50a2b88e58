"""One environment's desired state in, every Kubernetes object it needs out.

:func:`render` takes the backend protocol's :class:`~civic.backends.base.DesiredEnvironment`
and the target cluster and returns a :class:`Rendered`: the Namespace, then one
ApplySet (parent plus members) for the environment and one per service, each object
a plain dict in apply order. :func:`admission_set` wraps the cluster-wide admission
policies (:mod:`.admission`) the same way: one platform ApplySet whose parent lives in
``civic-system``, so the apply engine plans, applies and prunes them like any other
set. :func:`to_yaml` makes the multi-document stream that
``civic render`` prints and ``kubectl apply -f -`` reads. Called by the CLI, the
apply engine (:mod:`.cluster`) and the benchmark. Pure.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Any

import yaml

from civic.backends import base
from civic.backends.kubernetes import manifests, monitoring, ownership, secrets, targets, workloads
from civic.backends.kubernetes.manifests import Obj
from civic.errors import PlanError
from civic.spec import models

ORDER = (
    "Namespace",
    "ConfigMap",
    "ResourceQuota",
    "LimitRange",
    "RoleBinding",
    "NetworkPolicy",
    "ExternalSecret",
    "Secret",
    "Service",
    "Deployment",
    "HorizontalPodAutoscaler",
    "PodDisruptionBudget",
    "Ingress",
    "ServiceMonitor",
    "PrometheusRule",
    "ValidatingAdmissionPolicy",
    "ValidatingAdmissionPolicyBinding",
)
"""Dependency order: what others need comes first. Pruning goes the other way."""


def rank(obj: Obj) -> int:
    kind = obj["kind"]
    return ORDER.index(kind) if kind in ORDER else len(ORDER)


@dataclasses.dataclass(frozen=True)
class ApplySet:
    """One ApplySet: its parent ConfigMap and the objects that belong to it."""

    parent: Obj
    members: tuple[Obj, ...]
    service: str | None = None

    @property
    def id(self) -> str:
        return self.parent["metadata"]["labels"][ownership.PARENT_ID]

    @property
    def digest(self) -> str:
        return self.parent["metadata"]["annotations"][ownership.DESIRED_HASH]


@dataclasses.dataclass(frozen=True)
class Rendered:
    environment: str  # the namespace: an environment's, or ``civic-system`` for a platform set
    namespace: Obj
    sets: tuple[ApplySet, ...]
    digest: str

    def objects(self) -> list[Obj]:
        """Everything, in apply order: Namespace, parents, then members by kind."""
        members = [m for s in self.sets for m in s.members]
        return [self.namespace] + [s.parent for s in self.sets] + sorted(members, key=rank)


def render(desired: base.DesiredEnvironment, cluster: models.Cluster) -> Rendered:
    env = desired.environment
    if env is None:
        raise PlanError(f"environment '{desired.name}' should not exist; there is nothing to render.")
    platform = desired.platform
    own = [manifests.resource_quota(env, platform), manifests.limit_range(env, platform)]
    own += manifests.role_bindings(env, desired.teams)
    own += manifests.network_policies(env, cluster)
    own += [o for o in (secrets.secret_object(env, cluster, desired.secrets), monitoring.environment_rules(env)) if o]
    limits = manifests.effective_limits(env, platform)
    domain = targets.base_domain(platform, cluster)
    services = [
        _service_set(r, env=env, cluster=cluster, limits=limits, domain=domain)
        for r in sorted(desired.services, key=lambda r: r.name)
    ]
    namespace = manifests.namespace(env, cluster)
    env_digest = ownership.digest([namespace, own] + [s.digest for s in services])
    env_set = _applyset(
        ownership.parent(environment=env.metadata.name, service=None, members=own, digest=env_digest), own, None
    )
    return Rendered(env.metadata.name, namespace, (env_set, *services), env_digest)


def admission_set(objects: Iterable[Obj]) -> Rendered:
    """The platform ApplySet of the admission policies (VAPs and bindings, cluster-wide):
    the ``civic-system`` namespace, the parent ``civic-admission`` and the members."""
    members = list(objects)
    namespace = manifests.platform_namespace()
    digest = ownership.digest([namespace, members])
    parent = ownership.platform_parent(
        name=ownership.ADMISSION_PARENT, role=ownership.ADMISSION, members=members, digest=digest
    )
    return Rendered(ownership.PLATFORM_NAMESPACE, namespace, (_applyset(parent, members, None),), digest)


def _applyset(parent: Obj, members: Iterable[Obj], service: str | None) -> ApplySet:
    set_id = parent["metadata"]["labels"][ownership.PARENT_ID]
    return ApplySet(parent, tuple(sorted((with_membership(m, set_id) for m in members), key=rank)), service)


def _service_set(
    revision: base.ServiceRevision,
    *,
    env: models.Environment,
    cluster: models.Cluster,
    limits: models.Limits,
    domain: str,
) -> ApplySet:
    if not revision.spec.image:
        raise PlanError(workloads.no_image(revision.name, environment=revision.environment, cluster=cluster.name))
    variables = workloads.variables_for(env, revision.spec)
    members: list[Obj | None] = [
        workloads.service(revision),
        workloads.deployment(revision, variables=variables, limits=limits),
        workloads.autoscaler(revision),
        workloads.disruption_budget(revision),
        workloads.ingress(revision, cluster=cluster, base_domain=domain) if env.spec.network.allow_ingress else None,
        monitoring.service_monitor(revision),
        monitoring.service_rules(revision),
    ]
    kept = [m for m in members if m is not None]
    parent = ownership.parent(
        environment=revision.environment, service=revision.name, members=kept, digest=ownership.digest(kept)
    )
    return _applyset(parent, kept, revision.name)


def with_membership(obj: Obj, applyset_id: str) -> Obj:
    """A copy of ``obj`` labelled as a member of the ApplySet ``applyset_id``."""
    labels = dict(obj["metadata"].get("labels", {})) | {ownership.PART_OF: applyset_id}
    return obj | {"metadata": obj["metadata"] | {"labels": labels}}


class _Dumper(yaml.SafeDumper):
    pass


def _str(dumper: yaml.SafeDumper, value: str) -> Any:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def to_yaml(objects: Iterable[Obj]) -> str:
    """A multi-document YAML stream, keys in the order they were built."""
    return "".join(
        "---\n" + yaml.dump(o, Dumper=_Dumper, sort_keys=False, default_flow_style=False, width=1000) for o in objects
    )
