"""Kubernetes runs images; the local runtime builds uploaded code.

A service with no ``spec.image`` is refused wherever it would reach a cluster, each time
naming the environment and the service and saying what to do: by ``civic render`` (at its
line), by the Kubernetes backend when the reconciler hands it one (nothing reaches the
cluster), and at deploy time for an environment civic.yaml places on a cluster.
"""

from __future__ import annotations

import asyncio
import os

import pytest

from civic.backends.kubernetes import backend as kube_backend
from civic.backends.kubernetes import targets
from civic.control import applying, deploying, plane
from civic.errors import PlanError, SpecError
from civic.store import crypto, state

WHAT_TO_DO = "add spec.image: the image your CI builds"
WHY = "The local runtime builds uploaded code, Kubernetes runs images."

NO_IMAGE = """apiVersion: civic/v1
kind: Service
metadata:
  name: api
spec:
  run: {command: python app.py}
  port: 8080
  replicas: 2
  readiness: {path: /healthz}
"""


def test_render_refuses_a_service_with_no_image_naming_the_environment_and_the_service(cli, cluster_estate, tmp_path):
    spec = tmp_path / "civic.service.yaml"
    spec.write_text(NO_IMAGE)
    done = cli("render", "laa-apply-staging", "--service", str(spec), "--estate", cluster_estate)
    assert done.code == 1 and done.out == ""
    assert f"{spec}:5:1: spec: service 'api' of environment 'laa-apply-staging' has no image; {WHAT_TO_DO}" in done.err
    assert WHY in done.err and "Traceback" not in done.err
    spec.write_text(NO_IMAGE.replace("spec:\n", "spec:\n  image: ghcr.io/ministryofjustice/api:1.0.0\n"))
    done = cli("render", "laa-apply-staging", "--service", str(spec), "--estate", cluster_estate)
    assert done.code == 0, done.err
    assert "image: ghcr.io/ministryofjustice/api:1.0.0" in done.out


def test_the_backend_refuses_a_revision_with_no_image_and_the_cluster_gets_nothing(
    fake, loaded, services, tmp_path, monkeypatch
):
    env = "laa-apply-production"
    monkeypatch.setenv("CIVIC_KUBECONFIG", fake.kubeconfig_path)
    store = state.StateStore(os.path.join(tmp_path, "state.db"))
    try:
        applying.apply(loaded, store, revision=None)
        ctx = plane.context(store, crypto.SecretBox.load(os.path.join(tmp_path, "secret.key")))
        settings = plane.Settings(
            run_dir=str(tmp_path / "run"),
            monitoring=False,
            backend="kubernetes",
            cluster=targets.cluster(loaded, "live").model_copy(update={"context": None}),
        )
        web = next(s for s in services if s.metadata.name == "web")
        imageless = web.model_copy(update={"spec": web.spec.model_copy(update={"image": None})})
        ctx.records.add_revision(env, "web", spec=imageless.canonical(), by="test")  # past deploy-time checks

        async def go():
            control = plane.ControlPlane(ctx, settings)
            try:
                assert isinstance(control.backend, kube_backend.KubernetesBackend)
                with pytest.raises(PlanError) as refused:
                    await control.reconciler.reconcile(env)
                return refused.value
            finally:
                await control.backend.aclose()

        error = asyncio.run(go())
    finally:
        store.close()
    assert error.message.startswith(
        f"service 'web' of environment '{env}' (on cluster 'live') has no image; {WHAT_TO_DO}"
    )
    assert WHY in error.message
    assert fake.find("apps/v1", "Deployment", env, "web") is None
    assert fake.find("v1", "Namespace", "", env) is None  # a refused render applies nothing at all


def _prepare(loaded, env: str, text: str):
    service, doc = deploying.parse(text, file="civic.service.yaml")
    environment = loaded.environments[env]
    return deploying.prepare(
        service,
        environment=environment,
        platform=loaded.platform,
        others={},
        secret_names=set(environment.spec.secrets),
        doc=doc,
    )


def test_a_deploy_to_an_environment_on_a_cluster_needs_an_image(loaded):
    with pytest.raises(SpecError) as refused:
        _prepare(loaded, "laa-apply-staging", NO_IMAGE)
    (problem,) = refused.value.problems
    assert (problem.file, problem.line, problem.path) == ("civic.service.yaml", 5, "spec")
    assert problem.message.startswith(
        f"service 'api' of environment 'laa-apply-staging' (on cluster 'live') has no image; {WHAT_TO_DO}"
    )
    with_image = NO_IMAGE.replace("spec:\n", "spec:\n  image: ghcr.io/ministryofjustice/api:1.0.0\n")
    assert _prepare(loaded, "laa-apply-staging", with_image).service.spec.image == "ghcr.io/ministryofjustice/api:1.0.0"


def test_a_deploy_to_an_environment_on_no_cluster_needs_no_image(loaded):
    assert targets.cluster_of(loaded, "opg-lpa-production") is None
    assert _prepare(loaded, "opg-lpa-production", NO_IMAGE).service.spec.image is None


def test_a_platform_without_clusters_never_asks_for_an_image(estate_dir):
    from civic.spec import estate as estate_mod

    plain = estate_mod.load(estate_dir)
    assert not plain.platform.spec.clusters
    assert _prepare(plain, "laa-apply-staging", NO_IMAGE).service.metadata.name == "api"
