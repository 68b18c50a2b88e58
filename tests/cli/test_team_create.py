"""`civic team create`: a team file from flags, an answers file or a terminal, checked before kept.

Each test runs the real command against a copy of examples/estate and looks at the files it
leaves; the pseudo-terminal test answers each prompt as a person would.
"""

from __future__ import annotations

import json
import os
import pty
import shlex
import subprocess
import sys

import yaml
from tests.cli.test_env_create_interactive import _read_until

FLAGS = [
    "--name",
    "laa-crime",
    "--display-name",
    "Crime applications",
    "--email",
    "crime@justice.gov.uk",
    "--github-teams",
    "laa-crime, laa-crime-admins",
    "--member-name",
    "Ada Lovelace",
    "--member-email",
    "ada.lovelace@justice.gov.uk",
    "--slack-channel",
    "crime-alerts",
]


def _team(estate_dir: str, name: str) -> dict:
    with open(os.path.join(estate_dir, "teams", f"{name}.yaml")) as f:
        return yaml.safe_load(f)


def _teams(estate_dir: str) -> list[str]:
    return sorted(os.listdir(os.path.join(estate_dir, "teams")))


def test_team_create_with_flags_writes_a_team_the_estate_accepts(cli, estate_dir):
    result = cli("team", "create", "--estate", estate_dir, *FLAGS, stdin="")
    assert result.code == 0, result.err
    doc = _team(estate_dir, "laa-crime")
    assert doc["kind"] == "Team" and doc["metadata"]["name"] == "laa-crime"
    spec = doc["spec"]
    assert spec["displayName"] == "Crime applications" and spec["email"] == "crime@justice.gov.uk"
    assert spec["githubTeams"] == ["laa-crime", "laa-crime-admins"]
    assert spec["members"] == [{"name": "Ada Lovelace", "email": "ada.lovelace@justice.gov.uk"}]
    assert spec["channels"] == [
        {
            "name": "crime-alerts",
            "slack": {"channel": "#crime-alerts", "webhookUrlSecret": "slack-webhook"},
            "environments": "all",
        }
    ]
    assert "civic env create --team laa-crime" in result.out and "civic up" in result.out
    assert cli("validate", "--estate", estate_dir).code == 0
    assert cli("apply", "--estate", estate_dir).code == 0


def test_the_secret_command_it_prints_stores_the_webhook_for_the_team(cli, estate_dir):
    result = cli("team", "create", "--estate", estate_dir, *FLAGS, stdin="")
    assert result.code == 0, result.err
    (line,) = [line for line in result.out.splitlines() if "civic secret set" in line]
    command = shlex.split(line.split("|", 1)[1])
    assert command[0] == "civic"
    stored = cli(*command[1:], "--estate", estate_dir, stdin="https://hooks.slack.example/T0/B0/x")
    assert stored.code == 0, stored.err
    listed = cli("secret", "list", "--estate", estate_dir, "--output", "json")
    names = {(row["scope"], row["name"]) for row in json.loads(listed.out)}
    assert any(scope.endswith("laa-crime") and name == "slack-webhook" for scope, name in names), names


def test_team_create_from_an_answers_file(cli, estate_dir, tmp_path):
    answers = tmp_path / "answers.yaml"
    answers.write_text(
        yaml.safe_dump(
            {
                "name": "opg-digital",
                "displayName": "OPG digital",
                "email": "opg-digital@justice.gov.uk",
                "githubTeams": ["opg-digital"],
                "slackChannel": "#opg-alerts",
                "slackWebhookSecret": "opg-slack-webhook",
            }
        )
    )
    result = cli("team", "create", "--estate", estate_dir, "--answers-file", str(answers), stdin="")
    assert result.code == 0, result.err
    spec = _team(estate_dir, "opg-digital")["spec"]
    assert spec["githubTeams"] == ["opg-digital"] and "members" not in spec
    assert spec["channels"][0]["slack"] == {"channel": "#opg-alerts", "webhookUrlSecret": "opg-slack-webhook"}
    assert "civic secret set opg-digital opg-slack-webhook --team" in result.out


def test_an_unknown_answer_is_refused_at_its_line_and_nothing_is_written(cli, estate_dir, tmp_path):
    answers = tmp_path / "answers.yaml"
    answers.write_text("name: opg-digital\ndisplayName: OPG digital\nemail: opg@justice.gov.uk\nslack: '#x'\n")
    before = _teams(estate_dir)
    result = cli("team", "create", "--estate", estate_dir, "--answers-file", str(answers), stdin="")
    assert result.code == 1
    assert f"{answers}:4:1: slack: unknown answer 'slack'" in result.err
    assert "slackChannel" in result.err
    assert _teams(estate_dir) == before


def test_a_bad_name_is_refused_and_nothing_is_written(cli, estate_dir):
    before = _teams(estate_dir)
    for bad in ("Crime_Team", "../../escape"):
        args = [a if a != "laa-crime" else bad for a in FLAGS]
        result = cli("team", "create", "--estate", estate_dir, *args, stdin="")
        assert result.code == 2 and f"'{bad}' is not a valid team name" in result.err
    assert _teams(estate_dir) == before
    assert not os.path.exists(os.path.join(os.path.dirname(estate_dir), "escape.yaml"))


def test_a_team_the_estate_refuses_is_removed_and_only_its_problems_shown(cli, estate_dir):
    before = _teams(estate_dir)
    result = cli("team", "create", "--estate", estate_dir, *FLAGS, "--slack-webhook-secret", "not a secret", stdin="")
    assert result.code == 1
    assert "teams/laa-crime.yaml:" in result.err and "'not a secret' is not a secret name" in result.err
    assert all(line.startswith(("error:", "  teams/laa-crime.yaml:")) for line in result.err.splitlines()), result.err
    assert _teams(estate_dir) == before


def test_an_existing_team_is_refused_and_left_as_it_was(cli, estate_dir):
    with open(os.path.join(estate_dir, "teams", "laa-apply.yaml")) as f:
        original = f.read()
    args = [a if a != "laa-crime" else "laa-apply" for a in FLAGS]
    result = cli("team", "create", "--estate", estate_dir, *args, stdin="")
    assert result.code == 2 and "team 'laa-apply' already exists" in result.err
    with open(os.path.join(estate_dir, "teams", "laa-apply.yaml")) as f:
        assert f.read() == original


def test_without_a_terminal_the_missing_answers_are_named(cli, estate_dir):
    before = _teams(estate_dir)
    result = cli("team", "create", "--estate", estate_dir, "--name", "laa-crime", stdin="")
    assert result.code == 2
    assert "missing answers: --display-name, --email" in result.err and "no terminal" in result.err
    assert _teams(estate_dir) == before


def test_half_a_member_or_a_secret_without_a_channel_is_a_usage_error(cli, estate_dir):
    required = FLAGS[:6]
    member = cli("team", "create", "--estate", estate_dir, *required, "--member-email", "a@b.gov.uk", stdin="")
    assert member.code == 2 and "add --member-name" in member.err
    secret = cli("team", "create", "--estate", estate_dir, *required, "--slack-webhook-secret", "hook", stdin="")
    assert secret.code == 2 and "add --slack-channel" in secret.err
    assert not os.path.exists(os.path.join(estate_dir, "teams", "laa-crime.yaml"))


def test_a_new_team_can_own_a_new_environment(cli, estate_dir):
    env = [
        "--name",
        "laa-crime-dev",
        "--business-unit",
        "LAA",
        "--application",
        "Crime applications",
        "--owner",
        "Crime: crime@justice.gov.uk",
        "--source-code",
        "https://github.com/ministryofjustice/laa-crime",
        "--team-channel",
        "#crime",
        "--not-production",
        "--environment-name",
        "development",
    ]
    before = cli("env", "create", "--estate", estate_dir, *env, "--team", "laa-crime", stdin="")
    assert before.code == 1 and "team 'laa-crime' does not exist" in before.err
    assert cli("team", "create", "--estate", estate_dir, *FLAGS, stdin="").code == 0
    after = cli("env", "create", "--estate", estate_dir, *env, "--team", "laa-crime", stdin="")
    assert after.code == 0, after.err
    assert cli("validate", "--estate", estate_dir).code == 0


def test_team_create_asks_each_question_on_a_terminal(estate_dir):
    answers = [
        ("name of the team", "hmpps-prisons"),
        ("full name", "Prison services"),
        ("shared mailbox", "prisons@justice.gov.uk"),
        ("GitHub teams", ""),
        ("first member", "Grace Hopper"),
        ("email address", ""),
        ("Slack channel", "#prisons-alerts"),
        ("webhook URL", ""),  # the default: slack-webhook
    ]
    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-c", "from civic.cli.main import run; run()", "team", "create", "--estate", estate_dir],
        stdin=follower,
        stdout=follower,
        stderr=follower,
        close_fds=True,
        env={**os.environ, "COLUMNS": "200", "TERM": "dumb"},
    )
    os.close(follower)
    try:
        for prompt, answer in answers:
            _read_until(leader, prompt)
            os.write(leader, answer.encode() + b"\r")
        tail = _read_until(leader, "civic env create --team hmpps-prisons")
        assert "Traceback" not in tail
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(leader)
    spec = _team(estate_dir, "hmpps-prisons")["spec"]
    assert spec["displayName"] == "Prison services" and "githubTeams" not in spec
    assert spec["members"] == [{"name": "Grace Hopper"}]
    assert spec["channels"][0]["slack"] == {"channel": "#prisons-alerts", "webhookUrlSecret": "slack-webhook"}
