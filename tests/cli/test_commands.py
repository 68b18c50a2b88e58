"""The command line as a user meets it: init, env create, schema, history, help."""

from __future__ import annotations

import json
import os

import yaml


def test_init_creates_a_valid_estate_and_refuses_to_overwrite(cli, tmp_path):
    target = str(tmp_path / "new")
    result = cli("init", target)
    assert result.code == 0, result.err
    assert cli("validate", "--estate", target).code == 0
    assert cli("apply", "--estate", target).code == 0
    again = cli("init", target)
    assert again.code == 2 and "already holds an estate" in again.err
    with open(os.path.join(target, ".gitignore")) as f:
        assert ".civic/" in f.read()


ANSWERS = [
    "--name",
    "laa-apply-test",
    "--team",
    "laa-apply",
    "--business-unit",
    "LAA",
    "--application",
    "Apply",
    "--owner",
    "Apply: apply@justice.gov.uk",
    "--source-code",
    "https://github.com/ministryofjustice/apply",
    "--team-channel",
    "#apply",
    "--not-production",
    "--environment-name",
    "test",
]


def test_env_create_with_flags_writes_a_valid_environment(cli, estate_dir):
    result = cli("env", "create", "--estate", estate_dir, *ANSWERS, "--review-after", "2027-01-31")
    assert result.code == 0, result.err
    path = os.path.join(estate_dir, "environments", "laa-apply-test", "environment.yaml")
    with open(path) as f:
        doc = yaml.safe_load(f)
    assert doc["spec"]["team"] == "laa-apply" and doc["spec"]["production"] is False
    assert doc["spec"]["reviewAfter"] == "2027-01-31"
    assert cli("validate", "--estate", estate_dir).code == 0
    again = cli("env", "create", "--estate", estate_dir, *ANSWERS)
    assert again.code == 2 and "already exists" in again.err


def test_env_create_from_answers_file(cli, estate_dir, tmp_path):
    answers = tmp_path / "answers.yaml"
    answers.write_text(
        yaml.safe_dump(
            {
                "name": "opg-lpa-staging",
                "team": "opg-lpa",
                "businessUnit": "OPG",
                "application": "LPA",
                "owner": "OPG: opg@justice.gov.uk",
                "sourceCode": "https://github.com/ministryofjustice/opg-lpa",
                "teamChannel": "#opg",
                "production": "no",
                "environmentName": "staging",
            }
        )
    )
    result = cli("env", "create", "--estate", estate_dir, "--answers-file", str(answers))
    assert result.code == 0, result.err
    assert os.path.exists(os.path.join(estate_dir, "environments", "opg-lpa-staging", "environment.yaml"))


def test_env_create_that_would_be_invalid_leaves_nothing(cli, estate_dir):
    bad = [a if a != "LAA" else "Legal Aid" for a in ANSWERS]
    result = cli("env", "create", "--estate", estate_dir, *bad)
    assert result.code == 1
    assert "'Legal Aid' is not a business unit of this platform" in result.err
    assert not os.path.exists(os.path.join(estate_dir, "environments", "laa-apply-test"))


def test_env_create_without_a_terminal_names_the_missing_answers(cli, estate_dir):
    result = cli("env", "create", "--estate", estate_dir, "--name", "x-dev", stdin="")
    assert result.code == 2
    assert "missing answers: --team, --business-unit" in result.err


def test_env_create_rejects_a_path_as_a_name(cli, estate_dir, tmp_path):
    result = cli("env", "create", "--estate", estate_dir, *ANSWERS[2:], "--name", "../../escape")
    assert result.code == 2 and "is not a valid environment name" in result.err
    assert not os.path.exists(os.path.join(os.path.dirname(estate_dir), "escape"))


def test_schema_for_each_kind(cli):
    for kind in ("Platform", "Team", "Environment", "Service"):
        result = cli("schema", kind)
        assert result.code == 0
        schema = json.loads(result.out)
        assert schema["title"] == kind and "properties" in schema
    env = json.loads(cli("schema", "environment").out)
    assert "businessUnit" in json.dumps(env)
    unknown = cli("schema", "Namespace")
    assert unknown.code == 2 and "unknown kind 'Namespace'" in unknown.err


def test_history_of_unknown_environment_exits_4(cli, estate_dir):
    result = cli("history", "nothing-here", "--estate", estate_dir)
    assert result.code == 4 and "has ever been applied" in result.err


def test_help_lists_the_exit_codes(cli):
    result = cli("--help")
    assert result.code == 0
    assert "3 another apply holds the lock" in " ".join(result.out.split())


def test_read_commands_speak_json(cli, estate_dir):
    assert cli("apply", "--estate", estate_dir).code == 0
    for args in (("validate",), ("plan",), ("history", "laa-apply-dev"), ("secret", "list")):
        result = cli(*args, "--estate", estate_dir, "--output", "json")
        assert result.code == 0, (args, result.err)
        json.loads(result.out)


def test_up_with_a_bad_metrics_retention_says_how_to_write_one_and_starts_nothing(cli, estate_dir):
    result = cli("up", "--estate", estate_dir, "--metrics-retention", "15 days")
    assert result.code == 2
    assert "--metrics-retention '15 days' is not a duration" in result.err and "15d" in result.err
    assert "Traceback" not in result.err
    assert not os.path.exists(os.path.join(estate_dir, ".civic", "state.db"))


def test_env_create_that_policy_would_deny_leaves_nothing_and_says_why(cli, estate_dir):
    # found by the three-command first deploy: validate passed, then the estate sync refused the commit
    denied = [
        a if a != "https://github.com/ministryofjustice/apply" else "https://github.com/example/apply" for a in ANSWERS
    ]
    result = cli("env", "create", "--estate", estate_dir, *denied)
    assert result.code == 1
    assert "policy would deny environment 'laa-apply-test'" in result.err
    assert "environments/laa-apply-test/environment.yaml" in result.err and "[source-in-moj-github]" in result.err
    assert not os.path.exists(os.path.join(estate_dir, "environments", "laa-apply-test"))
