"""Kubernetes objects as policy subjects: Pods and workloads, Services, Ingresses, RBAC, Namespaces.

Civic's own kinds (Environment, Service, ...) are judged in Civic's shape; a policy for
a Kubernetes object is judged on the object as the API server sees it, so that the same
CEL runs in Civic and, rendered as a ValidatingAdmissionPolicy, in the cluster. To keep
one text valid in both places, the derived values such policies read are not Python:
they are CEL :data:`VARIABLES` (``variables.podSpec``, ``variables.containers``...),
computed here by the same engine and rendered as the VAP's ``spec.variables``. The
Kubernetes ``Service`` is registered as ``KubernetesService``: Civic's Service owns the
short name. Imported by :mod:`civic.policy.library`, which registers these kinds. Pure.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from civic.policy import expressions, subjects

POD_KINDS = ("Pod", "Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob")
"""Kinds whose policies judge a pod spec: the Pod itself, or the template a controller stamps."""

API: dict[str, tuple[tuple[str, str], ...]] = {
    "Pod": (("", "Pod"),),
    "Deployment": (("apps", "Deployment"),),
    "StatefulSet": (("apps", "StatefulSet"),),
    "DaemonSet": (("apps", "DaemonSet"),),
    "ReplicaSet": (("apps", "ReplicaSet"),),
    "Job": (("batch", "Job"),),
    "CronJob": (("batch", "CronJob"),),
    "KubernetesService": (("", "Service"),),
    "Namespace": (("", "Namespace"),),
    "Ingress": (("networking.k8s.io", "Ingress"), ("extensions", "Ingress")),
    "RoleBinding": (("rbac.authorization.k8s.io", "RoleBinding"),),
    "ClusterRoleBinding": (("rbac.authorization.k8s.io", "ClusterRoleBinding"),),
    "PodDisruptionBudget": (("policy", "PodDisruptionBudget"),),
}
"""Every Kubernetes kind Civic's policies can judge, with the API groups it is served from."""

CREATE_ONLY = ("Pod",)
"""Judged when created, not on update: a Pod's spec is fixed once it runs (Gatekeeper's
pod-security templates exempt updates for the same reason)."""


def _pod(of: Callable[[str], str]) -> str:
    """CEL for a value of the pod: of a Pod itself, else of the controller's pod template."""
    return (
        f"object.kind == 'Pod' ? {of('object')} : object.kind == 'CronJob' ? "
        f"{of('object.spec.jobTemplate.spec.template')} : {of('object.spec.template')}"
    )


def _listed(field: str) -> str:
    return f"has(variables.podSpec.{field}) ? variables.podSpec.{field} : []"


COMMON: tuple[tuple[str, str], ...] = (
    ("labels", "has(object.metadata.labels) ? object.metadata.labels : {}"),
    ("annotations", "has(object.metadata.annotations) ? object.metadata.annotations : {}"),
)
POD: tuple[tuple[str, str], ...] = (
    ("podSpec", _pod(lambda o: f"{o}.spec")),
    (
        "podAnnotations",
        _pod(lambda o: f"(has({o}.metadata) && has({o}.metadata.annotations) ? {o}.metadata.annotations : {{}})"),
    ),
    ("podSecurity", "has(variables.podSpec.securityContext) ? variables.podSpec.securityContext : {}"),
    ("containers", _listed("containers")),
    ("initContainers", _listed("initContainers")),
    ("ephemeralContainers", _listed("ephemeralContainers")),
    ("volumes", _listed("volumes")),
)

VARIABLES: dict[str, tuple[tuple[str, str], ...]] = {kind: COMMON + (POD if kind in POD_KINDS else ()) for kind in API}
"""Per kind, in order (a later one may read an earlier one): name and CEL expression."""


def compute(kind: str, obj: Mapping[str, Any]) -> dict[str, Any]:
    """The ``variables`` of ``obj`` as a VAP would compute them; a variable that fails on
    this object is null, so a policy that reads it fails closed."""
    out: dict[str, Any] = {}
    for name, text in VARIABLES[kind]:
        context = expressions.Context({"object": obj, "variables": out})
        try:
            out[name] = context.run(expressions.compile_(text), {})
        except expressions.ExpressionError:
            out[name] = None
    return out


def _hosts(obj: Mapping[str, Any]) -> list[str]:
    rules = (obj.get("spec") or {}).get("rules") or []
    return [r["host"] for r in rules if r.get("host")]


def _register(kind: str) -> None:
    subjects.register(
        subjects.SubjectKind(
            kind,
            lambda obj: dict(obj),
            hosts=_hosts if kind == "Ingress" else (lambda obj: []),
            variables=lambda obj: compute(kind, obj),
            api=API[kind],
        )
    )


for _kind in API:
    _register(_kind)


def subject(obj: Mapping[str, Any], *, file: str = "") -> subjects.Subject:
    """A Kubernetes object as a subject, named ``namespace/name`` (or ``name``)."""
    kind = subjects.kind_of(obj)
    if kind is None or kind not in API:
        raise ValueError(
            f"'{obj.get('apiVersion')} {obj.get('kind')}' is not a Kubernetes kind "
            f"policies can judge; they judge: {', '.join(API)}"
        )
    meta = obj.get("metadata") or {}
    name = f"{meta['namespace']}/{meta.get('name', '')}" if meta.get("namespace") else meta.get("name", "")
    return subjects.Subject(kind, name, dict(obj), None, file)
