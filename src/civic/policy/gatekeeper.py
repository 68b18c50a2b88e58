"""Conformance with the gatekeeper-library: Civic's policies judged by Gatekeeper's own test cases.

A corpus (``index.json`` plus the suites' YAML, see the corpus README) lists cases: a
constraint (a Gatekeeper policy with parameters), an object, sometimes inventory objects,
and the violations expected. :data:`MAPPINGS` says which Civic policy corresponds to
each constraint kind and how its parameters become Civic's; :func:`run` judges every
case with that policy and says whether Civic agrees. A constraint kind with no mapping
(or parameters Civic has no rule for) is *not covered*: listed, never a failure.
Gatekeeper reviews a Pod update without violations for its pod-security templates;
Civic judges Pods when created (:data:`civic.policy.kubernetes.CREATE_ONLY`), which
gives the same answer. ``civic policy conformance`` and the tests call this. Pure:
the caller reads the files.
"""

from __future__ import annotations

import dataclasses
import datetime
import enum
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from civic.policy import evaluation, kubernetes
from civic.policy.definitions import PolicySet

Params = Mapping[str, Any]
ParamMap = Callable[[Params], "dict[str, Any] | str"]
"""Gatekeeper's parameters to Civic's; a string says why Civic does not cover them."""

TODAY = datetime.date(2030, 1, 1)


@dataclasses.dataclass(frozen=True)
class Correspondence:
    policy: str
    params: ParamMap = lambda p: {}


def exempt(p: Params) -> dict[str, Any]:
    """``exemptImages``: exact names, and prefixes written with a trailing ``*``."""
    images = list(p.get("exemptImages") or [])
    return {
        "exemptImages": [i for i in images if not i.endswith("*")],
        "exemptImagePrefixes": [i[:-1] for i in images if i.endswith("*")],
    }


def _limits(p: Params) -> dict[str, Any]:
    keep = [r for r in ("cpu", "memory") if str(p.get(r, "")) != "-1"]
    return {
        "resources": keep,
        "maxCpu": p.get("cpu") if "cpu" in keep else None,
        "maxMemory": p.get("memory") if "memory" in keep else None,
    }


def _ratios(p: Params) -> dict[str, Any]:
    return {"ratio": float(p["ratio"]), "cpuRatio": float(p["cpuRatio"]) if "cpuRatio" in p else None}


def _users(p: Params) -> dict[str, Any] | str:
    rules = {
        k: (p.get(k) or {}).get("rule", "RunAsAny")
        for k in ("runAsUser", "runAsGroup", "supplementalGroups", "fsGroup")
    }
    if rules["runAsUser"] != "MustRunAsNonRoot" or any(v != "RunAsAny" for k, v in rules.items() if k != "runAsUser"):
        return f"Civic's rule is run-as-non-root only; these rules are not covered: {rules}"
    return exempt(p)


def _host_ports(p: Params) -> dict[str, Any]:
    ranged = "min" in p or "max" in p
    return {
        "hostNetwork": bool(p.get("hostNetwork", False)),
        "min": p.get("min", 0) if ranged else 0,
        "max": p.get("max", 65535) if ranged else 65535,
        **exempt(p),
    }


def _service_types(blocked: str) -> ParamMap:
    return lambda p: {"allowed": [t for t in ("ClusterIP", "NodePort", "LoadBalancer", "ExternalName") if t != blocked]}


MAPPINGS: dict[str, Correspondence] = {
    "K8sPSPPrivilegedContainer": Correspondence("pod-privileged", exempt),
    "K8sPSPCapabilities": Correspondence(
        "pod-capabilities",
        lambda p: {
            "allowed": list(p.get("allowedCapabilities") or []),
            "requiredDrop": list(p.get("requiredDropCapabilities") or []),
            **exempt(p),
        },
    ),
    "K8sAllowedRepos": Correspondence("pod-allowed-repos", lambda p: {"repos": list(p.get("repos") or [])}),
    "K8sRequiredProbes": Correspondence(
        "pod-probes", lambda p: {"probes": list(p.get("probes") or []), "probeTypes": list(p.get("probeTypes") or [])}
    ),
    "K8sContainerLimits": Correspondence("pod-container-limits", _limits),
    "K8sContainerRatios": Correspondence("pod-resource-ratios", _ratios),
    "K8sPSPReadOnlyRootFilesystem": Correspondence("pod-read-only-root", exempt),
    "K8sPSPAllowedUsers": Correspondence("pod-run-as-non-root", _users),
    "K8sPSPHostNamespace": Correspondence("pod-host-namespaces"),
    "K8sPSPHostNetworkingPorts": Correspondence("pod-host-network-ports", _host_ports),
    "K8sPSPHostFilesystem": Correspondence(
        "pod-host-paths", lambda p: {"allowedHostPaths": list(p.get("allowedHostPaths") or [])}
    ),
    "K8sPSPAllowPrivilegeEscalationContainer": Correspondence("pod-privilege-escalation", exempt),
    "K8sPSPSeccomp": Correspondence(
        "pod-seccomp", lambda p: {"allowedProfiles": list(p.get("allowedProfiles") or []), **exempt(p)}
    ),
    "K8sPSPAutomountServiceAccountTokenPod": Correspondence("pod-automount-token"),
    "K8sDisallowedTags": Correspondence(
        "pod-disallowed-tags", lambda p: {"tags": list(p.get("tags") or []), **exempt(p)}
    ),
    "K8sBlockLoadBalancer": Correspondence("service-types", _service_types("LoadBalancer")),
    "K8sBlockNodePort": Correspondence("service-types", _service_types("NodePort")),
    "K8sExternalIPs": Correspondence("service-external-ips", lambda p: {"allowedIPs": list(p.get("allowedIPs") or [])}),
    "K8sUniqueIngressHost": Correspondence("ingress-unique-host"),
    "K8sHttpsOnly": Correspondence("ingress-https-only", lambda p: {"tlsOptional": bool(p.get("tlsOptional", False))}),
    "K8sBlockWildcardIngress": Correspondence("ingress-no-wildcard"),
    "K8sRequiredLabels": Correspondence("required-labels", lambda p: {"labels": list(p.get("labels") or [])}),
    "K8sReplicaLimits": Correspondence(
        "replica-limits",
        lambda p: {
            "ranges": [
                {"min": r.get("min_replicas", 0), "max": r.get("max_replicas", 2**31)} for r in p.get("ranges") or []
            ]
        },
    ),
    "K8sDisallowAnonymous": Correspondence(
        "rbac-no-anonymous",
        lambda p: {
            "allowedRoles": list(p.get("allowedRoles") or []),
            "disallowAuthenticated": bool(p.get("disallowAuthenticated", False)),
        },
    ),
}

NOT_COVERED: dict[str, str] = {
    "K8sPodDisruptionBudget": "Civic renders every PDB itself (maxUnavailable: 1); no policy judges others' yet",
    "K8sStorageClass": "no Civic policy for storage classes yet",
    "K8sContainerEphemeralStorageLimit": "no Civic policy for ephemeral storage yet",
}


class Outcome(str, enum.Enum):
    AGREES = "agrees"
    DISAGREES = "disagrees"
    NOT_COVERED = "not covered"


@dataclasses.dataclass(frozen=True)
class CaseResult:
    id: str
    gatekeeper: str  # the upstream policy folder, e.g. "allowedrepos"
    civic: str  # the Civic policy, or "" when not covered
    outcome: Outcome
    expected: str
    messages: tuple[str, ...] = ()
    detail: str = ""  # what differed, or why it is not covered

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self) | {"outcome": self.outcome.value, "messages": list(self.messages)}


def _review(doc: Mapping[str, Any]) -> tuple[Mapping[str, Any], str | None]:
    """The object under review and the admission operation (None for a plain object)."""
    if doc.get("kind") == "AdmissionReview":
        request = doc.get("request") or {}
        return request.get("object") or {}, request.get("operation")
    return doc, None


def check_assertions(assertions: Iterable[Mapping[str, Any]], messages: list[str]) -> str:
    """gator's rule: per assertion, count the messages its regex finds; '' when all hold."""
    for a in assertions:
        want = a.get("violations", "yes")
        pattern = a.get("message")
        got = len([m for m in messages if pattern is None or re.search(pattern, m)])
        if (
            (want in ("yes", True) and got == 0)
            or (want in ("no", False) and got != 0)
            or (isinstance(want, int) and not isinstance(want, bool) and got != want)
        ):
            about = f" matching /{pattern}/" if pattern else ""
            return f"expected {want} violation(s){about}, got {got}"
    return ""


def judge(case: Mapping[str, Any], docs: Mapping[str, Any], policies: PolicySet) -> CaseResult:
    """One corpus case (an index.json entry) judged by Civic; ``docs`` maps paths to objects."""
    base = dict(id=case["id"], gatekeeper=case["policy"], expected=str(case["expected_violations"]))
    constraint = docs[case["constraint"]]
    kind = constraint.get("kind", "")
    mapping = MAPPINGS.get(kind)
    if mapping is None:
        return CaseResult(
            civic="",
            outcome=Outcome.NOT_COVERED,
            detail=NOT_COVERED.get(kind, f"no Civic policy corresponds to {kind}"),
            **base,
        )
    params = mapping.params((constraint.get("spec") or {}).get("parameters") or {})
    policy = policies.get(mapping.policy)
    if isinstance(params, str) or policy is None:
        why = params if isinstance(params, str) else f"policy '{mapping.policy}' is disabled"
        return CaseResult(civic=mapping.policy, outcome=Outcome.NOT_COVERED, detail=why, **base)
    policy = dataclasses.replace(policy, params={**policy.params, **params}, when=None)
    obj, operation = _review(docs[case["object"]])
    reviewed = kubernetes.subject(obj, file=case["object"])
    messages: list[str] = []
    if not (operation == "UPDATE" and reviewed.kind in kubernetes.CREATE_ONLY):
        others = [kubernetes.subject(docs[p], file=p) for p in case.get("inventory") or []]
        report = evaluation.evaluate(PolicySet((policy,)), [reviewed, *others], platform={}, today=TODAY)
        messages = [m for v in report.verdicts if v.failed and (v.kind, v.name) == reviewed.key for m in v.messages]
    detail = check_assertions(case.get("assertions") or [{"violations": case["expected_violations"]}], messages)
    return CaseResult(
        civic=mapping.policy,
        outcome=Outcome.DISAGREES if detail else Outcome.AGREES,
        messages=tuple(messages),
        detail=detail,
        **base,
    )


def run(index: Iterable[Mapping[str, Any]], docs: Mapping[str, Any], policies: PolicySet) -> list[CaseResult]:
    return [judge(case, docs, policies) for case in index]


def paths(index: Iterable[Mapping[str, Any]]) -> list[str]:
    """Every file the cases refer to, for the caller to read."""
    out: dict[str, None] = {}
    for case in index:
        for p in (case["constraint"], case["object"], *(case.get("inventory") or [])):
            out[p] = None
    return list(out)


def table(results: Iterable[CaseResult]) -> list[dict[str, Any]]:
    """Per Gatekeeper policy: the Civic policy, and how many cases agree, disagree, are not covered."""
    rows: dict[str, dict[str, Any]] = {}
    for r in results:
        row = rows.setdefault(
            r.gatekeeper,
            {"gatekeeper": r.gatekeeper, "civic": set(), "cases": 0, "agrees": 0, "disagrees": 0, "not covered": 0},
        )
        row["cases"] += 1
        row[r.outcome.value] += 1
        if r.civic:
            row["civic"].add(r.civic)
    return [row | {"civic": ", ".join(sorted(row["civic"]))} for row in rows.values()]


def covered_ok(results: Iterable[CaseResult]) -> bool:
    return all(r.outcome is not Outcome.DISAGREES for r in results)
