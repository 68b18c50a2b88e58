"""Deploy-time checks: the service file, variables, and quota with room for the surge."""

from __future__ import annotations

import pytest

from civic.control import deploying as deploys
from civic.errors import PolicyDenied, SpecError
from civic.reconcile import variables
from civic.spec import models

PLATFORM = models.Platform.model_validate(
    {"apiVersion": "civic/v1", "kind": "Platform", "metadata": {"name": "p"}, "spec": {"businessUnits": ["HQ"]}}
)


def environment(**spec) -> models.Environment:
    base = {
        "team": "t",
        "businessUnit": "HQ",
        "application": "a",
        "production": False,
        "environmentName": "development",
        "quota": {"replicas": 4, "services": 2},
        "backingServices": {"db": {"type": "postgres"}},
        "secrets": ["api-key"],
        "variables": {"DATABASE_URL": "${services.db.url}", "MODE": "dev"},
    }
    base.update(spec)
    return models.Environment.model_validate(
        {"apiVersion": "civic/v1", "kind": "Environment", "metadata": {"name": "shop-dev"}, "spec": base}
    )


SERVICE = """apiVersion: civic/v1
kind: Service
metadata:
  name: web
spec:
  run: {command: python app.py}
  replicas: 3
  env:
    KEY: ${secrets.api-key}
"""


def prepare(text: str, *, secrets=frozenset({"api-key"}), others=None, overrides=()):
    service, doc = deploys.parse(text, file="civic.service.yaml", overrides=list(overrides))
    return deploys.prepare(
        service, environment=environment(), platform=PLATFORM, others=others or {}, secret_names=set(secrets), doc=doc
    )


def test_a_good_deploy_passes_and_warns_about_environment_variables_left_out():
    prepared = prepare(SERVICE)
    assert prepared.service.spec.run.working_dir is None
    assert prepared.warnings == (
        "environment variable DATABASE_URL is not set: '${services.db.url}' "
        "refers to a backing service, which the local runtime does not "
        "provision yet; remove the variable, or deploy where backing "
        "services are provided.",
    )


def test_quota_leaves_room_for_the_surge():
    with pytest.raises(Exception) as e:
        prepare(SERVICE, overrides=["replicas=4"])
    assert str(e.value) == (
        "environment 'shop-dev' may run 4 replicas, surge included; this deploy "
        "needs 4 plus 1 during the rollout, and other services hold 0. Lower "
        "replicas (or autoscaling.max) or raise spec.quota.replicas in its "
        "environment.yaml."
    )


def test_a_service_variable_naming_a_backing_service_or_an_unset_secret_is_refused_at_its_line():
    text = SERVICE + "    DB: ${services.db.url}\n"
    with pytest.raises(SpecError) as e:
        prepare(text, secrets=set())
    assert [str(p) for p in e.value.problems] == [
        "civic.service.yaml:9:5: spec.env.KEY: secret 'api-key' has no value yet; set it with "
        "'civic secret set shop-dev api-key'.",
        "civic.service.yaml:10:5: spec.env.DB: '${services.db.url}' refers to a backing service, which "
        "the local runtime does not provision yet; remove the variable, or deploy where backing "
        "services are provided.",
    ]


def test_set_overrides_are_validated_like_the_file():
    with pytest.raises(SpecError) as e:
        prepare(SERVICE, overrides=["replicas=many"])
    assert "spec.replicas: must be a whole number, got 'many'." in str(e.value)


def test_secrets_are_resolved_into_the_environment_only():
    resolved = variables.resolve(environment().spec, {"KEY": "k=${secrets.api-key}"}, secret=lambda name: "s3cr3t")
    assert resolved.environ == {"MODE": "dev", "KEY": "k=s3cr3t"}
    assert "s3cr3t" not in " ".join(resolved.warnings)


def _production(**spec) -> models.Environment:
    return environment(
        production=True,
        environmentName="production",
        owner="T: t@example.gov.uk",
        teamChannel="#t",
        quota={"replicas": 10, "services": 4},
        **spec,
    )


def test_policy_denies_a_privileged_deploy_and_records_nothing():
    privileged = SERVICE.replace("  replicas: 3\n", "  replicas: 3\n  security: {privileged: true}\n")
    service, doc = deploys.parse(privileged, file="civic.service.yaml")
    with pytest.raises(PolicyDenied) as e:
        deploys.prepare(
            service, environment=environment(), platform=PLATFORM, others={}, secret_names={"api-key"}, doc=doc
        )
    assert "deploying service 'web' to 'shop-dev' is denied" in e.value.message
    assert "privileged" in e.value.message


def test_policy_denies_a_production_service_without_readiness_or_with_one_replica():
    single = SERVICE.replace("  replicas: 3\n", "  replicas: 1\n")
    service, doc = deploys.parse(single, file="civic.service.yaml")
    with pytest.raises(PolicyDenied) as e:
        deploys.prepare(
            service, environment=_production(), platform=PLATFORM, others={}, secret_names={"api-key"}, doc=doc
        )
    assert "readiness" in e.value.message and "replicas" in e.value.message


def test_an_exception_in_the_environment_lets_the_deploy_through():
    privileged = SERVICE.replace("  replicas: 3\n", "  replicas: 3\n  security: {privileged: true}\n")
    service, doc = deploys.parse(privileged, file="civic.service.yaml")
    env = environment(
        policyExceptions=[{"policy": "no-privileged", "reason": "vendor agent, INC-12", "expires": "2999-01-01"}]
    )
    prepared = deploys.prepare(
        service, environment=env, platform=PLATFORM, others={}, secret_names={"api-key"}, doc=doc
    )
    assert prepared.service.spec.security.privileged is True


@pytest.mark.parametrize("folder", ["/srv/app", "../other", "src/../../x"])
def test_a_working_folder_outside_the_uploaded_code_is_refused_at_its_line(folder):
    text = SERVICE.replace(
        "  run: {command: python app.py}\n", f"  run: {{command: python app.py, workingDir: '{folder}'}}\n"
    )
    with pytest.raises(SpecError) as e:
        prepare(text)
    [problem] = [p for p in e.value.problems if p.path == "spec.run.workingDir"]
    assert problem.line == 6 and "relative to the service's folder" in problem.message


def test_a_working_folder_inside_the_uploaded_code_passes():
    text = SERVICE.replace(
        "  run: {command: python app.py}\n", "  run: {command: python app.py, workingDir: src/web}\n"
    )
    assert prepare(text).service.spec.run.working_dir == "src/web"


def test_a_cap_on_requested_cpu_counts_what_replicas_request():
    env = environment(quota={"replicas": 10, "services": 2, "requestsCpu": "500m"})
    service, doc = deploys.parse(
        SERVICE.replace("  replicas: 3\n", "  replicas: 2\n  resources: {cpu: '1', requestCpu: 200m}\n"),
        file="civic.service.yaml",
    )
    with pytest.raises(PolicyDenied) as e:  # 2 replicas + 1 surge at 200m: 600m of 500m
        deploys.prepare(service, environment=env, platform=PLATFORM, others={}, secret_names={"api-key"}, doc=doc)
    assert "may use 500m of requestsCpu" in e.value.message and "spec.resources.requestCpu" in e.value.message
    fits = SERVICE.replace("  replicas: 3\n", "  replicas: 1\n  resources: {cpu: '1', requestCpu: 200m}\n")
    service, doc = deploys.parse(fits, file="civic.service.yaml")
    deploys.prepare(service, environment=env, platform=PLATFORM, others={}, secret_names={"api-key"}, doc=doc)


def test_kubernetes_renders_caps_on_requests_beside_caps_on_limits():
    from civic.backends.kubernetes import manifests

    env = environment(quota={"cpu": "4", "requestsCpu": "1", "requestsMemory": "2Gi"})
    hard = manifests.resource_quota(env, PLATFORM)["spec"]["hard"]
    assert (hard["limits.cpu"], hard["requests.cpu"], hard["requests.memory"]) == ("4", "1", "2Gi")
    assert "requests.cpu" not in manifests.resource_quota(environment(), PLATFORM)["spec"]["hard"]
