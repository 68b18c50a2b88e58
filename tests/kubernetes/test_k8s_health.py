"""Health as Argo CD judges it (values in, verdicts out), and the backend protocol over the FAKE cluster."""

from __future__ import annotations

import asyncio
import os

import pytest

from civic.backends import base
from civic.backends.kubernetes import backend as backend_mod
from civic.backends.kubernetes import client as client_mod
from civic.backends.kubernetes import health, inputs, targets

H = base.Health


def _deployment(generation=2, wanted=3, **status):
    return {
        "kind": "Deployment",
        "metadata": {"name": "web", "generation": generation},
        "spec": {"replicas": wanted},
        "status": status,
    }


@pytest.mark.parametrize(
    ("obj", "verdict", "words"),
    [
        (
            _deployment(observedGeneration=1, updatedReplicas=3, availableReplicas=3, replicas=3),
            H.PROGRESSING,
            "observed generation is behind",
        ),
        (
            _deployment(observedGeneration=2, updatedReplicas=1, availableReplicas=1, replicas=3),
            H.PROGRESSING,
            "1 of 3 new replicas updated",
        ),
        (
            _deployment(observedGeneration=2, updatedReplicas=3, availableReplicas=3, replicas=4),
            H.PROGRESSING,
            "1 old replicas are pending termination",
        ),
        (
            _deployment(observedGeneration=2, updatedReplicas=3, availableReplicas=2, replicas=3),
            H.PROGRESSING,
            "2 of 3 updated replicas available",
        ),
        (
            _deployment(
                observedGeneration=2,
                updatedReplicas=1,
                replicas=3,
                conditions=[{"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded"}],
            ),
            H.DEGRADED,
            "exceeded its progress deadline",
        ),
        (_deployment(observedGeneration=2, updatedReplicas=3, availableReplicas=3, replicas=3), H.HEALTHY, "3 of 3"),
        (_deployment(wanted=0, observedGeneration=2), H.SUSPENDED, "scaled to zero"),
        (
            {
                "kind": "HorizontalPodAutoscaler",
                "status": {
                    "conditions": [
                        {
                            "type": "ScalingActive",
                            "status": "False",
                            "reason": "FailedGetResourceMetric",
                            "message": "missing request for cpu",
                        }
                    ]
                },
            },
            H.DEGRADED,
            "missing request for cpu",
        ),
        (
            {
                "kind": "ExternalSecret",
                "status": {"conditions": [{"type": "Ready", "status": "False", "message": "key not found"}]},
            },
            H.DEGRADED,
            "key not found",
        ),
        ({"kind": "Ingress", "status": {}}, H.PROGRESSING, "address"),
        ({"kind": "ConfigMap"}, H.HEALTHY, ""),
        (None, H.MISSING, "not found"),
    ],
)
def test_health_follows_argo_cd(obj, verdict, words):
    got, message = health.judge(obj)
    assert got is verdict and words in message


def test_the_backend_protocol_applies_observes_and_removes_an_environment(fake, loaded, services):
    """Through KubernetesBackend only, as the reconciler will call it (the cluster is the FAKE one)."""
    env = "laa-apply-production"
    desired = inputs.desired(loaded, env, services=services)

    async def go():
        backend: base.Backend = backend_mod.KubernetesBackend(
            targets.cluster(loaded, "live"), client_mod.Client.from_kubeconfig(fake.kubeconfig_path)
        )
        try:
            await backend.apply(desired)
            await backend.apply(desired)  # level-based: the second pass changes nothing
            first = await backend.observe(env)
            web = fake.find("apps/v1", "Deployment", env, "web")
            fake.set_status(
                "apps/v1",
                "Deployment",
                env,
                "web",
                {
                    "observedGeneration": web["metadata"]["generation"],
                    "replicas": 2,
                    "updatedReplicas": 2,
                    "availableReplicas": 2,
                    "readyReplicas": 2,
                },
            )
            second = await backend.observe(env)
            report = backend.reports[env]
            await backend.apply(base.DesiredEnvironment(env, loaded.platform, None))
            gone = await backend.observe(env)
            return first, second, report, gone
        finally:
            await backend.aclose()

    first, second, report, gone = asyncio.run(go())
    assert report.count("create") == 0 and report.count("update") == 0
    assert {s.name: s.health for s in first.services} == {"web": H.PROGRESSING, "worker": H.PROGRESSING}
    web = next(s for s in second.services if s.name == "web")
    assert web.health is H.HEALTHY and web.ready == 2 and web.revision == 1
    assert first.exists and not gone.exists


def test_against_a_live_cluster_when_civic_kubeconfig_is_set(loaded, services):
    """The one test that needs a real cluster. CI has none (and no way to run one): there it
    is skipped with this reason shown by ``-ra``; every other test in this folder uses the FAKE."""
    path = os.environ.get("CIVIC_KUBECONFIG")
    if not path:
        pytest.skip(
            "CIVIC_KUBECONFIG is not set: the Kubernetes backend was tested against the FAKE "
            "cluster only (tests/kubernetes/fakecluster.py)"
        )
    from civic.backends.kubernetes import cluster, rendering

    rendered = rendering.render(
        inputs.desired(loaded, "laa-apply-dev", services=services[1:]),
        targets.cluster(loaded, "dev").model_copy(update={"context": None}),
    )

    async def go():
        api = client_mod.Client.from_kubeconfig(path)
        try:
            plan = await cluster.sync(api, rendered, dry_run=True)
            done = await cluster.sync(api, rendered)
            again = await cluster.sync(api, rendered)
            return plan, done, again
        finally:
            await api.aclose()

    plan, done, again = asyncio.run(go())
    assert plan.count("create") + plan.count("update") + plan.count("unchanged") > 0
    assert again.count("update") == 0 and again.count("create") == 0
