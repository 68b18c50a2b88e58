"""Civic's policies in the cluster: ValidatingAdmissionPolicy objects and their bindings.

A policy written for Kubernetes objects (:mod:`civic.policy.kube_library`, or an
estate's own with ``appliesTo: [Pod, ...]``) reads ``object`` and the
:data:`civic.policy.kubernetes.VARIABLES`, exactly what a VAP's CEL sees, so it is
rendered as it stands: the kinds' variables and the policy's parameters (as a
``params`` variable: a VAP has no inline parameters) become ``spec.variables``; a
policy's ``when`` becomes a match condition; a rule that gives a list of violations is
valid when the list is empty, and its message lists them. One policy and one binding
per policy, cluster-wide, bound to the namespaces Civic manages; validationActions
follow the mode (deny: Deny; warn: Warn and Audit; audit: Audit). Policies over Civic's
own kinds, Python checks and rules using Civic-only functions (quantities) cannot run
in an API server: they are listed as skipped, with the reason. Before Kubernetes 1.30
(no admissionregistration.k8s.io/v1 VAP) nothing is rendered and the capability is
reported missing. Called by ``civic render`` and by ``civic cluster plan|apply|status``,
which apply them as one platform ApplySet (:func:`.rendering.admission_set`,
:func:`.cluster.sync_policies`). Pure.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Mapping
from typing import Any

from civic.backends.kubernetes import ownership, targets
from civic.backends.kubernetes.manifests import Obj
from civic.policy import expressions, kubernetes, subjects
from civic.policy.definitions import Mode, Policy, PolicySet
from civic.spec import models

SINCE = "1.30"
API_VERSION = "admissionregistration.k8s.io/v1"
ACTIONS = {Mode.DENY: ["Deny"], Mode.WARN: ["Warn", "Audit"], Mode.AUDIT: ["Audit"]}
OWN_KINDS = "it judges Civic's own kinds, which an API server never sees"
_PARAMS = re.compile(r"(?<![\w.])params\b")
_CIVIC_ONLY = re.compile(r"\b(" + "|".join(expressions.CIVIC_ONLY) + r")\(")

SAMPLE_POD = {"containers": [{"name": "x", "image": "x"}]}
SAMPLES: dict[str, Obj] = {
    "Pod": {"spec": SAMPLE_POD},
    "CronJob": {"spec": {"jobTemplate": {"spec": {"template": {"metadata": {}, "spec": SAMPLE_POD}}}}},
    "RoleBinding": {"roleRef": {"name": "x"}, "subjects": []},
    "ClusterRoleBinding": {"roleRef": {"name": "x"}, "subjects": []},
}
"""Minimal objects a rule is tried on, to learn whether it gives true/false or a list."""


@dataclasses.dataclass(frozen=True)
class Admission:
    objects: tuple[Obj, ...]
    skipped: tuple[tuple[str, str], ...] = ()  # (policy, why it is not rendered)
    missing: str = ""  # the missing capability, when the target predates VAP v1


def literal(value: Any) -> str:
    """A CEL literal for a parameter value; every element is dyn(), since Kubernetes' CEL
    wants the elements of a literal list or map to share one type."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{json.dumps(str(k))}: dyn({literal(v)})" for k, v in value.items()) + "}"
    return "[" + ", ".join(f"dyn({literal(v)})" for v in value) + "]"


def in_cluster(text: str) -> str:
    """Civic's ``params.x`` as the VAP's ``variables.params.x``."""
    return _PARAMS.sub("variables.params", text)


def _sample(kind: str) -> Obj:
    group, api_kind = kubernetes.API[kind][0]
    body = SAMPLES.get(kind) or (
        {"spec": {"template": {"metadata": {}, "spec": SAMPLE_POD}}} if kind in kubernetes.POD_KINDS else {"spec": {}}
    )
    return {"apiVersion": f"{group}/v1" if group else "v1", "kind": api_kind, "metadata": {"name": "x"}, **body}


def _gives_list(policy: Policy) -> bool:
    """Whether the rule gives a list of violations (else true/false); raises ValueError."""
    obj = _sample(policy.applies_to[0])
    subject = subjects.Subject(policy.applies_to[0], "x", obj)
    context = expressions.Context(subjects.variables(subject, {}))
    return isinstance(context.run(expressions.compile_(policy.expression or ""), policy.params), list)


def why_not(policy: Policy) -> str:
    """Why ``policy`` cannot run as a VAP; empty when it can."""
    if not set(policy.applies_to) <= set(kubernetes.API):
        return OWN_KINDS
    if policy.expression is None:
        return "its rule is Python, not CEL"
    found = _CIVIC_ONLY.search(policy.expression + " " + (policy.when or ""))
    if found:
        return f"it uses {found.group(1)}(), which only Civic has"
    return ""


def _rules(kinds: tuple[str, ...]) -> list[Obj]:
    out = []
    for kind in kinds:
        for group, api_kind in kubernetes.API[kind]:
            plural = api_kind.lower() + ("es" if api_kind.endswith("s") else "s")
            operations = ["CREATE"] if kind in kubernetes.CREATE_ONLY else ["CREATE", "UPDATE"]
            out.append({"apiGroups": [group], "apiVersions": ["*"], "operations": operations, "resources": [plural]})
    return out


def _variables(policy: Policy) -> list[Obj]:
    shared = [
        v
        for v in kubernetes.VARIABLES[policy.applies_to[0]]
        if all(v in kubernetes.VARIABLES[k] for k in policy.applies_to)
    ]
    out = [{"name": name, "expression": text} for name, text in shared]
    if policy.params:
        out.append({"name": "params", "expression": literal(dict(policy.params))})
    return out


def name_of(policy: Policy) -> str:
    return f"civic-{policy.name}"[:253]


def policy_objects(policy: Policy, gives_list: bool) -> list[Obj]:
    rule = in_cluster(policy.expression or "")
    variables = _variables(policy)
    summary = f"{policy.name}: {policy.description}"
    if gives_list:
        variables.append({"name": "violations", "expression": rule})
        validation = {
            "expression": "size(variables.violations) == 0",
            "message": summary,
            "messageExpression": json.dumps(policy.name + ": ")
            + " + variables.violations.map(v, string(v)).join('; ')",
            "reason": "Invalid",
        }
    else:
        validation = {"expression": rule, "message": summary, "reason": "Invalid"}
    spec: Obj = {
        "failurePolicy": "Fail",
        "matchConstraints": {"resourceRules": _rules(policy.applies_to)},
        "variables": variables,
        "validations": [validation],
    }
    if policy.when:
        spec["matchConditions"] = [{"name": "when", "expression": in_cluster(policy.when)}]
    labels = {ownership.MANAGED_BY: ownership.MANAGER}
    name = name_of(policy)
    vap = {
        "apiVersion": API_VERSION,
        "kind": "ValidatingAdmissionPolicy",
        "metadata": {"name": name, "labels": labels},
        "spec": spec,
    }
    binding = {
        "apiVersion": API_VERSION,
        "kind": "ValidatingAdmissionPolicyBinding",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "policyName": name,
            "validationActions": ACTIONS[policy.mode],
            "matchResources": {"namespaceSelector": {"matchLabels": labels}},
        },
    }
    return [vap, binding]


def render(policies: PolicySet, cluster: models.Cluster) -> Admission:
    """The VAPs and bindings of every policy in force that can run in ``cluster``."""
    if targets._minor(cluster.kubernetes_version) < targets._minor(SINCE):
        return Admission(
            (),
            missing=f"{API_VERSION} ValidatingAdmissionPolicy needs Kubernetes {SINCE} "
            f"or later; cluster '{cluster.name}' targets {cluster.kubernetes_version}, "
            "so Civic's policies are not enforced in it (civic plan still checks them)",
        )
    objects: list[Obj] = []
    skipped: list[tuple[str, str]] = []
    for policy in policies.policies:
        reason = why_not(policy)
        if not reason:
            try:
                objects += policy_objects(policy, _gives_list(policy))
                continue
            except expressions.ExpressionError as e:
                reason = f"its rule fails on a minimal object: {e}"
        skipped.append((policy.name, reason))
    return Admission(tuple(objects), tuple(skipped))
