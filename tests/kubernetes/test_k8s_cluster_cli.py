"""``civic cluster plan|apply|status`` end to end, against the FAKE cluster (fakecluster.py).

No Kubernetes API server can run on these machines; the fake serves real HTTP on
loopback and the CLI reaches it through an ordinary kubeconfig (CIVIC_KUBECONFIG).
"""

from __future__ import annotations

import json
import os

from edits import replace_in

WEB = os.path.join(os.path.dirname(__file__), "..", "..", "examples", "kubernetes", "web.service.yaml")


def test_plan_apply_plan_again_and_status(cli, on_fake, fake):
    base = ("--cluster", "live", "--estate", on_fake)
    done = cli("cluster", "plan", *base)
    assert done.code == 0, done.err
    assert "create Namespace laa-apply-production" in done.out and fake.count("PATCH") == 0
    done = cli("cluster", "apply", *base)
    assert done.code == 0, done.err
    assert {n["metadata"]["name"] for n in fake.of_kind("Namespace")} == {
        "laa-apply-staging",
        "laa-apply-production",
        "hmpps-book-visit-dev",
        "hmpps-book-visit-preprod",
        "hmpps-book-visit-prod",
        "civic-system",
    }  # civic-system: the admission policies' ApplySet parent
    before = len(fake.requests)
    done = cli("cluster", "plan", *base)
    assert "5 environment(s) unchanged since their last apply; admission policies unchanged" in done.out
    # discovery, two lists and one GET of the admission policies' parent (its recorded digest):
    # nothing per environment, nothing per policy
    assert len(fake.requests) - before <= 5
    done = cli("cluster", "apply", *base, "--env", NS, "--service", WEB)
    assert done.code == 0 and f"create Deployment {NS}/web" in done.out
    done = cli("cluster", "status", *base, "--env", NS, "--service", WEB, "--output", "json")
    rows = {r["object"]: r for r in json.loads(done.out)}
    assert rows[f"Deployment {NS}/web"]["health"] == "progressing" and done.code == 0
    generation = fake.find("apps/v1", "Deployment", NS, "web")["metadata"]["generation"]
    fake.set_status(
        "apps/v1",
        "Deployment",
        NS,
        "web",
        {
            "observedGeneration": generation,
            "replicas": 2,
            "updatedReplicas": 2,
            "availableReplicas": 2,
            "readyReplicas": 2,
        },
    )
    fake.set_status("networking.k8s.io/v1", "Ingress", NS, "web", {"loadBalancer": {"ingress": [{"ip": "10.0.0.1"}]}})
    done = cli("cluster", "status", *base, "--env", NS, "--service", WEB, "--output", "json")
    rows = {r["object"]: r for r in json.loads(done.out)}
    assert rows[f"Deployment {NS}/web"]["health"] == "healthy"


NS = "laa-apply-production"


def test_an_environment_removed_from_the_estate_is_deleted_but_production_needs_saying_so(cli, on_fake, fake):
    base = ("--cluster", "live", "--estate", on_fake)
    assert cli("cluster", "apply", *base).code == 0
    replace_in(os.path.join(on_fake, "civic.yaml"), "laa-apply-staging, laa-apply-production, ", "laa-apply-staging, ")
    done = cli("cluster", "apply", *base)
    assert done.code == 1 and "needs --allow-delete-production" in done.err
    assert fake.find("v1", "Namespace", "", NS) is not None
    done = cli("cluster", "apply", *base, "--allow-delete-production")
    assert done.code == 0 and f"delete Namespace {NS}" in done.out
    assert fake.find("v1", "Namespace", "", NS) is None and fake.of_kind("Deployment") == []


def test_a_cluster_that_cannot_be_reached_is_a_clear_error(cli, cluster_estate, tmp_path, monkeypatch):
    config = tmp_path / "kubeconfig"
    config.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: x\nclusters: [{name: c, cluster: "
        "{server: 'http://127.0.0.1:9'}}]\ncontexts: [{name: live.cloud-platform, context: {cluster: c}}]\n"
    )
    monkeypatch.setenv("CIVIC_KUBECONFIG", str(config))
    done = cli("cluster", "plan", "--cluster", "live", "--estate", cluster_estate)
    assert done.code == 1 and "error: cannot reach the cluster at http://127.0.0.1:9" in done.err
    assert "Traceback" not in done.err
    done = cli("cluster", "plan", "--cluster", "dev", "--estate", cluster_estate)
    assert done.code == 1 and f"{config} has no context named 'kind-civic'" in done.err
