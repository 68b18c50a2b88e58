"""Smaller import gaps: quota requests, host names with a '/', PodMonitors, namespace labels."""

from __future__ import annotations

import pydantic
import pytest

from civic.backends.kubernetes import inputs, manifests, rendering
from civic.control import moj_check
from civic.importers import moj, normalise
from civic.spec import estate, models

LIVE = "live.cloud-platform.service.justice.gov.uk"
NAMESPACE = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: apply-dev\n"


def _read(**files: str) -> moj.Namespace:
    return moj.read_namespace(
        cluster=LIVE, folder="apply-dev", files={"00-namespace.yaml": NAMESPACE} | {k: v for k, v in files.items()}
    )


def _quota(hard: str) -> str:
    return f"apiVersion: v1\nkind: ResourceQuota\nmetadata: {{name: namespace-quota}}\nspec:\n  hard:\n{hard}"


# --- quota ------------------------------------------------------------------------------


def test_quota_requests_are_kept_as_requests_beside_the_limits(fidelity_import):
    dest, report = fidelity_import
    quota = estate.load(dest).environments["chaps-transformed-test"].spec.quota
    assert (quota.replicas, quota.cpu, quota.memory) == (10, "5000m", "4000Mi")
    assert (quota.requests_cpu, quota.requests_memory) == ("1000m", "2000Mi")
    outcomes = {
        e.name.split(": ")[1]: (e.outcome, e.target)
        for e in report.entries
        if e.namespace == "chaps-transformed-test" and e.kind == "ResourceQuota"
    }
    assert outcomes == {
        "pods": ("mapped", "spec.quota.replicas"),
        "limits.cpu": ("mapped", "spec.quota.cpu"),
        "limits.memory": ("mapped", "spec.quota.memory"),
        "requests.cpu": ("mapped", "spec.quota.requestsCpu"),
        "requests.memory": ("mapped", "spec.quota.requestsMemory"),
    }


def test_a_requests_cap_alone_is_kept_as_a_requests_cap():
    ns = _read(**{"03-resourcequota.yaml": _quota('    requests.cpu: "2"\n    memory: 1Gi\n')})
    assert ns.spec["quota"] == {"requestsCpu": "2", "requestsMemory": "1Gi"}


def test_of_two_quotas_the_lower_cap_is_kept():
    ns = _read(
        **{
            "03-resourcequota.yaml": _quota('    limits.cpu: "4"\n    pods: "50"\n'),
            "09-more.yaml": _quota('    limits.cpu: "2"\n    pods: "80"\n'),
        }
    )
    assert ns.spec["quota"] == {"cpu": "2", "replicas": 50}
    mapped = sorted((e.file, e.name) for e in ns.entries if e.kind == "ResourceQuota" and e.outcome == "mapped")
    assert mapped == [
        ("03-resourcequota.yaml", "namespace-quota: pods"),
        ("09-more.yaml", "namespace-quota: limits.cpu"),
    ]


# --- hosts ------------------------------------------------------------------------------


def test_a_host_with_a_trailing_slash_is_trimmed_not_skipped():
    assert normalise.hostname("Apply.Service.gov.uk/") == (
        "apply.service.gov.uk",
        "'Apply.Service.gov.uk/' written as 'apply.service.gov.uk'",
    )
    certificate = (
        "apiVersion: cert-manager.io/v1\nkind: Certificate\nmetadata: {name: apply}\n"
        "spec:\n  dnsNames: [apply.service.gov.uk/]\n"
    )
    ns = _read(**{"05-certificate.yaml": certificate})
    assert [c.value for c in ns.hosts] == ["apply.service.gov.uk"]
    assert not [e for e in ns.entries if e.kind == "Certificate" and e.outcome == "skipped"]


# --- PodMonitor -------------------------------------------------------------------------


def test_a_pod_monitor_is_mapped_as_a_service_monitor_is(fidelity_import):
    dest, report = fidelity_import
    assert not [e for e in report.entries if e.kind == "PodMonitor" and e.outcome == "skipped"]
    scrape = estate.load(dest).environments["intranet-staging"].spec.scrape or []
    assert [(t.name, t.port, t.path, t.interval, t.selector) for t in scrape] == [
        ("intranet-staging", "http", "/metrics/fpm", "600s", {"app": "intranet-staging"}),
        ("intranet-staging-services", "http", "/metrics/service", "30s", {"app": "intranet-staging"}),
    ]
    [pods] = [e for e in report.entries if e.namespace == "intranet-staging" and e.kind == "PodMonitor"]
    assert pods.outcome == "mapped" and "not kept: relabelings" in pods.detail


# --- namespace labels -------------------------------------------------------------------


def test_namespace_labels_others_select_by_are_kept_and_rendered(fidelity_import):
    loaded = estate.load(fidelity_import[0])
    expected = {
        "laa-crown-court-litigator-fees-dev": {"crime-apps-fdc-api-use": "dev"},
        "laa-crime-assessment-service-dev": {"allow-maat-api-use": "dev"},
        "laa-maat-orchestration-uat": {"component": "laa-maat-orchestration-uat"},
    }
    for name, labels in expected.items():
        assert loaded.environments[name].spec.namespace_labels == labels
        [namespace] = [
            o
            for o in rendering.render(inputs.desired(loaded, name), moj_check.LIVE).objects()
            if o["kind"] == "Namespace"
        ]
        assert labels.items() <= namespace["metadata"]["labels"].items()


def test_a_name_label_is_kept_as_a_label_and_kubernetes_own_stay_annotations():
    labels = (
        "  labels:\n    name: formbuilder-base-adapter-test\n    pod-security.kubernetes.io/enforce: restricted\n"
        "    cloud-platform.justice.gov.uk/is-production: 'false'\n"
    )
    ns = _read(**{"00-namespace.yaml": NAMESPACE + labels})
    assert ns.spec["namespaceLabels"] == {"name": "formbuilder-base-adapter-test"}
    assert ns.annotations == {"pod-security.kubernetes.io/enforce": "restricted"}


def _env(labels: dict[str, str]) -> models.Environment:
    spec = {
        "team": "apply",
        "businessUnit": "LAA",
        "application": "Apply",
        "production": False,
        "environmentName": "development",
        "namespaceLabels": labels,
    }
    return models.Environment.model_validate(
        {"apiVersion": "civic/v1", "kind": "Environment", "metadata": {"name": "apply-dev"}, "spec": spec}
    )


def test_civic_own_namespace_labels_win_and_kubernetes_own_are_refused():
    rendered = manifests.namespace(_env({"civic.dev/team": "other", "name": "apply"}), moj_check.LIVE)
    assert rendered["metadata"]["labels"]["civic.dev/team"] == "apply"
    assert rendered["metadata"]["labels"]["name"] == "apply"
    for bad in ({"pod-security.kubernetes.io/enforce": "privileged"}, {"a b": "x"}, {"name": "-x"}):
        with pytest.raises(pydantic.ValidationError):
            _env(bad)
