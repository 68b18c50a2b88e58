"""The apply engine against a FAKE cluster (fakecluster.py): no real API server can run here.

The fake serves real HTTP on loopback and implements server-side apply with field
ownership, conflicts, dry-run, selectors, resourceVersion and generation; the tests
check the state of the fake cluster afterwards, not which calls were made (except
where the number of requests is the point).
"""

from __future__ import annotations

import asyncio

import pytest

from civic.backends.kubernetes import client as client_mod
from civic.backends.kubernetes import cluster, inputs, rendering, targets

NS = "laa-apply-production"


def _render(loaded, services, env=NS, **kwargs):
    return rendering.render(
        inputs.desired(loaded, env, services=services, **kwargs),
        targets.cluster(loaded, targets.cluster_of(loaded, env).name),
    )


def _sync(fake, rendered, **kwargs):
    async def go():
        api = client_mod.Client.from_kubeconfig(fake.kubeconfig_path)
        try:
            return await cluster.sync(api, rendered, **kwargs)
        finally:
            await api.aclose()

    return asyncio.run(go())


def test_first_apply_creates_everything_in_dependency_order_and_the_second_changes_nothing(fake, loaded, services):
    rendered = _render(loaded, services)
    report = _sync(fake, rendered)
    objects = len(rendered.objects()) - len(rendered.sets)  # parents are bookkeeping, not outcomes
    assert report.count("create") == objects and not report.missing
    patched = [path for method, path in fake.requests if method == "PATCH"]
    order = [p.split("/")[-2] for p in patched]
    assert order[0] == "namespaces" and order[1] == "configmaps"
    assert order.index("services") < order.index("deployments") < order.index("horizontalpodautoscalers")
    deployment = fake.find("apps/v1", "Deployment", NS, "web")
    assert [f["manager"] for f in deployment["metadata"]["managedFields"]] == ["civic"]
    assert deployment["metadata"]["generation"] == 1
    version = deployment["metadata"]["resourceVersion"]
    again = _sync(fake, rendered)
    assert again.count("unchanged") == objects and again.count("create") == 0
    assert fake.find("apps/v1", "Deployment", NS, "web")["metadata"]["resourceVersion"] == version
    parent = fake.find("v1", "ConfigMap", NS, "civic-environment")
    assert parent["metadata"]["annotations"]["civic.dev/desired-hash"] == rendered.digest


def test_a_plan_on_a_new_cluster_creates_everything_and_writes_nothing(fake, loaded, services):
    rendered = _render(loaded, services)
    report = _sync(fake, rendered, dry_run=True)
    assert (
        report.count("create") == len(rendered.objects()) - len(rendered.sets)
        and fake.count("PATCH") == 0
        and not fake.objects
    )


def test_removed_services_and_kinds_are_pruned_and_nothing_else(fake, loaded, services):
    _sync(fake, _render(loaded, services))
    fake.apply(
        ("v1", "ConfigMap", NS, "team-notes"),
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "team-notes", "namespace": NS},
            "data": {"a": "b"},
        },
        manager="kubectl",
        force=False,
        dry_run=False,
    )
    web = services[0].model_copy(update={"spec": services[0].spec.model_copy(update={"metrics_path": None})})
    report = _sync(fake, _render(loaded, [web]))
    pruned = {o.ref for o in report.outcomes if o.verb == "prune"}
    assert pruned == {
        f"ServiceMonitor {NS}/web",
        f"Deployment {NS}/worker",
        f"Service {NS}/worker",
        f"Ingress {NS}/worker",
        f"PodDisruptionBudget {NS}/worker",
        f"PrometheusRule {NS}/worker",
        f"ConfigMap {NS}/civic-service-worker",
    }
    assert fake.find("apps/v1", "Deployment", NS, "worker") is None
    assert fake.find("monitoring.coreos.com/v1", "ServiceMonitor", NS, "web") is None
    assert fake.find("apps/v1", "Deployment", NS, "web") is not None
    assert fake.find("v1", "ConfigMap", NS, "team-notes") is not None
    kinds = fake.find("v1", "ConfigMap", NS, "civic-service-web")["metadata"]["annotations"][
        "applyset.kubernetes.io/contains-group-kinds"
    ]
    assert "ServiceMonitor.monitoring.coreos.com" not in kinds


def test_unknown_services_are_left_alone_when_the_caller_does_not_manage_services(fake, loaded, services):
    _sync(fake, _render(loaded, services))
    report = _sync(fake, _render(loaded, []), manage_services=False)
    assert report.count("prune") == 0 and fake.find("apps/v1", "Deployment", NS, "worker") is not None


def test_an_object_another_tool_owns_is_reported_and_never_touched(fake, loaded, services):
    _sync(fake, _render(loaded, []))  # the namespace and environment objects
    helm = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": NS, "labels": {"app.kubernetes.io/managed-by": "Helm"}},
        "spec": {"template": {"spec": {"containers": [{"name": "web", "image": "helm:1"}]}}},
    }
    fake.apply(("apps/v1", "Deployment", NS, "web"), helm, manager="helm", force=False, dry_run=False)
    report = _sync(fake, _render(loaded, services))
    foreign = [o for o in report.outcomes if o.verb == "foreign"]
    assert [o.ref for o in foreign] == [f"Deployment {NS}/web"] and "helm" in foreign[0].detail
    live = fake.find("apps/v1", "Deployment", NS, "web")
    assert live["spec"]["template"]["spec"]["containers"][0]["image"] == "helm:1"
    assert "applyset.kubernetes.io/part-of" not in live["metadata"]["labels"]
    assert fake.find("apps/v1", "Deployment", NS, "worker") is not None


def test_the_autoscalers_replicas_are_not_drift_and_survive_an_apply(fake, loaded, services):
    rendered = _render(loaded, services)
    _sync(fake, rendered)
    fake.update("apps/v1", "Deployment", NS, "web", {"spec": {"replicas": 5}}, manager="kube-controller-manager")
    plan = _sync(fake, rendered, dry_run=True)
    assert plan.count("update") == 0 and not plan.drift
    _sync(fake, rendered)
    assert fake.find("apps/v1", "Deployment", NS, "web")["spec"]["replicas"] == 5


def test_an_edit_by_hand_is_drift_that_the_plan_shows_and_the_apply_reverts(fake, loaded, services):
    rendered = _render(loaded, services)
    _sync(fake, rendered)
    live = fake.find("apps/v1", "Deployment", NS, "worker")
    containers = live["spec"]["template"]["spec"]["containers"]
    containers[0]["image"] = "evil:latest"
    fake.update(
        "apps/v1",
        "Deployment",
        NS,
        "worker",
        {"spec": {"template": {"spec": {"containers": containers}}}},
        manager="kubectl-edit",
    )
    plan = _sync(fake, rendered, dry_run=True)
    (drifted,) = plan.drift
    assert drifted.ref == f"Deployment {NS}/worker"
    assert [str(c) for c in drifted.changes] == ["spec.template.spec.containers (changed by kubectl-edit)"]
    assert fake.find("apps/v1", "Deployment", NS, "worker")["metadata"]["generation"] == 2
    _sync(fake, rendered)
    after = fake.find("apps/v1", "Deployment", NS, "worker")
    assert after["spec"]["template"]["spec"]["containers"][0]["image"].startswith("ghcr.io/")
    assert after["metadata"]["generation"] == 3


def test_applying_without_force_over_another_managers_field_is_a_conflict(fake, loaded, services):
    rendered = _render(loaded, services)
    _sync(fake, rendered)
    fake.update("apps/v1", "Deployment", NS, "worker", {"spec": {"replicas": 3}}, manager="kubectl-scale")
    worker = next(o for o in rendered.objects() if o["kind"] == "Deployment" and o["metadata"]["name"] == "worker")

    async def go():
        api = client_mod.Client.from_kubeconfig(fake.kubeconfig_path)
        try:
            resource = await api.resource("apps/v1", "Deployment")
            with pytest.raises(client_mod.Conflict) as caught:
                await api.apply(resource, worker)
            return caught.value
        finally:
            await api.aclose()

    conflict = asyncio.run(go())
    assert conflict.fields == [".spec.replicas"] and "kubectl-scale" in conflict.message
    assert fake.find("apps/v1", "Deployment", NS, "worker")["spec"]["replicas"] == 3


def test_kinds_the_cluster_does_not_serve_are_missing_capabilities_not_requests(bare_fake, loaded, services):
    report = _sync(bare_fake, _render(loaded, services))
    assert report.missing == {
        "monitoring.coreos.com/v1 ServiceMonitor",
        "monitoring.coreos.com/v1 PrometheusRule",
        "external-secrets.io/v1 ExternalSecret",
    }
    assert not any(
        "monitoring.coreos.com/v1/" in path or "external-secrets" in path
        for method, path in bare_fake.requests
        if method != "GET" or "/namespaces/" in path
    )
    assert bare_fake.find("apps/v1", "Deployment", NS, "web") is not None
    kinds = bare_fake.find("v1", "ConfigMap", NS, "civic-service-web")["metadata"]["annotations"][
        "applyset.kubernetes.io/contains-group-kinds"
    ]
    assert "PrometheusRule" not in kinds
