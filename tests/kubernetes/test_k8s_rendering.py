"""Rendering the example estate: golden files, official schemas, secure defaults, no secrets.

Golden files live in tests/kubernetes/golden/; after an intended change to rendering,
run with CIVIC_UPDATE_GOLDEN=1 and review the diff. Values in, YAML out: no cluster.
"""

from __future__ import annotations

import base64
import os
import subprocess

import pytest
import yaml

from civic.backends.kubernetes import inputs, rendering, targets, validation

GOLDEN = os.path.join(os.path.dirname(__file__), "golden")
CASES = [("laa-apply-production", "live"), ("laa-apply-dev", "dev"), ("hmpps-book-visit-prod", "live")]


def _render(loaded, env, cluster, services, **kwargs):
    return rendering.render(inputs.desired(loaded, env, services=services, **kwargs), targets.cluster(loaded, cluster))


def _by_kind(objects, kind, name=None):
    return [o for o in objects if o["kind"] == kind and (name is None or o["metadata"]["name"] == name)]


@pytest.mark.parametrize(("env", "cluster"), CASES)
def test_rendering_matches_the_golden_file(loaded, services, env, cluster):
    text = rendering.to_yaml(_render(loaded, env, cluster, services).objects())
    path = os.path.join(GOLDEN, f"{env}.yaml")
    if os.environ.get("CIVIC_UPDATE_GOLDEN"):
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
    with open(path, encoding="utf-8") as f:
        assert text == f.read(), f"rendering changed; compare with {path}"


def test_the_supported_range_is_what_kubernetes_validate_ships():
    shipped = validation.versions()
    assert targets.OLDEST in shipped and targets.NEWEST in shipped


def test_every_object_of_every_environment_is_valid_at_the_oldest_and_newest_version(loaded, services):
    objects = []
    for env in loaded.environments:
        for cluster in ("live", "dev"):
            objects += _render(loaded, env, cluster, services).objects()
    kinds = {o["kind"] for o in objects}
    assert {"ExternalSecret", "Secret", "ServiceMonitor", "PrometheusRule", "HorizontalPodAutoscaler"} <= kinds
    assert validation.check_all(objects, (targets.OLDEST, targets.NEWEST)) == []


def test_strict_validation_catches_an_unknown_field_and_a_bad_crd_value(loaded, services):
    objects = _render(loaded, "laa-apply-production", "live", services).objects()
    deployment = _by_kind(objects, "Deployment", "web")[0]
    deployment["spec"]["template"]["spec"]["containers"][0]["imagePullPolicyy"] = "Always"
    rule = _by_kind(objects, "PrometheusRule", "web")[0]
    rule["spec"]["groups"][0]["rules"][0]["for"] = "five minutes"
    wrong = validation.problems(deployment, targets.OLDEST) + validation.problems(rule, targets.NEWEST)
    assert any("imagePullPolicyy" in w and "Deployment laa-apply-production/web" in w for w in wrong)
    assert any("spec.groups.0.rules.0.for" in w and "five minutes" in w for w in wrong)


def test_deployments_get_secure_defaults_and_no_replicas_under_an_autoscaler(loaded, services):
    objects = _render(loaded, "laa-apply-production", "live", services).objects()
    web, worker = _by_kind(objects, "Deployment", "web")[0], _by_kind(objects, "Deployment", "worker")[0]
    assert "replicas" not in web["spec"] and worker["spec"]["replicas"] == 1
    assert _by_kind(objects, "HorizontalPodAutoscaler", "web") and not _by_kind(
        objects, "HorizontalPodAutoscaler", "worker"
    )
    for deployment in (web, worker):
        pod = deployment["spec"]["template"]["spec"]
        context = pod["containers"][0]["securityContext"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        assert context["allowPrivilegeEscalation"] is False and context["capabilities"] == {"drop": ["ALL"]}
        assert set(pod["containers"][0]["resources"]) == {"limits", "requests"}
    probe = web["spec"]["template"]["spec"]["containers"][0]["livenessProbe"]
    assert probe["httpGet"] == {"path": "/ping", "port": "http"} and probe["failureThreshold"] == 5
    assert worker["spec"]["template"]["spec"]["containers"][0]["command"][-1] == "$(PORT)"


def test_references_become_secret_key_refs_never_values(loaded, services):
    objects = _render(
        loaded, "laa-apply-production", "live", services, secrets={"secrets.api-key": "s3cr3t-api-key"}
    ).objects()
    text = rendering.to_yaml(objects)
    assert "s3cr3t" not in text and base64.b64encode(b"s3cr3t-api-key").decode() not in text
    env = {
        e["name"]: e
        for e in _by_kind(objects, "Deployment", "web")[0]["spec"]["template"]["spec"]["containers"][0]["env"]
    }
    assert env["DATABASE_URL"]["valueFrom"] == {"secretKeyRef": {"name": "civic-secrets", "key": "services.db.url"}}
    assert env["CACHE"]["value"] == "redis://$(CIVIC_REF_0):$(CIVIC_REF_1)/0"
    assert env["CIVIC_REF_0"]["valueFrom"]["secretKeyRef"]["key"] == "services.cache.host"
    external = _by_kind(objects, "ExternalSecret")[0]
    keys = {d["secretKey"]: d["remoteRef"] for d in external["spec"]["data"]}
    assert keys["secrets.notify-key"] == {"key": "laa-apply-production/notify-key"}
    assert keys["services.db.url"] == {"key": "laa-apply-production/services/db", "property": "url"}
    assert not _by_kind(objects, "Secret")


def test_a_development_cluster_gets_a_plain_secret_with_only_the_values_given(loaded, services):
    objects = _render(loaded, "laa-apply-dev", "dev", services, secrets={"secrets.api-key": "dev-key"}).objects()
    secret = _by_kind(objects, "Secret", "civic-secrets")[0]
    assert secret["data"] == {"secrets.api-key": base64.b64encode(b"dev-key").decode()}
    assert "services.db.url" in secret["metadata"]["annotations"]["civic.dev/missing-values"]
    assert not _by_kind(objects, "ExternalSecret")


def test_namespace_access_and_network_follow_the_environment(loaded, services):
    objects = _render(loaded, "laa-apply-production", "live", services).objects()
    namespace = objects[0]
    assert namespace["kind"] == "Namespace"
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce-version"] == "v1.30"
    assert namespace["metadata"]["labels"]["civic.dev/is-production"] == "true"
    (binding,) = _by_kind(objects, "RoleBinding")
    assert binding["subjects"] == [
        {"kind": "Group", "name": "github:laa-apply-for-legal-aid", "apiGroup": "rbac.authorization.k8s.io"}
    ]
    policies = {p["metadata"]["name"]: p for p in _by_kind(objects, "NetworkPolicy")}
    assert "ingress" not in policies["default-deny"]["spec"]
    assert policies["allow-monitoring"]["spec"]["ingress"][0]["from"][0]["namespaceSelector"] == {
        "matchLabels": {"kubernetes.io/metadata.name": "monitoring"}
    }
    ingress = _by_kind(objects, "Ingress", "web")[0]
    assert ingress["metadata"]["annotations"] == {
        "cert-manager.io/cluster-issuer": "letsencrypt-production",
        "nginx.ingress.kubernetes.io/force-ssl-redirect": "true",
    }
    assert ingress["spec"]["tls"][0]["hosts"] == [
        "web.laa-apply-production.apps.live.cloud-platform.service.justice.gov.uk"
    ]


def test_allow_from_adds_one_policy_per_named_environment(loaded, services):
    assert loaded.environments["laa-apply-staging"].spec.network.allow_from == ["laa-apply-dev"]
    objects = _render(loaded, "laa-apply-staging", "live", services).objects()
    policy = _by_kind(objects, "NetworkPolicy", "allow-from-laa-apply-dev")[0]
    assert policy["spec"]["ingress"][0]["from"][0]["namespaceSelector"]["matchLabels"] == {
        "kubernetes.io/metadata.name": "laa-apply-dev"
    }


def test_members_carry_their_applyset_id_computed_as_kubectl_does(loaded, services):
    rendered = _render(loaded, "laa-apply-production", "live", services)
    # kubectl: base64url(sha256("civic-service-web.laa-apply-production.ConfigMap.")), no padding
    import hashlib

    expected = (
        "applyset-"
        + base64.urlsafe_b64encode(hashlib.sha256(b"civic-service-web.laa-apply-production.ConfigMap.").digest())
        .decode()
        .rstrip("=")
        + "-v1"
    )
    web = next(s for s in rendered.sets if s.service == "web")
    assert web.id == expected
    assert all(m["metadata"]["labels"]["applyset.kubernetes.io/part-of"] == expected for m in web.members)
    kinds = web.parent["metadata"]["annotations"]["applyset.kubernetes.io/contains-group-kinds"]
    assert "Deployment.apps" in kinds.split(",") and "Service" in kinds.split(",")


def test_rendering_is_deterministic_and_the_digest_follows_the_content(loaded, services):
    first = _render(loaded, "laa-apply-production", "live", services)
    again = _render(loaded, "laa-apply-production", "live", services)
    fewer = _render(loaded, "laa-apply-production", "live", services[:1])
    assert first.digest == again.digest and first.objects() == again.objects()
    assert fewer.digest != first.digest


def test_promtool_accepts_the_rendered_alert_rules(loaded, services, tmp_path):
    objects = _render(loaded, "laa-apply-production", "live", services).objects()
    groups = [g for rule in _by_kind(objects, "PrometheusRule") for g in rule["spec"]["groups"]]
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump({"groups": groups}))
    done = subprocess.run(["promtool", "check", "rules", str(path)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS: 9 rules found" in done.stdout
