"""The control plane constructs the Kubernetes backend itself and drives it as it drives the
local one: a recorded revision is reconciled onto the cluster and observed back.

There is no Kubernetes API server on these machines: the cluster here is the FAKE one
(tests/kubernetes/fakecluster.py) on loopback, reached through an ordinary kubeconfig.
"""

from __future__ import annotations

import asyncio
import os

from civic.backends.kubernetes import backend as kube_backend
from civic.backends.kubernetes import targets
from civic.control import applying, plane
from civic.store import crypto, state

ENV = "laa-apply-production"


def test_civic_up_on_kubernetes_reconciles_a_deploy_onto_the_cluster(fake, loaded, services, tmp_path, monkeypatch):
    monkeypatch.setenv("CIVIC_KUBECONFIG", fake.kubeconfig_path)
    store = state.StateStore(os.path.join(tmp_path, "state.db"))
    try:
        applying.apply(loaded, store, revision=None)
        box = crypto.SecretBox.load(os.path.join(tmp_path, "secret.key"))
        ctx = plane.context(store, box)
        settings = plane.Settings(
            run_dir=str(tmp_path / "run"),
            monitoring=False,
            backend="kubernetes",
            cluster=targets.cluster(loaded, "live").model_copy(update={"context": None}),
        )
        web = next(s for s in services if s.metadata.name == "web")
        ctx.records.add_revision(ENV, "web", spec=web.canonical(), by="test")

        async def go():
            control = plane.ControlPlane(ctx, settings)
            try:
                await control.reconciler.reconcile(ENV)
                return control.backend, await control.describe(ENV, "web"), control.url(ENV, "web")
            finally:
                await control.backend.aclose()

        backend, described, url = asyncio.run(go())
    finally:
        store.close()
    assert isinstance(backend, kube_backend.KubernetesBackend)
    assert fake.find("apps/v1", "Deployment", ENV, "web") is not None
    assert described["revision"] == 1 and described["observedRevision"] == 1
    assert described["health"] == "progressing"  # the FAKE cluster runs no pods until told
    assert url == "https://web.laa-apply-production.apps.live.cloud-platform.service.justice.gov.uk/"
