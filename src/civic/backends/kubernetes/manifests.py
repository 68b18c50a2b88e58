"""The objects of one environment on a cluster: Namespace, access, limits, network.

Also Civic's own platform namespace (``civic-system``), which holds the parents of
cluster-wide ApplySets.

Called by :mod:`civic.backends.kubernetes.rendering`, which adds the services'
objects (:mod:`.workloads`, :mod:`.monitoring`). Names follow the MoJ Cloud Platform's
(``limitrange``, ``namespace-quota``, ``allow-ingress-controllers``) so that an estate
imported from there renders to what it had. Pure: values in, plain dicts out.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from typing import Any

from civic.backends.kubernetes import ownership
from civic.spec import models

Obj = dict[str, Any]
SECRETS = "civic-secrets"
ROLES = {"admin": "admin", "edit": "edit", "view": "view"}
MOJ = "cloud-platform.justice.gov.uk/"
MOJ_LABELS = {MOJ + "namespace"}  # a label there: other namespaces' network policies select by it


def meta(
    name: str, namespace: str | None, labels: Mapping[str, str], annotations: Mapping[str, str] | None = None
) -> Obj:
    out: Obj = {"name": name}
    if namespace:
        out["namespace"] = namespace
    out["labels"] = dict(labels)
    if annotations:
        out["annotations"] = dict(annotations)
    return out


def namespace(env: models.Environment, cluster: models.Cluster) -> Obj:
    spec = env.spec
    version = f"v{cluster.kubernetes_version}"
    labels = ownership.labels(env.metadata.name) | {
        ownership.PREFIX + "team": spec.team,
        ownership.PREFIX + "is-production": str(spec.production).lower(),
        ownership.PREFIX + "environment-name": spec.environment_name,
        "pod-security.kubernetes.io/enforce": "restricted",
        "pod-security.kubernetes.io/enforce-version": version,
        "pod-security.kubernetes.io/audit": "restricted",
        "pod-security.kubernetes.io/warn": "restricted",
    }
    owned = {
        key: value
        for key, value in (
            ("business-unit", spec.business_unit),
            ("application", spec.application),
            ("owner", spec.owner),
            ("source-code", spec.source_code),
            ("slack-channel", spec.team_channel),
            ("service-area", spec.service_area),
            ("review-after", spec.review_after.isoformat() if spec.review_after else None),
        )
        if value
    }
    annotations = {ownership.PREFIX + key: value for key, value in owned.items()}
    # the MoJ Cloud Platform's own names too, so its tooling (and its Gatekeeper
    # constraints and reports) keep working on namespaces Civic renders
    labels |= {MOJ + "is-production": str(spec.production).lower(), MOJ + "environment-name": spec.environment_name}
    annotations |= {MOJ + key: value for key, value in owned.items()} | {MOJ + "team-name": spec.team}
    kept = {k: v for k, v in env.metadata.annotations.items() if k.startswith(MOJ)}
    labels |= {k: v for k, v in kept.items() if k in MOJ_LABELS}
    labels = (spec.namespace_labels or {}) | labels  # Civic's own labels win
    annotations |= {k: v for k, v in kept.items() if k not in MOJ_LABELS}
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": meta(env.metadata.name, None, labels, annotations)}


def platform_namespace() -> Obj:
    """``civic-system``: where the parents of Civic's cluster-wide ApplySets live. Nothing runs
    there, so Pod Security enforces ``restricted``; the platform label keeps it from being
    taken for an environment (and deleted as one that left the estate)."""
    labels = {
        ownership.MANAGED_BY: ownership.MANAGER,
        ownership.PLATFORM: "true",
        "pod-security.kubernetes.io/enforce": "restricted",
    }
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": meta(ownership.PLATFORM_NAMESPACE, None, labels)}


def _slug(value: str) -> str:
    return re.sub(r"[^a-z0-9-]+", "-", value.lower()).strip("-")[:50] or "x"


def role_bindings(env: models.Environment, teams: Mapping[str, models.Team]) -> list[Obj]:
    """One RoleBinding per administering team's group (``github:<team>``) or user. With no
    ``access``, the owning team is admin, unless ``ownerAccess`` is false: then no one is."""
    owner = [] if env.spec.owner_access is False else [models.AccessGrant(team=env.spec.team)]
    grants = env.spec.access or owner
    out: dict[str, Obj] = {}
    for grant in grants:
        role = ROLES.get(grant.role, grant.role)
        if grant.user:
            subjects = [("User", grant.user, f"user-{_slug(grant.user)}-{role}")]
        else:
            team = teams.get(grant.team or "")
            groups = (team.spec.github_teams if team else []) or [grant.team or ""]
            subjects = [("Group", f"github:{g}", f"github-{_slug(g)}-{role}") for g in groups]
        for kind, subject, name in subjects:
            out[name] = _role_binding(env.metadata.name, name, kind, subject, role)
    return [out[name] for name in sorted(out)]


def _role_binding(env: str, name: str, kind: str, subject: str, role: str) -> Obj:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": meta(name, env, ownership.labels(env)),
        "subjects": [{"kind": kind, "name": subject, "apiGroup": "rbac.authorization.k8s.io"}],
        "roleRef": {"kind": "ClusterRole", "name": role, "apiGroup": "rbac.authorization.k8s.io"},
    }


def effective_limits(env: models.Environment, platform: models.Platform) -> models.Limits:
    own, base = env.spec.limits, platform.spec.defaults.limits
    return models.Limits(**{field: getattr(own, field) or getattr(base, field) for field in models.Limits.model_fields})


def limit_range(env: models.Environment, platform: models.Platform) -> Obj:
    limits = effective_limits(env, platform)
    item: Obj = {"type": "Container"}
    default = {k: v for k, v in (("cpu", limits.default_cpu), ("memory", limits.default_memory)) if v}
    request = {k: v for k, v in (("cpu", limits.default_request_cpu), ("memory", limits.default_request_memory)) if v}
    if default:
        item["default"] = default
    if request:
        item["defaultRequest"] = request
    return {
        "apiVersion": "v1",
        "kind": "LimitRange",
        "metadata": meta("limitrange", env.metadata.name, ownership.labels(env.metadata.name)),
        "spec": {"limits": [item]},
    }


def resource_quota(env: models.Environment, platform: models.Platform) -> Obj:
    own, base = env.spec.quota, platform.spec.defaults.quota
    pick = {
        field: getattr(own, field) if getattr(own, field) is not None else getattr(base, field)
        for field in models.Quota.model_fields
    }
    hard = {
        key: str(pick[field])
        for key, field in (
            ("pods", "replicas"),
            ("count/deployments.apps", "services"),
            ("limits.cpu", "cpu"),
            ("limits.memory", "memory"),
            ("requests.cpu", "requests_cpu"),
            ("requests.memory", "requests_memory"),
        )
        if pick[field] is not None
    }
    return {
        "apiVersion": "v1",
        "kind": "ResourceQuota",
        "metadata": meta("namespace-quota", env.metadata.name, ownership.labels(env.metadata.name)),
        "spec": {"hard": hard},
    }


def _policy(env: str, name: str, sources: list[Obj] | None) -> Obj:
    spec: Obj = {"podSelector": {}, "policyTypes": ["Ingress"]}
    if sources is not None:
        spec["ingress"] = [{"from": sources}]
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": meta(name, env, ownership.labels(env)),
        "spec": spec,
    }


def _from_namespace(name: str) -> Obj:
    return {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": name}}}


def network_policies(env: models.Environment, cluster: models.Cluster) -> list[Obj]:
    """Deny by default; then, as ``spec.network`` says, the same namespace, the ingress
    controller, monitoring, the environments named in ``allowFrom``, and the extra
    policies kept as written (which can only add to what the others admit)."""
    name, network = env.metadata.name, env.spec.network
    out = [_policy(name, "default-deny", None)]
    if network.same_environment:
        out.append(_policy(name, "allow-same-namespace", [{"podSelector": {}}]))
    if network.allow_ingress:
        out.append(_policy(name, "allow-ingress-controllers", [_from_namespace(cluster.ingress_namespace)]))
    if network.monitoring:
        out.append(_policy(name, "allow-monitoring", [_from_namespace(cluster.monitoring_namespace)]))
    for other in sorted(set(network.allow_from)):
        out.append(_policy(name, f"allow-from-{other}"[:63].rstrip("-"), [_from_namespace(other)]))
    for extra in network.extra_policies or []:
        out.append(_extra_policy(name, extra))
    return out


def _extra_policy(env: str, extra: models.ExtraPolicy) -> Obj:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": meta(extra.name, env, ownership.labels(env)),
        "spec": copy.deepcopy(extra.spec),
    }
