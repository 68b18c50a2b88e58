"""``civic cluster plan|apply`` and the admission policies, against the FAKE cluster (fakecluster.py).

No Kubernetes API server can run on these machines, so these tests use the fake on
loopback (it serves admissionregistration.k8s.io/v1 ValidatingAdmissionPolicy and
ValidatingAdmissionPolicyBinding, cluster-scoped, unless told to be an older cluster)
and check what is on it afterwards. The policies are one platform ApplySet whose
parent, ``civic-admission``, lives in Civic's namespace ``civic-system``.
"""

from __future__ import annotations

import asyncio
import json
import os

import yaml
from edits import replace_in

from civic import policy
from civic.backends.kubernetes import admission, cluster, ownership, rendering, targets
from civic.backends.kubernetes import client as client_mod
from civic.spec import estate as estate_mod

ADM = admission.API_VERSION
VAP, BINDING = "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"
KINDS = f"{VAP}.admissionregistration.k8s.io,{BINDING}.admissionregistration.k8s.io"
PARENT_ID = ownership.applyset_id(name="civic-admission", namespace="civic-system")

OWN_POLICY = """apiVersion: civic/v1
kind: Policy
metadata:
  name: pod-team-label
spec:
  description: Every pod says which team runs it.
  appliesTo: [Pod]
  expression: "has(object.metadata.labels) && 'team' in object.metadata.labels"
  message: "{name} has no team label."
  mode: warn
"""

PRIVILEGED_OFF = """apiVersion: civic/v1
kind: PolicyOverride
metadata:
  name: pod-privileged
spec:
  enabled: false
  reason: "The node agent's namespace is judged by the cluster team's own policies."
"""


def _write(estate: str, name: str, text: str) -> None:
    with open(os.path.join(estate, "policies", name), "w", encoding="utf-8") as f:
        f.write(text)


def _names(fake, kind: str) -> set[str]:
    return {o["metadata"]["name"] for o in fake.of_kind(kind)}


def _admission_requests(fake) -> list[tuple[str, str]]:
    return [(m, p) for m, p in fake.requests if "/admissionregistration.k8s.io/" in p]


def _rendered(estate: str) -> rendering.Rendered:
    loaded = estate_mod.load(estate)
    return rendering.admission_set(admission.render(policy.policy_set(loaded), targets.cluster(loaded, "live")).objects)


def test_apply_sends_what_render_prints_and_a_second_plan_has_nothing_to_do(cli, on_fake, fake):
    base = ("--cluster", "live", "--estate", on_fake)
    done = cli("cluster", "plan", *base)
    assert done.code == 0, done.err
    assert f"create {VAP} civic-pod-privileged\n" in done.out and f"create {BINDING} civic-pod-privileged\n" in done.out
    assert (
        "note: policy 'pod-container-limits' is not enforced in the cluster: it uses cpu_millicores(), "
        "which only Civic has." in done.out
    )
    assert fake.count("PATCH") == 0 and fake.of_kind(VAP) == []

    done = cli("cluster", "apply", *base)
    assert done.code == 0, done.err
    namespace = fake.find("v1", "Namespace", "", "civic-system")
    assert namespace["metadata"]["labels"][ownership.MANAGED_BY] == "civic"
    assert namespace["metadata"]["labels"]["civic.dev/platform"] == "true"
    parent = fake.find("v1", "ConfigMap", "civic-system", "civic-admission")["metadata"]
    assert parent["labels"][ownership.PARENT_ID] == PARENT_ID
    assert parent["labels"][ownership.APPLYSET_ROLE] == "admission"
    assert parent["annotations"][ownership.ANN_GROUP_KINDS] == KINDS
    assert parent["annotations"][ownership.DESIRED_HASH] == _rendered(on_fake).digest

    printed = list(yaml.safe_load_all(cli("render", "laa-apply-production", "--estate", on_fake).out))
    for kind in (VAP, BINDING):
        wanted = {d["metadata"]["name"]: d for d in printed if d["kind"] == kind}
        assert len(wanted) >= 18 and _names(fake, kind) == set(wanted)
        for name, doc in wanted.items():
            live = fake.find(ADM, kind, "", name)
            assert live["spec"] == doc["spec"] and live["metadata"]["labels"][ownership.PART_OF] == PARENT_ID
            assert doc["metadata"]["labels"][ownership.PART_OF] == PARENT_ID  # render and apply agree on ownership
    patched = [p.split("/")[-2] for m, p in _admission_requests(fake) if m == "PATCH"]
    assert patched.index("validatingadmissionpolicybindings") == patched.count("validatingadmissionpolicies")

    before = len(fake.requests)
    done = cli("cluster", "plan", *base)
    assert (
        "Plan: would create 0, update 0 (0 drifted), prune 0, delete 0; 5 environment(s) unchanged since "
        "their last apply; admission policies unchanged." in done.out
    )
    assert _admission_requests(fake)[-1][0] == "PATCH" and len(fake.requests) - before == 5
    done = cli("cluster", "plan", *base, "--all")  # every object compared with the live one
    assert done.code == 0 and VAP not in done.out.replace("note:", "") and "would create 0, update 0" in done.out


def test_plan_as_json_includes_the_policies_and_the_notes(cli, on_fake, fake):
    done = cli("cluster", "plan", "--cluster", "live", "--estate", on_fake, "--output", "json")
    assert done.code == 0, done.err
    reports = json.loads(done.out)
    (platform,) = [r for r in reports if r["scope"] == "platform"]
    assert platform["environment"] == "civic-system" and platform["create"] == 1 + 2 * len(_names_of(on_fake))
    objects = {o["object"]: o["verb"] for o in platform["outcomes"]}
    assert objects[f"{VAP} civic-pod-privileged"] == "create" and objects["Namespace civic-system"] == "create"
    assert any(n.startswith("policy 'ingress-unique-host' is not enforced") for n in platform["notes"])
    assert all(r["scope"] == "environment" and r["notes"] == [] for r in reports if r is not platform)


def _names_of(estate: str) -> set[str]:
    return {m["metadata"]["name"] for m in _rendered(estate).sets[0].members}


def test_a_policy_turned_off_or_removed_from_the_estate_is_pruned_on_the_next_apply(cli, on_fake, fake):
    base = ("--cluster", "live", "--estate", on_fake)
    _write(on_fake, "pod-team-label.yaml", OWN_POLICY)
    assert cli("cluster", "apply", *base).code == 0
    assert {"civic-pod-team-label", "civic-pod-privileged"} <= _names(fake, VAP)
    assert fake.find(ADM, BINDING, "", "civic-pod-team-label")["spec"]["validationActions"] == ["Warn", "Audit"]

    os.remove(os.path.join(on_fake, "policies", "pod-team-label.yaml"))
    _write(on_fake, "pod-privileged.yaml", PRIVILEGED_OFF)
    done = cli("cluster", "plan", *base)
    assert f"prune {VAP} civic-pod-privileged" in done.out and fake.find(ADM, VAP, "", "civic-pod-privileged")
    done = cli("cluster", "apply", *base)
    assert done.code == 0, done.err
    pruned = [line for line in done.out.splitlines() if line.startswith("prune ")]
    assert sorted(pruned) == sorted(
        f"prune {kind} civic-{name}" for kind in (VAP, BINDING) for name in ("pod-privileged", "pod-team-label")
    )
    assert [line.split()[1] for line in pruned] == [BINDING, BINDING, VAP, VAP]  # bindings first
    for kind in (VAP, BINDING):
        assert not {"civic-pod-privileged", "civic-pod-team-label"} & _names(fake, kind)
        assert "civic-pod-seccomp" in _names(fake, kind)
    assert "admission policies unchanged" in cli("cluster", "plan", *base).out


def _sync_policies(fake, enforced: admission.Admission) -> cluster.Report:
    async def go():
        api = client_mod.Client.from_kubeconfig(fake.kubeconfig_path)
        try:
            return await cluster.sync_policies(api, enforced)
        finally:
            await api.aclose()

    return asyncio.run(go())


def test_when_no_policy_is_left_the_kinds_are_found_from_the_parent_and_everything_is_pruned(fake, loaded):
    enforced = admission.render(policy.policy_set(loaded), targets.cluster(loaded, "live"))
    first = _sync_policies(fake, enforced)
    assert first.count("create") == 1 + len(enforced.objects) and first.platform
    report = _sync_policies(fake, admission.Admission(()))  # every policy turned off: no kind rendered
    assert report.count("prune") == len(enforced.objects)
    assert fake.of_kind(VAP) == [] and fake.of_kind(BINDING) == []
    annotations = fake.find("v1", "ConfigMap", "civic-system", "civic-admission")["metadata"]["annotations"]
    assert annotations[ownership.ANN_GROUP_KINDS] == ""
    assert fake.find("v1", "Namespace", "", "civic-system") is not None


def test_a_same_named_policy_another_tool_owns_is_left_alone_and_reported(cli, on_fake, fake):
    theirs = {
        "apiVersion": ADM,
        "kind": VAP,
        "metadata": {"name": "civic-pod-privileged"},
        "spec": {"failurePolicy": "Ignore", "validations": [{"expression": "true"}]},
    }
    fake.apply((ADM, VAP, "", "civic-pod-privileged"), theirs, manager="kubectl", force=False, dry_run=False)
    base = ("--cluster", "live", "--estate", on_fake)
    done = cli("cluster", "apply", *base)
    assert done.code == 1
    assert f"foreign {VAP} civic-pod-privileged  exists and belongs to another tool (kubectl); left alone." in done.out
    assert f"foreign {BINDING} civic-pod-privileged  not applied: it would bind {VAP} civic-pod-privileged" in done.out
    live = fake.find(ADM, VAP, "", "civic-pod-privileged")
    assert live["spec"] == theirs["spec"] and ownership.PART_OF not in live["metadata"].get("labels", {})
    assert fake.find(ADM, BINDING, "", "civic-pod-privileged") is None
    assert fake.find(ADM, VAP, "", "civic-pod-seccomp") is not None
    done = cli("cluster", "plan", *base)  # an incomplete apply is looked at again, and still reported
    assert done.code == 1 and f"foreign {VAP} civic-pod-privileged" in done.out
    _write(on_fake, "pod-privileged.yaml", PRIVILEGED_OFF)
    done = cli("cluster", "apply", *base)  # not Civic's to prune either
    assert done.code == 0 and fake.find(ADM, VAP, "", "civic-pod-privileged")["spec"] == theirs["spec"]


def test_removing_environments_never_deletes_civic_system(cli, on_fake, fake):
    base = ("--cluster", "live", "--estate", on_fake)
    assert cli("cluster", "apply", *base).code == 0
    replace_in(os.path.join(on_fake, "civic.yaml"), ', "hmpps-*"]', "]")
    for flags in (("--no-policies",), ()):
        done = cli("cluster", "apply", *base, "--allow-delete-production", *flags)
        assert done.code == 0, done.err
        assert "civic-system" not in done.out
        assert fake.find("v1", "Namespace", "", "civic-system") is not None
        assert fake.find("v1", "ConfigMap", "civic-system", "civic-admission") is not None
        assert "civic-pod-privileged" in _names(fake, VAP)
    assert {n["metadata"]["name"] for n in fake.of_kind("Namespace")} == {
        "laa-apply-staging",
        "laa-apply-production",
        "civic-system",
    }


def test_no_policies_sends_none_and_one_environment_leaves_them_alone(cli, on_fake, fake):
    base = ("--cluster", "live", "--estate", on_fake)
    done = cli("cluster", "apply", *base, "--no-policies")
    assert done.code == 0 and VAP not in done.out
    assert _admission_requests(fake) == [] and fake.find("v1", "Namespace", "", "civic-system") is None
    assert cli("cluster", "apply", *base).code == 0
    _write(on_fake, "pod-privileged.yaml", PRIVILEGED_OFF)
    before = len(_admission_requests(fake))
    done = cli("cluster", "apply", *base, "--env", "laa-apply-staging")
    assert done.code == 0 and VAP not in done.out and "civic-system" not in done.out
    assert len(_admission_requests(fake)) == before and "civic-pod-privileged" in _names(fake, VAP)
    assert cli("cluster", "apply", *base, "--no-policies").code == 0
    assert "civic-pod-privileged" in _names(fake, VAP)
    assert "with --env they are left alone" in " ".join(cli("cluster", "apply", "--help").out.split())


def test_a_cluster_older_than_1_30_reports_the_missing_capability(cli, on_old_fake, old_fake):
    estate = on_old_fake
    path = os.path.join(estate, "civic.yaml")
    with open(path, encoding="utf-8") as f:
        text = f.read()
    with open(path, "w", encoding="utf-8") as f:
        f.write(text.replace('kubernetesVersion: "1.30"', 'kubernetesVersion: "1.29"', 1))
    base = ("--cluster", "live", "--estate", estate)
    for command in ("plan", "apply"):
        done = cli("cluster", command, *base)
        assert done.code == 0, done.err
        assert (
            f"missing-capability {VAP} *  {ADM} {VAP} needs Kubernetes 1.30 or later; cluster 'live' "
            "targets 1.29, so Civic's policies are not enforced in it" in done.out
        )
    assert _admission_requests(old_fake) == [] and old_fake.find("v1", "Namespace", "", "civic-system") is None
    assert old_fake.find("v1", "Namespace", "", "laa-apply-production") is not None
    done = cli("cluster", "plan", *base, "--output", "json")
    (platform,) = [r for r in json.loads(done.out) if r["scope"] == "platform"]
    assert platform["missing"] == [f"{ADM} {VAP}"]


def test_a_cluster_said_to_be_1_30_that_serves_no_vap_reports_it_too(cli, on_old_fake, old_fake):
    estate = on_old_fake
    done = cli("cluster", "apply", "--cluster", "live", "--estate", estate)
    assert done.code == 0, done.err
    assert f"missing-capability {VAP} *  the cluster does not serve {ADM} {VAP}; it needs Kubernetes 1.30" in done.out
    assert not [p for m, p in old_fake.requests if m != "GET" and "admissionregistration" in p]


def test_status_shows_the_policies_health(cli, on_fake, fake):
    base = ("--cluster", "live", "--estate", on_fake)
    assert cli("cluster", "apply", *base).code == 0
    done = cli("cluster", "status", *base, "--output", "json")
    rows = {r["object"]: r for r in json.loads(done.out)}
    assert (
        rows[f"{VAP} civic-pod-privileged"]["health"] == "healthy"
        and rows[f"{VAP} civic-pod-privileged"]["environment"] == "civic-system"
    )
    fake.set_status(
        ADM,
        VAP,
        "",
        "civic-pod-seccomp",
        {
            "typeChecking": {
                "expressionWarnings": [
                    {"fieldRef": "spec.validations[0].expression", "warning": "no such key: seccompProfile"}
                ]
            }
        },
    )
    done = cli("cluster", "status", *base, "--output", "json")
    row = {r["object"]: r for r in json.loads(done.out)}[f"{VAP} civic-pod-seccomp"]
    assert row["health"] == "degraded" and "no such key: seccompProfile" in row["message"]
    done = cli("cluster", "status", *base)
    assert done.code == 1 and "degraded" in done.out
    done = cli("cluster", "status", *base, "--env", "laa-apply-staging", "--output", "json")
    assert not [r for r in json.loads(done.out) if VAP in r["object"]]


def test_an_environment_called_civic_system_cannot_be_placed_on_a_cluster(cli, cluster_estate):
    environments = os.path.join(cluster_estate, "environments")
    with open(os.path.join(environments, "laa-apply-dev", "environment.yaml"), encoding="utf-8") as f:
        text = f.read().replace("laa-apply-dev", "civic-system")
    os.mkdir(os.path.join(environments, "civic-system"))
    with open(os.path.join(environments, "civic-system", "environment.yaml"), "w", encoding="utf-8") as f:
        f.write(text)
    path = os.path.join(cluster_estate, "civic.yaml")
    with open(path, encoding="utf-8") as f:
        text = f.read()
    with open(path, "w", encoding="utf-8") as f:
        f.write(text.replace("environments: [laa-apply-dev,", "environments: [civic-system, laa-apply-dev,"))
    done = cli("cluster", "plan", "--cluster", "dev", "--estate", cluster_estate)
    assert (
        done.code == 1
        and "environment 'civic-system' cannot live on a cluster: Civic keeps its "
        "cluster-wide objects' ApplySets in that namespace"
        in done.err
    )
