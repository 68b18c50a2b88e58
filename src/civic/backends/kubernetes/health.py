"""How healthy is a live object? Judged the way Argo CD judges it.

A Deployment is progressing until its controller has seen the latest generation and
its updated and available replicas have caught up; degraded once the controller
says the progress deadline passed (``ProgressDeadlineExceeded``); suspended when
paused or scaled to zero on purpose. An HPA is degraded when it cannot scale; an
ExternalSecret when its Ready condition is false; an Ingress progressing until the
controller gives it an address. A ValidatingAdmissionPolicy is degraded when the API
server's type checking found problems in its expressions (``status.typeChecking``),
which Argo CD does not judge. Kinds with no rule are healthy once they exist, as in
Argo CD. Called by :mod:`.cluster` for ``civic cluster status`` and by the
backend's ``observe``. Pure.
"""

from __future__ import annotations

from typing import Any

from civic.backends.base import Health

Verdict = tuple[Health, str]


def judge(obj: dict[str, Any] | None) -> Verdict:
    if obj is None:
        return Health.MISSING, "not found on the cluster"
    rule = RULES.get(obj.get("kind", ""))
    return rule(obj) if rule else (Health.HEALTHY, "")


def _condition(obj: dict[str, Any], kind: str) -> dict[str, Any]:
    return next((c for c in obj.get("status", {}).get("conditions") or [] if c.get("type") == kind), {})


def deployment(obj: dict[str, Any]) -> Verdict:
    spec, status = obj.get("spec", {}), obj.get("status", {})
    if spec.get("paused"):
        return Health.SUSPENDED, "the rollout is paused"
    if obj["metadata"].get("generation", 0) > status.get("observedGeneration", 0):
        return Health.PROGRESSING, "waiting for rollout to finish: observed generation is behind"
    if _condition(obj, "Progressing").get("reason") == "ProgressDeadlineExceeded":
        return Health.DEGRADED, f"deployment {obj['metadata']['name']!r} exceeded its progress deadline"
    wanted = spec.get("replicas", status.get("replicas", 1))
    updated, available = status.get("updatedReplicas", 0), status.get("availableReplicas", 0)
    if wanted == 0 and status.get("replicas", 0) == 0:
        return Health.SUSPENDED, "scaled to zero"
    if updated < wanted:
        return Health.PROGRESSING, f"waiting for rollout to finish: {updated} of {wanted} new replicas updated"
    if status.get("replicas", 0) > updated:
        return Health.PROGRESSING, (
            f"waiting for rollout to finish: {status['replicas'] - updated} old replicas are pending termination"
        )
    if available < updated:
        return Health.PROGRESSING, f"waiting for rollout to finish: {available} of {updated} updated replicas available"
    return Health.HEALTHY, f"{available} of {wanted} replicas available"


def autoscaler(obj: dict[str, Any]) -> Verdict:
    for kind in ("AbleToScale", "ScalingActive"):
        condition = _condition(obj, kind)
        if condition.get("status") == "False" and condition.get("reason") != "ScalingDisabled":
            return Health.DEGRADED, condition.get("message", kind)
    if not obj.get("status", {}).get("conditions"):
        return Health.PROGRESSING, "waiting for the autoscaler's first reading"
    return Health.HEALTHY, ""


def ready_condition(obj: dict[str, Any]) -> Verdict:
    ready = _condition(obj, "Ready")
    if ready.get("status") == "True":
        return Health.HEALTHY, ""
    if ready.get("status") == "False":
        return Health.DEGRADED, ready.get("message", "not ready")
    return Health.PROGRESSING, "waiting to become ready"


def ingress(obj: dict[str, Any]) -> Verdict:
    if obj.get("status", {}).get("loadBalancer", {}).get("ingress"):
        return Health.HEALTHY, ""
    return Health.PROGRESSING, "waiting for the ingress controller to give it an address"


def namespace(obj: dict[str, Any]) -> Verdict:
    if obj.get("status", {}).get("phase") == "Terminating":
        return Health.PROGRESSING, "terminating"
    return Health.HEALTHY, ""


def admission_policy(obj: dict[str, Any]) -> Verdict:
    warnings = (obj.get("status", {}).get("typeChecking") or {}).get("expressionWarnings") or []
    if warnings:
        return Health.DEGRADED, "; ".join(f"{w.get('fieldRef', '?')}: {w.get('warning', '')}" for w in warnings)
    return Health.HEALTHY, ""


RULES = {
    "Deployment": deployment,
    "HorizontalPodAutoscaler": autoscaler,
    "ExternalSecret": ready_condition,
    "Ingress": ingress,
    "Namespace": namespace,
    "ValidatingAdmissionPolicy": admission_policy,
}
