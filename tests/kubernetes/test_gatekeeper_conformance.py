"""Civic's policies for Kubernetes objects against the gatekeeper-library's own test cases.

The corpus (134 cases for 27 Gatekeeper policies, copied verbatim from upstream; see its
README) lives beside the repository in ../shared/corpus/gatekeeper-library. Its absence
fails these tests: it is the check against material nobody here wrote. Each case is its
own test, so a disagreement names the case. Values in, verdicts out: no cluster.
"""

from __future__ import annotations

import datetime
import json
import os
import shutil

import pytest

from civic.backends.kubernetes import inputs, rendering, targets
from civic.cli import conformance_corpus
from civic.policy import evaluation, gatekeeper, kube_library, kubernetes, library, subjects
from civic.policy.definitions import PolicySet

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CORPUS = os.path.join(os.path.dirname(ROOT), "shared", "corpus", "gatekeeper-library")

COVERED = {
    "privileged-containers",
    "capabilities",
    "allowedrepos",
    "requiredlabels",
    "host-namespaces",
    "host-network-ports",
    "read-only-root-filesystem",
    "users",
    "containerlimits",
    "containerresourceratios",
    "block-loadbalancer-services",
    "block-nodeport-services",
    "uniqueingresshost",
    "httpsonly",
    "disallowedtags",
    "replicalimits",
    "requiredprobes",
    "host-filesystem",
    "allow-privilege-escalation",
    "seccomp",
    "externalip",
    "automount-serviceaccount-token",
    "disallowanonymous",
    "block-wildcard-ingress",
}
"""What Civic claims to cover; the rest (pod disruption budgets, storage classes, ephemeral
storage) must be reported as not covered, never silently dropped."""


def _corpus():
    if not os.path.isdir(CORPUS):
        pytest.fail(f"the gatekeeper-library corpus is missing at {CORPUS}; conformance cannot be checked")
    return conformance_corpus.read(CORPUS)


INDEX, DOCS = _corpus() if os.path.isdir(CORPUS) else ([], {})
POLICIES = PolicySet(library.BUILTIN)


def test_the_corpus_is_there_and_whole():
    index, docs = _corpus()
    assert len(index) == 134 and len({c["policy"] for c in index}) == 27
    assert all(p in docs for p in gatekeeper.paths(index))


@pytest.mark.parametrize("case", [c for c in INDEX if c["policy"] in COVERED], ids=lambda c: c["id"])
def test_civic_agrees_with_every_covered_case(case):
    result = gatekeeper.judge(case, DOCS, POLICIES)
    assert result.outcome is gatekeeper.Outcome.AGREES, f"{result.detail}; Civic said {result.messages}"


def test_coverage_is_what_civic_claims_and_the_rest_is_listed_as_not_covered():
    results = gatekeeper.run(_corpus()[0], DOCS, POLICIES)
    rows = {r["gatekeeper"]: r for r in gatekeeper.table(results)}
    assert {name for name, r in rows.items() if r["agrees"] == r["cases"]} == COVERED
    for name in set(rows) - COVERED:
        assert rows[name]["not covered"] == rows[name]["cases"] and rows[name]["civic"] == ""
    disallowed = [r for r in results if r.gatekeeper in COVERED and r.expected not in ("no", "0")]
    assert disallowed and all(r.messages for r in disallowed)  # denials come with Civic's messages


def test_a_pod_update_is_not_judged_but_a_deployment_update_is():
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p"},
        "spec": {"containers": [{"name": "c", "image": "nginx", "securityContext": {"privileged": True}}]},
    }
    review = {"kind": "AdmissionReview", "request": {"operation": "UPDATE", "object": pod}}
    case = {
        "id": "x",
        "policy": "p",
        "expected_violations": "no",
        "constraint": "c",
        "object": "o",
        "assertions": [{"violations": "no"}],
    }
    constraint = {"kind": "K8sPSPPrivilegedContainer", "spec": {}}
    assert gatekeeper.judge(case, {"c": constraint, "o": review}, POLICIES).outcome is gatekeeper.Outcome.AGREES
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "d"},
        "spec": {"template": {"spec": pod["spec"]}},
    }
    review["request"]["object"] = deployment
    result = gatekeeper.judge(case, {"c": constraint, "o": review}, POLICIES)
    assert result.outcome is gatekeeper.Outcome.DISAGREES
    assert result.messages == (
        "container 'c' runs in privileged mode, which gives it the node; remove securityContext.privileged.",
    )


def test_parameters_map_to_civics():
    assert gatekeeper.exempt({"exemptImages": ["safe.io/*", "*", "exact"]}) == {
        "exemptImages": ["exact"],
        "exemptImagePrefixes": ["safe.io/", ""],
    }
    limits = gatekeeper.MAPPINGS["K8sContainerLimits"].params({"cpu": "-1", "memory": "1Gi"})
    assert limits == {"resources": ["memory"], "maxCpu": None, "maxMemory": "1Gi"}
    users = gatekeeper.MAPPINGS["K8sPSPAllowedUsers"].params({"runAsUser": {"rule": "MustRunAs"}})
    assert isinstance(users, str) and "not covered" in users


def test_the_command_prints_the_table_and_exits_0(cli):
    result = cli("policy", "conformance", CORPUS)
    assert result.code == 0, result.out + result.err
    assert "113 of 113 covered cases agree; 21 of 134 cases not covered." in result.out
    assert "not covered: storageclass: no Civic policy for storage classes yet" in result.out
    data = json.loads(cli("policy", "conformance", CORPUS, "-o", "json").out)
    seccomp = next(r for r in data["policies"] if r["gatekeeper"] == "seccomp")
    assert seccomp == {
        "gatekeeper": "seccomp",
        "civic": "pod-seccomp",
        "cases": 8,
        "agrees": 8,
        "disagrees": 0,
        "not covered": 0,
    }


def test_a_disagreement_exits_1_and_says_what_civic_said(cli, tmp_path):
    copy = tmp_path / "corpus"
    shutil.copytree(CORPUS, copy)
    index = json.loads((copy / "index.json").read_text())
    case = next(c for c in index if c["id"].endswith("privileged-containers-disallowed/example-allowed"))
    case["expected_violations"], case["assertions"] = "yes", [{"violations": "yes"}]
    (copy / "index.json").write_text(json.dumps(index))
    result = cli("policy", "conformance", str(copy))
    assert result.code == 1
    assert f"disagrees {case['id']}: expected yes violation(s), got 0; Civic said: nothing" in result.out


def test_a_missing_or_broken_corpus_is_a_clear_error(cli, tmp_path):
    missing = cli("policy", "conformance", str(tmp_path))
    assert missing.code == 4 and f"no index.json in {tmp_path}" in missing.err
    (tmp_path / "index.json").write_text('[{"id": "a"}]')
    broken = cli("policy", "conformance", str(tmp_path))
    assert broken.code != 0 and "[0].policy: is missing; every case needs it." in broken.err


def test_kubernetes_kinds_are_told_apart_from_civics():
    assert (
        kubernetes.subject({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"}}).kind
        == "KubernetesService"
    )
    cron = kubernetes.subject(
        {
            "apiVersion": "batch/v1",
            "kind": "CronJob",
            "metadata": {"name": "c", "namespace": "n"},
            "spec": {
                "jobTemplate": {
                    "spec": {
                        "template": {"metadata": {"annotations": {"a": "b"}}, "spec": {"containers": [{"name": "x"}]}}
                    }
                }
            },
        }
    )
    assert cron.name == "n/c"
    values = kubernetes.compute("CronJob", cron.object)
    assert values["containers"] == [{"name": "x"}] and values["podAnnotations"] == {"a": "b"}
    assert values["initContainers"] == [] and values["labels"] == {}
    with pytest.raises(ValueError, match="not a Kubernetes kind policies can judge"):
        kubernetes.subject({"apiVersion": "v1", "kind": "ConfigMap"})


def test_every_kubernetes_policy_compiles_and_judges_only_kubernetes_kinds():
    for policy in kube_library.POLICIES:
        assert set(policy.applies_to) <= set(kubernetes.API), policy.name


def test_what_civic_renders_passes_civics_own_policies_for_kubernetes_objects(loaded, services):
    items = []
    for env in loaded.environments:
        cluster = targets.cluster(loaded, "live")
        rendered = rendering.render(inputs.desired(loaded, env, services=services), cluster)
        items += [kubernetes.subject(o) for o in rendered.objects() if subjects.kind_of(o) in kubernetes.API]
    report = evaluation.evaluate(PolicySet(kube_library.POLICIES), items, platform={}, today=datetime.date(2030, 1, 1))
    assert {s.kind for s in items} >= {"Deployment", "KubernetesService", "Ingress", "RoleBinding", "Namespace"}
    assert report.denied == []
    # the only warnings: the example worker asks for 1Gi of memory against a request of 100Mi,
    # which Civic's memory-limit-ratio also reports on the service's own spec
    assert {v.policy for v in report.warnings} == {"pod-resource-ratios"}
