"""Alert routing from ownership: the real amtool accepts the configuration and routes as teams say."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from civic.observability import routing
from civic.spec import estate as estate_mod

AMTOOL = shutil.which("amtool")
SLACK_URL = "http://127.0.0.1:9/slack-secret-url"
PAGER_URL = "http://127.0.0.1:9/pager-secret-url"


@pytest.fixture(scope="module")
def example():
    return estate_mod.load(os.path.join(os.path.dirname(__file__), "..", "..", "examples", "estate"))


@pytest.fixture
def config_file(tmp_path, example):
    assert AMTOOL, "amtool is missing: install the Debian package 'prometheus-alertmanager' (scripts/system-deps does)"
    values = {("laa-apply", "apply-slack-webhook"): SLACK_URL, ("opg-lpa", "lpa-oncall-webhook"): PAGER_URL}
    files = {}

    def secret_file(team: str, name: str) -> str:
        path = tmp_path / f"{team}-{name}"
        path.write_text(values[(team, name)])
        files[(team, name)] = str(path)
        return str(path)

    config = routing.alertmanager_config(
        teams=example.teams,
        civic_webhook="http://127.0.0.1:8000/v1/alerts/webhook",
        relay_url=lambda team, channel: f"http://127.0.0.1:8000{routing.relay_path(team, channel)}",
        secret_file=secret_file,
        token_file=str(tmp_path / "webhook-token"),
        secret_value=lambda team, name: values.get((team, name)),
    )
    path = tmp_path / "alertmanager.yml"
    path.write_text(routing.config_text(config))
    return str(path)


def _route(config_file: str, **labels: str) -> list[str]:
    args = [
        AMTOOL,
        "config",
        "routes",
        "test",
        f"--config.file={config_file}",
        *(f"{k}={v}" for k, v in labels.items()),
    ]
    result = subprocess.run(args, capture_output=True, text=True)
    return sorted(result.stdout.strip().split(","))


def test_amtool_accepts_the_generated_configuration(config_file):
    result = subprocess.run([AMTOOL, "check-config", config_file], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    with open(config_file) as f:
        text = f.read()
    assert SLACK_URL not in text, "a Slack URL is read from its file, never written into the config"
    assert PAGER_URL not in text, "a plain webhook is relayed through Civic, its URL never in the config"
    assert "url: http://127.0.0.1:8000/v1/alerts/relay/opg-lpa/lpa-oncall" in text


def test_alerts_go_to_the_owning_team_by_severity_and_production(config_file):
    base = {"alertname": "CivicServiceDown", "service": "web"}
    assert _route(
        config_file,
        **base,
        team="laa-apply",
        production="true",
        severity="critical",
        environment="laa-apply-production",
    ) == ["civic", "laa-apply/apply-alerts"]
    assert _route(
        config_file, **base, team="laa-apply", production="false", severity="critical", environment="laa-apply-dev"
    ) == ["civic", "laa-apply/apply-dev"]
    assert _route(
        config_file, **base, team="laa-apply", production="false", severity="warning", environment="laa-apply-dev"
    ) == ["civic"], "apply-dev takes critical alerts only"
    assert _route(
        config_file, **base, team="opg-lpa", production="true", severity="critical", environment="opg-lpa-production"
    ) == ["civic", "opg-lpa/lpa-oncall"]
    assert _route(
        config_file,
        **base,
        team="hmpps-book-visit",
        production="true",
        severity="critical",
        environment="hmpps-book-visit-prod",
    ) == ["civic"], "no secret set: Civic only"


def test_routes_as_sentences_for_a_plan(example):
    env = example.environments["laa-apply-production"]
    assert routing.routes(env, example.teams["laa-apply"]) == [
        "critical, warning → #apply-alerts (laa-apply/apply-alerts)"
    ]
    dev = example.environments["laa-apply-dev"]
    assert routing.routes(dev, example.teams["laa-apply"]) == ["critical → #apply-dev (laa-apply/apply-dev)"]
    opg_dev = example.environments["opg-lpa-dev"]
    assert routing.routes(opg_dev, example.teams["opg-lpa"]) == [
        "team opg-lpa has no channel for this environment: alerts reach Civic only"
    ]
