"""Imported environments' alerts go where the source says: each namespace's Slack channel.

Both MoJ samples: every environment with a slack-channel routes to that channel through
its team's channel of the same name, whose webhook secret is named and reported as not
set yet; ``civic plan`` says so; a channel without its secret breaks nothing (validate,
plan, apply, Alertmanager's configuration) and is left out of Alertmanager until it is set.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest
import yaml

from civic.observability import routing
from civic.spec import estate


@pytest.fixture(scope="module", params=["corpus", "fidelity"])
def sample(request, corpus_import, fidelity_import):
    dest, report = corpus_import if request.param == "corpus" else fidelity_import
    return dest, report, estate.load(dest)


def test_every_environment_routes_to_its_own_slack_channel(sample):
    _, report, loaded = sample
    routed = 0
    for name, env in loaded.environments.items():
        team = loaded.teams[env.spec.team]
        sentences = routing.routes(env, team, secret_set=lambda team, secret: False)
        if env.spec.team_channel is None:
            assert sentences == [
                f"team {team.metadata.name} has no channel for this environment: alerts reach Civic only"
            ]
            continue
        [route] = [r for r in routing.team_routes(team) if r.applies_to(env)]
        assert route.target == env.spec.team_channel, name
        assert sentences == [
            f"critical, warning → {env.spec.team_channel} ({route.receiver}; "
            f"webhook secret '{route.secret}' not set yet)"
        ]
        said = [e for e in report.entries if e.namespace == name and e.target.endswith("spec.channels")]
        assert len(said) == 1 and f"civic secret set --team {env.spec.team} {route.secret}" in said[0].detail
        routed += 1
    assert routed >= 40


def test_a_channel_of_a_team_with_several_lists_its_environments(fidelity_import):
    dest, _ = fidelity_import
    with open(os.path.join(dest, "teams", "central-digital-product-team.yaml"), encoding="utf-8") as f:
        channels = {c["name"]: c for c in yaml.safe_load(f)["spec"]["channels"]}
    assert channels["cdpt-chaps"] == {
        "name": "cdpt-chaps",
        "slack": {"channel": "#cdpt-chaps", "webhookUrlSecret": "slack-webhook-cdpt-chaps"},
        "environments": ["chaps-transformed-test"],
    }
    with open(os.path.join(dest, "teams", "v1-cis-mod.yaml"), encoding="utf-8") as f:
        [only] = yaml.safe_load(f)["spec"]["channels"]
    assert "environments" not in only  # one channel for all the team's environments


def test_alertmanager_takes_a_channel_once_its_secret_is_set(fidelity_import):
    loaded = estate.load(fidelity_import[0])

    def config(has: set[str]) -> dict:
        return routing.alertmanager_config(
            teams=loaded.teams,
            civic_webhook="http://127.0.0.1:1/v1/alerts/webhook",
            relay_url=lambda team, channel: "http://127.0.0.1:1/relay",
            secret_file=lambda team, name: f"/secrets/{team}--{name}",
            secret_value=lambda team, name: "https://hooks.example/x" if name in has else None,
        )

    assert [r["name"] for r in config(set())["receivers"]] == [routing.CIVIC_RECEIVER]
    found = config({"slack-webhook-cdpt-chaps"})
    assert [r["name"] for r in found["receivers"]] == [
        routing.CIVIC_RECEIVER,
        "central-digital-product-team/cdpt-chaps",
    ]
    assert found["route"]["routes"][1]["matchers"] == [
        'team="central-digital-product-team"',
        'severity=~"critical|warning"',
        'environment=~"chaps-transformed-test"',
    ]


def test_the_real_amtool_routes_each_environment_to_its_own_channel(fidelity_import, tmp_path):
    amtool = shutil.which("amtool")
    assert amtool, "amtool is missing: install the Debian package 'prometheus-alertmanager' (scripts/system-deps does)"
    loaded = estate.load(fidelity_import[0])
    secret = tmp_path / "slack-url"
    secret.write_text("http://127.0.0.1:9/slack")
    config = routing.alertmanager_config(
        teams=loaded.teams,
        civic_webhook="http://127.0.0.1:8000/v1/alerts/webhook",
        relay_url=lambda team, channel: f"http://127.0.0.1:8000{routing.relay_path(team, channel)}",
        secret_file=lambda team, name: str(secret),
        secret_value=lambda team, name: "set",
    )
    path = tmp_path / "alertmanager.yml"
    path.write_text(routing.config_text(config))
    checked = subprocess.run([amtool, "check-config", str(path)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    for env, receiver in (
        ("chaps-transformed-test", "central-digital-product-team/cdpt-chaps"),
        ("intranet-staging", "central-digital-product-team/cdpt-intranet"),
        ("justice-gov-uk-production", "central-digital-product-team/cdpt-intranet"),
        ("cis-prd", "v1-cis-mod/cis-cloud-platform"),
    ):
        spec = loaded.environments[env].spec
        labels = {"alertname": "X", "team": spec.team, "severity": "critical", "environment": env}
        labels["production"] = str(spec.production).lower()
        found = subprocess.run(
            [amtool, "config", "routes", "test", f"--config.file={path}", *(f"{k}={v}" for k, v in labels.items())],
            capture_output=True,
            text=True,
        )
        assert sorted(found.stdout.strip().split(",")) == sorted([routing.CIVIC_RECEIVER, receiver]), env


def test_plan_says_where_alerts_go_and_which_secrets_are_not_set(cli, fidelity_import, tmp_path):
    dest = str(tmp_path / "estate")
    shutil.copytree(fidelity_import[0], dest)
    stored = cli(
        "secret", "set", "--team", "central-digital-product-team", "slack-webhook-cdpt-chaps", "-e", dest, stdin="x"
    )
    assert stored.code == 0, stored.err
    assert cli("validate", "-e", dest).code == 0
    planned = cli("plan", "-e", dest, "--output", "json")
    assert planned.code == 0, planned.err
    lines = json.loads(planned.out)["routing"]
    assert (
        "alerts for environment cis-pp will now go to: critical, warning → #cis-cloud-platform "
        "(v1-cis-mod/cis-cloud-platform; webhook secret 'slack-webhook-cis-cloud-platform' not set yet)"
    ) in lines
    assert (
        "alerts for environment chaps-transformed-test will now go to: critical, warning → #cdpt-chaps "
        "(central-digital-product-team/cdpt-chaps)"
    ) in lines
    applied = cli("apply", "-e", dest)
    assert applied.code == 0, applied.err


def test_a_channel_may_name_only_its_own_teams_environments(cli, fidelity_import, tmp_path):
    dest = str(tmp_path / "estate")
    shutil.copytree(fidelity_import[0], dest)
    path = os.path.join(dest, "teams", "central-digital-product-team.yaml")
    with open(path, encoding="utf-8") as f:
        text = f.read()
    with open(path, "w", encoding="utf-8") as f:
        f.write(text.replace("- chaps-transformed-test", "- cis-pp"))
    found = cli("validate", "-e", dest)
    assert found.code == 1
    assert "environment 'cis-pp' belongs to team 'v1-cis-mod'" in found.out + found.err
