"""Default alert rules: accepted by the real promtool, and firing when they should.

`promtool test rules` feeds synthetic series to Prometheus's own rule engine and checks
which alerts fire at which time: the real evaluation, not an imitation of it.
"""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest
import yaml

from civic.observability import rules
from civic.spec import estate as estate_mod
from civic.spec import models

PROMTOOL = shutil.which("promtool")


@pytest.fixture(scope="module")
def promtool() -> str:
    assert PROMTOOL, "promtool is missing: install the Debian package 'prometheus' (scripts/system-deps does)"
    return PROMTOOL


@pytest.fixture(scope="module")
def example():
    return estate_mod.load(os.path.join(os.path.dirname(__file__), "..", "..", "examples", "estate"))


def _service(**spec) -> models.ServiceSpec:
    return models.ServiceSpec.model_validate(spec)


def _write_rules(tmp_path, example) -> str:
    env = example.environments["laa-apply-production"]
    groups = {
        "laa-apply-production": rules.environment_rules(env)
        + rules.service_rules(environment=env, service="web", link="http://civic.localhost:8080/s/web")
        + rules.service_rules(
            environment=env,
            service="api",
            spec=_service(
                metricsPath="/metrics",
                alerts={"errorRatePercent": 10, "latencyP95Seconds": 0.5, "downFor": "20s"},
                alertRules=[
                    {
                        "alert": "QueueBacklog",
                        "expr": "queue_depth > 100",
                        "for": "5m",
                        "severity": "critical",
                        "summary": "backlog",
                    }
                ],
            ),
        ),
    }
    path = tmp_path / "rules.yml"
    path.write_text(rules.rule_file(groups))
    return str(path)


def test_promtool_accepts_the_rules_of_every_example_environment(tmp_path, promtool, example):
    groups = {}
    for name, env in example.environments.items():
        groups[name] = rules.environment_rules(env) + rules.service_rules(environment=env, service="web")
    path = tmp_path / "all.yml"
    path.write_text(rules.rule_file(groups))
    result = subprocess.run([promtool, "check", "rules", str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{len(example.environments) * 6 + 0} rules found" in result.stdout


def test_rules_fire_and_stay_quiet_as_they_should(tmp_path, promtool, example):
    rule_path = _write_rules(tmp_path, example)
    sel = 'environment="laa-apply-production",service="web"'
    api = 'environment="laa-apply-production",service="api"'
    common = {"environment": "laa-apply-production", "team": "laa-apply", "production": "true"}
    web = {**common, "service": "web"}
    tests = {
        "rule_files": [rule_path],
        "evaluation_interval": "5s",
        "tests": [
            {
                "interval": "5s",
                "input_series": [
                    # web: 2 desired; ready drops to 0 at 30 s.
                    {"series": f"civic_service_replicas_desired{{{sel}}}", "values": "2x40"},
                    {"series": f"civic_service_replicas_ready{{{sel}}}", "values": "2x5 0x34"},
                    # web: 100 req/5 s, of which 20 are 5xx from the start: 20% > 5%.
                    {"series": f'haproxy_backend_http_responses_total{{{sel},code="2xx"}}', "values": "0+80x40"},
                    {"series": f'haproxy_backend_http_responses_total{{{sel},code="5xx"}}', "values": "0+20x40"},
                    # api: 8% 5xx, under its own 10% threshold: quiet.
                    {"series": f'haproxy_backend_http_responses_total{{{api},code="2xx"}}', "values": "0+92x40"},
                    {"series": f'haproxy_backend_http_responses_total{{{api},code="5xx"}}', "values": "0+8x40"},
                    {"series": f"civic_service_crashlooping{{{sel}}}", "values": "0x10 1x30"},
                    {
                        "series": 'civic_environment_quota_used_ratio{environment="laa-apply-production",'
                        'resource="replicas"}',
                        "values": "0.95x100",
                    },
                ],
                "alert_rule_test": [
                    {"eval_time": "20s", "alertname": "CivicServiceDown", "exp_alerts": []},
                    {
                        "eval_time": "45s",
                        "alertname": "CivicServiceDown",
                        "exp_alerts": [
                            {
                                "exp_labels": {**web, "severity": "critical"},
                                "exp_annotations": {
                                    "summary": "web in laa-apply-production is down: no replica is ready",
                                    "description": "No replica passes its readiness check, so every request fails. "
                                    "Look at 'civic status' and the replicas' logs.",
                                    "link": "http://civic.localhost:8080/s/web",
                                },
                            }
                        ],
                    },
                    {
                        "eval_time": "2m",
                        "alertname": "CivicServiceHighErrorRate",
                        "exp_alerts": [
                            {
                                "exp_labels": {**web, "severity": "warning"},
                                "exp_annotations": {
                                    "summary": "web in laa-apply-production answers more than 5% of requests with 5xx",
                                    "description": "20% of responses over the last minute were server errors.",
                                    "link": "http://civic.localhost:8080/s/web",
                                },
                            }
                        ],
                    },
                    {
                        "eval_time": "1m",
                        "alertname": "CivicServiceCrashLooping",
                        "exp_alerts": [
                            {
                                "exp_labels": {**web, "severity": "critical"},
                                "exp_annotations": {
                                    "summary": "web in laa-apply-production is crash-looping",
                                    "description": "A replica keeps exiting and is being restarted with back-off.",
                                    "link": "http://civic.localhost:8080/s/web",
                                },
                            }
                        ],
                    },
                    {
                        "eval_time": "6m",
                        "alertname": "CivicEnvironmentQuotaNearlyUsed",
                        "exp_alerts": [
                            {
                                "exp_labels": {**common, "resource": "replicas", "severity": "warning"},
                                "exp_annotations": {
                                    "summary": "laa-apply-production has used over 90% of its replicas quota",
                                    "description": (
                                        "Deploys and scale-outs will be refused when it is used up; raise spec.quota."
                                    ),
                                },
                            }
                        ],
                    },
                ],
            }
        ],
    }
    test_path = tmp_path / "rules_test.yml"
    test_path.write_text(yaml.safe_dump(tests, sort_keys=False))
    result = subprocess.run([promtool, "test", "rules", str(test_path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_thresholds_and_disabled_alerts_come_from_the_spec(example):
    env = example.environments["laa-apply-dev"]
    spec = _service(alerts={"errorRatePercent": 2.5, "disabled": ["CivicServiceHighLatency"]})
    made = {r["alert"]: r for r in rules.service_rules(environment=env, service="web", spec=spec)}
    assert "CivicServiceHighLatency" not in made
    assert made["CivicServiceHighErrorRate"]["expr"].endswith("> 0.025")
    assert made["CivicServiceDown"]["labels"] == {
        "environment": "laa-apply-dev",
        "service": "web",
        "team": "laa-apply",
        "production": "false",
        "severity": "critical",
    }


def test_a_bad_duration_is_a_clear_error():
    with pytest.raises(Exception) as e:
        _service(alerts={"downFor": "ten seconds"})
    assert "'ten seconds' is not a duration" in str(e.value)


def test_a_team_s_own_rule_cannot_claim_another_team_s_labels(example):
    """Else laa-apply's rule would route to opg-lpa's channel and show in opg-lpa's alerts."""
    env = example.environments["laa-apply-dev"]
    claim = {"team": "opg-lpa", "environment": "opg-lpa-production", "production": "true", "service": "front"}
    own = {"alert": "Mine", "expr": "vector(1)", "labels": {**claim, "tier": "backend"}}
    spec = _service(alertRules=[own])
    (by_service,) = [r for r in rules.service_rules(environment=env, service="web", spec=spec) if r["alert"] == "Mine"]
    assert by_service["labels"] == {
        "environment": "laa-apply-dev",
        "service": "web",
        "team": "laa-apply",
        "production": "false",
        "severity": "warning",
        "tier": "backend",
    }
    env = env.model_copy(update={"spec": env.spec.model_copy(update={"alert_rules": [models.AlertRule(**own)]})})
    (by_env,) = [r for r in rules.environment_rules(env) if r["alert"] == "Mine"]
    assert {k: by_env["labels"][k] for k in ("team", "environment", "production")} == {
        "team": "laa-apply",
        "environment": "laa-apply-dev",
        "production": "false",
    }
