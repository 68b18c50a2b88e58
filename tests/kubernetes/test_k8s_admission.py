"""Civic's policies as ValidatingAdmissionPolicies: valid objects, the right actions, the same verdicts.

No API server runs here, so the rendered VAPs are checked three ways: against the
official schemas (1.30, where VAP v1 appears, and the newest); by what they say (kinds,
operations, actions per mode, overrides); and by running their CEL (variables, then
validations) on the gatekeeper-library's example objects with the same CEL engine Civic
uses, which must agree with Civic's own verdicts. Values in, YAML out.
"""

from __future__ import annotations

import datetime
import json
import os
import pathlib

import pytest
import yaml

from civic.backends.kubernetes import admission, targets, validation
from civic.policy import evaluation, expressions, kube_library, kubernetes, library
from civic.policy.definitions import Mode, Override, PolicySet, with_overrides
from civic.spec import models

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CORPUS = os.path.join(os.path.dirname(ROOT), "shared", "corpus", "gatekeeper-library")


def _cluster(version: str) -> models.Cluster:
    return models.Cluster.model_validate(
        {"name": "live", "context": "x", "baseDomain": "x.test", "kubernetesVersion": version}
    )


BUILTIN = PolicySet(library.BUILTIN)
RENDERED = admission.render(BUILTIN, _cluster("1.30"))
VAPS = {o["metadata"]["name"]: o for o in RENDERED.objects if o["kind"] == "ValidatingAdmissionPolicy"}
BINDINGS = {o["metadata"]["name"]: o for o in RENDERED.objects if o["kind"] == "ValidatingAdmissionPolicyBinding"}


def test_every_rendered_object_is_valid_where_vap_v1_exists():
    assert len(VAPS) == len(BINDINGS) == 20
    assert validation.check_all(list(RENDERED.objects), (admission.SINCE, targets.NEWEST)) == []


def test_before_1_30_nothing_is_rendered_and_the_capability_is_missing():
    old = admission.render(BUILTIN, _cluster("1.29"))
    assert old.objects == () and old.missing.startswith(
        "admissionregistration.k8s.io/v1 ValidatingAdmissionPolicy needs Kubernetes 1.30 or later; "
        "cluster 'live' targets 1.29"
    )


def test_only_kubernetes_cel_policies_without_civic_only_functions_are_rendered():
    skipped = dict(RENDERED.skipped)
    assert skipped["pod-container-limits"] == "it uses cpu_millicores(), which only Civic has"
    assert skipped["ingress-unique-host"] == "its rule is Python, not CEL"
    assert skipped["no-privileged"] == "it judges Civic's own kinds, which an API server never sees"
    assert "civic-pod-privileged" in VAPS and "civic-service-types" in VAPS


def test_actions_follow_the_mode_and_the_estates_overrides():
    assert BINDINGS["civic-pod-privileged"]["spec"]["validationActions"] == ["Deny"]
    assert BINDINGS["civic-pod-seccomp"]["spec"]["validationActions"] == ["Warn", "Audit"]
    changed = with_overrides(
        library.BUILTIN,
        [
            Override("pod-seccomp", "enforced since 2030", "policies/seccomp.yaml", mode=Mode.DENY),
            Override("pod-privileged", "a node agent needs it", "policies/p.yaml", enabled=False),
            Override("pod-allowed-repos", "our registry", "policies/r.yaml", params={"repos": ["reg.example/"]}),
        ],
    )
    rendered = admission.render(changed, _cluster("1.37"))
    vaps = {o["metadata"]["name"]: o for o in rendered.objects if o["kind"] == "ValidatingAdmissionPolicy"}
    bindings = {o["metadata"]["name"]: o for o in rendered.objects if o["kind"] != "ValidatingAdmissionPolicy"}
    assert "civic-pod-privileged" not in vaps and "civic-pod-privileged" not in bindings
    assert bindings["civic-pod-seccomp"]["spec"]["validationActions"] == ["Deny"]
    params = next(v for v in vaps["civic-pod-allowed-repos"]["spec"]["variables"] if v["name"] == "params")
    assert params["expression"] == '{"repos": dyn([dyn("reg.example/")])}'


def test_bindings_select_civics_namespaces_and_pods_are_judged_on_create():
    binding = BINDINGS["civic-pod-privileged"]["spec"]
    assert binding["matchResources"]["namespaceSelector"] == {"matchLabels": {"app.kubernetes.io/managed-by": "civic"}}
    rules = VAPS["civic-pod-privileged"]["spec"]["matchConstraints"]["resourceRules"]
    assert {r["resources"][0]: r["operations"] for r in rules}["pods"] == ["CREATE"]
    assert {r["resources"][0]: r["operations"] for r in rules}["deployments"] == ["CREATE", "UPDATE"]
    ingress = VAPS["civic-ingress-no-wildcard"]["spec"]["matchConstraints"]["resourceRules"]
    assert {r["apiGroups"][0] for r in ingress} == {"networking.k8s.io", "extensions"}


def run_vap(vap: dict, obj: dict) -> tuple[bool, str]:
    """A VAP's variables and first validation, evaluated on ``obj`` as an API server would."""
    values: dict = {}
    for v in vap["spec"].get("variables", []):
        values[v["name"]] = expressions.Context({"object": obj, "variables": values}).run(
            expressions.compile_(v["expression"]), {}
        )
    context = expressions.Context({"object": obj, "variables": values})
    check = vap["spec"]["validations"][0]
    allowed = context.run(expressions.compile_(check["expression"]), {})
    message = (
        context.run(expressions.compile_(check["messageExpression"]), {})
        if "messageExpression" in check
        else check["message"]
    )
    return allowed, message


def _corpus_cases():
    if not os.path.isdir(CORPUS):
        pytest.fail(f"the gatekeeper-library corpus is missing at {CORPUS}")
    from civic.cli import conformance_corpus
    from civic.policy import gatekeeper

    index, docs = conformance_corpus.read(CORPUS)
    out = []
    for case in index:
        mapping = gatekeeper.MAPPINGS.get(docs[case["constraint"]].get("kind"))
        if mapping is None or f"civic-{mapping.policy}" not in VAPS:
            continue
        params = mapping.params((docs[case["constraint"]].get("spec") or {}).get("parameters") or {})
        obj = docs[case["object"]]
        if isinstance(params, str) or obj.get("kind") == "AdmissionReview":
            continue
        out.append((case["id"], mapping.policy, params, obj))
    return out


def test_the_rendered_vaps_judge_gatekeepers_examples_as_civic_does():
    cases = _corpus_cases()
    assert len(cases) > 80
    for case_id, name, params, obj in cases:
        policy = BUILTIN.get(name)
        policy = policy.__class__(**{**policy.__dict__, "params": {**policy.params, **params}})
        (vap,) = [
            o
            for o in admission.policy_objects(policy, admission._gives_list(policy))
            if o["kind"] == "ValidatingAdmissionPolicy"
        ]
        allowed, message = run_vap(vap, obj)
        report = evaluation.evaluate(
            PolicySet((policy,)), [kubernetes.subject(obj)], platform={}, today=datetime.date(2030, 1, 1)
        )
        civic = [m for v in report.verdicts if v.failed for m in v.messages]
        assert allowed == (not civic), f"{case_id}: the VAP says {message!r}, Civic {civic}"
        if not allowed and admission._gives_list(policy):
            assert message.startswith(f"{name}: ")


def test_render_prints_the_policies_and_reports_a_missing_capability(cli, cluster_estate):
    done = cli("render", "laa-apply-production", "--estate", cluster_estate, "--validate")
    kinds = [d["kind"] for d in yaml.safe_load_all(done.out)]
    assert done.code == 0 and kinds.count("ValidatingAdmissionPolicy") == 20
    assert "40 admission policy objects for 1.30 and 1.37." in done.err
    bare = cli("render", "laa-apply-production", "--estate", cluster_estate, "--no-policies")
    assert "ValidatingAdmissionPolicy" not in bare.out
    path = pathlib.Path(cluster_estate, "civic.yaml")
    path.write_text(path.read_text().replace('kubernetesVersion: "1.30"', 'kubernetesVersion: "1.29"'))
    old = cli("render", "laa-apply-production", "--estate", cluster_estate)
    assert old.code == 0 and "ValidatingAdmissionPolicy" not in old.out
    assert (
        "missing capability: admissionregistration.k8s.io/v1 ValidatingAdmissionPolicy needs Kubernetes "
        "1.30 or later; cluster 'live' targets 1.29" in old.err
    )


def test_parameters_become_cel_literals_that_kubernetes_accepts():
    assert (
        admission.literal({"a": [1, "x"], "b": None, "c": True})
        == '{"a": dyn([dyn(1), dyn("x")]), "b": dyn(null), "c": dyn(true)}'
    )
    assert (
        admission.in_cluster("params.x + variables.params2 + xparams")
        == "variables.params.x + variables.params2 + xparams"
    )
    assert json.loads(admission.literal(['a"b']).removeprefix("[dyn(").removesuffix(")]")) == 'a"b'
    assert kube_library.POLICIES  # the library these come from
