"""``civic render``: what a user sees, including bad input placed at its line."""

from __future__ import annotations

import os

import yaml

from civic.backends.kubernetes import targets


def test_render_prints_a_stream_kubectl_can_read(cli, cluster_estate):
    web = os.path.join(os.path.dirname(__file__), "..", "..", "examples", "kubernetes", "web.service.yaml")
    done = cli("render", "laa-apply-production", "--service", web, "--estate", cluster_estate, "--validate")
    assert done.code == 0, done.err
    documents = list(yaml.safe_load_all(done.out))
    admission = [d for d in documents if d["apiVersion"].startswith("admissionregistration.k8s.io/")]
    assert documents[0]["kind"] == "Namespace" and len(documents) - len(admission) == 18
    assert len(admission) >= 2 and {d["kind"] for d in admission} == {
        "ValidatingAdmissionPolicy",
        "ValidatingAdmissionPolicyBinding",
    }
    assert f"valid for Kubernetes {targets.OLDEST} and {targets.NEWEST}" in done.err


def test_a_service_without_an_image_is_placed_at_its_line(cli, cluster_estate, tmp_path):
    spec = tmp_path / "civic.service.yaml"
    spec.write_text(
        "apiVersion: civic/v1\nkind: Service\nmetadata:\n  name: api\nspec:\n  port: 8080\n"
        "  env:\n    KEY: ${secrets.nope}\n"
    )
    done = cli("render", "laa-apply-dev", "--service", str(tmp_path), "--estate", cluster_estate)
    assert done.code == 1 and done.out == ""
    assert f"{spec}:5:1: spec: service 'api' of environment 'laa-apply-dev' has no image; add spec.image" in done.err
    assert (
        f"{spec}:8:5: spec.env.KEY: '${{secrets.nope}}' names secret 'nope', which the environment "
        "does not declare; add it to spec.secrets." in done.err
    )


def test_unknown_names_and_bad_cluster_settings_are_clear_errors(cli, cluster_estate):
    done = cli("render", "nope", "--estate", cluster_estate)
    assert done.code == 2 and "there is no environment 'nope'" in done.err
    done = cli("render", "laa-apply-dev", "--cluster", "moon", "--estate", cluster_estate)
    assert done.code == 2 and "there is no cluster 'moon' in civic.yaml; the clusters are: live, dev." in done.err
    path = os.path.join(cluster_estate, "civic.yaml")
    with open(path, encoding="utf-8") as f:
        text = f.read().replace('kubernetesVersion: "1.37"', 'kubernetesVersion: "1.19"')
    with open(path, "w", encoding="utf-8") as f:
        f.write(text.replace('"hmpps-*"]', '"hmpps-*", laa-apply-dev]'))
    done = cli("render", "laa-apply-dev", "--estate", cluster_estate)
    assert done.code == 1
    assert (
        "civic.yaml:21:7: spec.clusters[1].kubernetesVersion: Civic renders for Kubernetes 1.25 to "
        "1.37, got '1.19'; pick a version in that range." in done.err
    )
    assert "spec.clusters[1].environments[0]: environment 'laa-apply-dev' is already placed" in done.err


def test_an_environment_on_no_cluster_renders_with_defaults_and_says_so(cli, estate_dir):
    done = cli("render", "opg-lpa-dev", "--estate", estate_dir)
    assert done.code == 0
    assert "is on no cluster in civic.yaml" in done.err
    assert list(yaml.safe_load_all(done.out))[0]["metadata"]["name"] == "opg-lpa-dev"
