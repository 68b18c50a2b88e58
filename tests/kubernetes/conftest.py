"""Fixtures for the Kubernetes backend's tests: an estate with clusters, and services.

The example estate (examples/estate) runs on the local runtime; these fixtures add a
``clusters`` block to a copy's civic.yaml, as docs/kubernetes.md shows a user doing.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from edits import replace_in

from civic.backends.kubernetes import inputs
from civic.spec import estate as estate_mod

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SERVICES = os.path.join(ROOT, "examples", "kubernetes")
WEB = os.path.join(SERVICES, "web.service.yaml")
WORKER = os.path.join(SERVICES, "worker.service.yaml")

CLUSTERS = """  clusters:
    - name: live
      context: live.cloud-platform
      ingressClass: default
      baseDomain: apps.live.cloud-platform.service.justice.gov.uk
      kubernetesVersion: "1.30"
      environments: [laa-apply-staging, laa-apply-production, "hmpps-*"]
    - name: dev
      context: kind-civic
      baseDomain: dev.civic.test
      kubernetesVersion: "1.37"
      development: true
      environments: [laa-apply-dev, opg-lpa-dev]
"""


@pytest.fixture
def cluster_estate(estate_dir) -> str:
    """A copy of the example estate whose civic.yaml declares two clusters."""
    path = os.path.join(estate_dir, "civic.yaml")
    with open(path, "a", encoding="utf-8") as f:
        f.write(CLUSTERS)
    return estate_dir


@pytest.fixture
def loaded(cluster_estate) -> estate_mod.Estate:
    return estate_mod.load(cluster_estate)


@pytest.fixture
def services():
    return [inputs.load_service(WEB), inputs.load_service(WORKER)]


def _serve(tmp_path, **options) -> Iterator:
    import fakecluster

    cluster = fakecluster.FakeCluster(**options)
    url = cluster.start()
    cluster.kubeconfig_path = cluster.kubeconfig(str(tmp_path), url)
    yield cluster
    cluster.stop()


@pytest.fixture
def fake(tmp_path):
    """The FAKE API server (tests/kubernetes/fakecluster.py) on loopback, with a kubeconfig for it."""
    yield from _serve(tmp_path)


@pytest.fixture
def bare_fake(tmp_path):
    """The FAKE API server without the CRDs (no prometheus-operator, no external-secrets)."""
    yield from _serve(tmp_path, crds=False)


def _point_at(estate: str, fake, monkeypatch) -> str:
    replace_in(os.path.join(estate, "civic.yaml"), "context: live.cloud-platform", "context: fake")
    monkeypatch.setenv("CIVIC_KUBECONFIG", fake.kubeconfig_path)
    return estate


@pytest.fixture
def on_fake(cluster_estate, fake, monkeypatch) -> str:
    """The cluster estate, its cluster 'live' being the FAKE API server."""
    return _point_at(cluster_estate, fake, monkeypatch)


@pytest.fixture
def old_fake(tmp_path):
    """The FAKE API server as a cluster older than Kubernetes 1.30: no admissionregistration.k8s.io/v1 VAP."""
    yield from _serve(tmp_path, admission=False)


@pytest.fixture
def on_old_fake(cluster_estate, old_fake, monkeypatch) -> str:
    """The cluster estate, its cluster 'live' being the FAKE API server that serves no VAP."""
    return _point_at(cluster_estate, old_fake, monkeypatch)
