"""``civic init``, ``civic env create`` and ``civic team create``: new estates, environments
and teams, checked before kept.

``env create`` asks what the MoJ's ``cloud-platform environment create`` asks, and ``team
create`` what a team file needs; each asks on a terminal, or takes every answer as a flag or
from ``--answers-file``. The new file is validated with the rest of the estate; if anything
is wrong it is removed again and nothing is left.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
from typing import Any

import typer
import yaml

from civic.cli import common
from civic.cli.common import EstateOption
from civic.errors import PolicyDenied, SpecError, UsageError
from civic.spec import estate as estate_mod
from civic.spec import models, yamlpos

env_app = typer.Typer(help="Create environments.", no_args_is_help=True)
team_app = typer.Typer(help="Create teams.", no_args_is_help=True)


def _dump(value: dict[str, Any]) -> str:
    return yaml.safe_dump(value, sort_keys=False, default_flow_style=False, allow_unicode=True)


def _doc(kind: str, name: str, spec: dict[str, Any]) -> str:
    return _dump({"apiVersion": "civic/v1", "kind": kind, "metadata": {"name": name}, "spec": spec})


def init(directory: str = typer.Argument(..., help="Where to create the estate.")) -> None:
    """Create a new estate with one example team and one environment."""
    root = os.path.abspath(directory)
    if os.path.exists(os.path.join(root, estate_mod.PLATFORM_FILE)):
        raise UsageError(f"{root} already holds an estate (civic.yaml); nothing was changed.")
    files = {
        "civic.yaml": _doc(
            "Platform", "my-platform", {"baseDomain": "localhost", "businessUnits": ["Central Digital", "Platforms"]}
        ),
        "teams/example-team.yaml": _doc(
            "Team",
            "example-team",
            {
                "displayName": "Example team",
                "email": "example-team@example.gov.uk",
                "githubTeams": ["example-team"],
                "members": [{"name": "A. Person", "email": "a.person@example.gov.uk"}],
            },
        ),
        "environments/example-dev/environment.yaml": _doc(
            "Environment",
            "example-dev",
            {
                "team": "example-team",
                "businessUnit": "Central Digital",
                "application": "An example application",
                "owner": "Example team: example-team@example.gov.uk",
                "sourceCode": "https://github.com/example/example-app",
                "teamChannel": "#example-team",
                "production": False,
                "environmentName": "development",
                "access": [{"team": "example-team"}],
                "backingServices": {"db": {"type": "postgres", "class": "small"}},
                "variables": {"DATABASE_URL": "${services.db.url}"},
            },
        ),
        ".gitignore": ".civic/\n",
    }
    for rel, text in files.items():
        path = os.path.join(root, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
    common.out.print(
        f"[green]✓[/] created an estate in {root}. Next: 'civic validate -e {directory}' "
        f"and 'civic plan -e {directory}'."
    )


QUESTIONS: list[tuple[str, str, str]] = [
    # (answer key, flag, question)
    ("name", "--name", "What is the name of the environment (e.g. myapp-dev)?"),
    ("team", "--team", "Which team owns it (a file in teams/)?"),
    ("businessUnit", "--business-unit", "Which business unit does it belong to?"),
    ("application", "--application", "What is the name of the application?"),
    ("owner", "--owner", "Who owns it ('Team name: email')?"),
    ("sourceCode", "--source-code", "What is the URL of its source code?"),
    ("teamChannel", "--team-channel", "Which chat channel does the team use (e.g. #myapp)?"),
    ("production", "--production", "Is it a production environment (yes/no)?"),
    ("environmentName", "--environment-name", "Which kind of environment (development, staging, production ...)?"),
    ("reviewAfter", "--review-after", "When should it be reviewed (YYYY-MM-DD, blank for never)?"),
]


@env_app.command("create")
def create(
    name: str = typer.Option(None, "--name"),
    team: str = typer.Option(None, "--team"),
    business_unit: str = typer.Option(None, "--business-unit"),
    application: str = typer.Option(None, "--application"),
    owner: str = typer.Option(None, "--owner"),
    source_code: str = typer.Option(None, "--source-code"),
    team_channel: str = typer.Option(None, "--team-channel"),
    production: bool = typer.Option(None, "--production/--not-production"),
    environment_name: str = typer.Option(None, "--environment-name"),
    review_after: str = typer.Option(None, "--review-after"),
    answers_file: str = typer.Option(None, "--answers-file", help="A YAML file of answers."),
    estate: str = EstateOption,
) -> None:
    """Create an environment: asks its questions, or takes the answers as flags."""
    root = common.estate_root(estate)
    answers = _answers_from_file(answers_file) if answers_file else {}
    given = {
        "name": name,
        "team": team,
        "businessUnit": business_unit,
        "application": application,
        "owner": owner,
        "sourceCode": source_code,
        "teamChannel": team_channel,
        "production": production,
        "environmentName": environment_name,
        "reviewAfter": review_after,
    }
    answers.update({k: v for k, v in given.items() if v is not None})
    _ask_missing(answers)
    env_name = str(answers.pop("name"))
    if not models.DNS_LABEL.match(env_name) or len(env_name) > 63:
        raise UsageError(
            f"'{env_name}' is not a valid environment name; use at most 63 lower-case "
            "letters, digits and '-', starting and ending with a letter or digit."
        )
    folder = os.path.join(root, estate_mod.ENVIRONMENTS_DIR, env_name)
    if os.path.exists(folder):
        raise UsageError(f"environment '{env_name}' already exists ({folder}); nothing was changed.")
    spec = _spec(answers)
    os.makedirs(folder)
    path = os.path.join(folder, estate_mod.ENVIRONMENT_FILE)
    with open(path, "w", encoding="utf-8") as f:
        f.write(_doc("Environment", env_name, spec))
    try:
        loaded = common.load_estate(root)
    except SpecError as e:
        shutil.rmtree(folder)
        ours = [p for p in e.problems if p.file.startswith(f"environments/{env_name}/")]
        raise SpecError(ours or e.problems) from None
    denied = _denied(loaded, prefix=f"environments/{env_name}/")
    if denied:
        shutil.rmtree(folder)
        raise PolicyDenied(
            f"policy would deny environment '{env_name}' (civic up and civic apply would not apply it); "
            "nothing was created:\n" + "\n".join(f"  {line}" for line in denied)
        )
    common.out.print(
        f"[green]✓[/] created environments/{env_name}/environment.yaml. Commit it and "
        "open a pull request; 'civic plan' shows what it will do."
    )


TEAM_QUESTIONS: list[tuple[str, str, str]] = [
    # (answer key, flag, question); the first three must be answered, the rest may be blank
    ("name", "--name", "What is the name of the team (e.g. laa-apply)?"),
    ("displayName", "--display-name", "What is the team's full name (e.g. Apply for civil legal aid)?"),
    ("email", "--email", "What is the team's shared mailbox?"),
    ("githubTeams", "--github-teams", "Which GitHub teams are in it (comma-separated, blank for none)?"),
    ("memberName", "--member-name", "Who is its first member (a full name, blank for none)?"),
    ("memberEmail", "--member-email", "What is their email address (blank for none)?"),
    ("slackChannel", "--slack-channel", "Which Slack channel gets its alerts (e.g. #myapp-alerts, blank for none)?"),
    ("slackWebhookSecret", "--slack-webhook-secret", "Which team secret will hold the channel's webhook URL?"),
]
TEAM_REQUIRED = ("name", "displayName", "email")
SLACK_WEBHOOK_SECRET = "slack-webhook"
"""The team secret a Slack channel's webhook URL is read from, unless the answers name another."""


@team_app.command("create")
def create_team(
    name: str = typer.Option(None, "--name", help="The team's name: a DNS label, e.g. laa-apply."),
    display_name: str = typer.Option(None, "--display-name", help="The team's full name."),
    email: str = typer.Option(None, "--email", help="The team's shared mailbox."),
    github_teams: str = typer.Option(None, "--github-teams", help="GitHub teams, comma-separated."),
    member_name: str = typer.Option(None, "--member-name", help="A first member's full name."),
    member_email: str = typer.Option(None, "--member-email", help="The first member's email address."),
    slack_channel: str = typer.Option(None, "--slack-channel", help="A Slack channel for the team's alerts."),
    slack_webhook_secret: str = typer.Option(
        None,
        "--slack-webhook-secret",
        help=f"The team secret holding the channel's webhook URL (default: {SLACK_WEBHOOK_SECRET}).",
    ),
    answers_file: str = typer.Option(None, "--answers-file", help="A YAML file of answers."),
    estate: str = EstateOption,
) -> None:
    """Create a team: asks its questions on a terminal, or takes the answers as flags.

    With --name, --display-name and --email given, nothing is asked; the other answers are optional."""
    root = common.estate_root(estate)
    if not os.path.isfile(os.path.join(root, estate_mod.PLATFORM_FILE)):
        raise UsageError(f"{root} holds no estate (no civic.yaml); 'civic init' makes one. Nothing was changed.")
    answers = _answers_from_file(answers_file, TEAM_QUESTIONS) if answers_file else {}
    given = {
        "name": name,
        "displayName": display_name,
        "email": email,
        "githubTeams": github_teams,
        "memberName": member_name,
        "memberEmail": member_email,
        "slackChannel": slack_channel,
        "slackWebhookSecret": slack_webhook_secret,
    }
    answers.update({k: v for k, v in given.items() if v is not None})
    answers = {k: v for k, v in answers.items() if _text(v) or isinstance(v, list)}  # blank: not answered
    _ask_team(answers)
    team_name = _text(answers.pop("name"))
    if not models.DNS_LABEL.match(team_name) or len(team_name) > 63:
        raise UsageError(
            f"'{team_name}' is not a valid team name; use at most 63 lower-case "
            "letters, digits and '-', starting and ending with a letter or digit."
        )
    rel = f"{estate_mod.TEAMS_DIR}/{team_name}.yaml"
    path = os.path.join(root, rel)
    if os.path.lexists(path):
        raise UsageError(f"team '{team_name}' already exists ({path}); nothing was changed.")
    spec = _team_spec(answers)
    folder = os.path.join(root, estate_mod.TEAMS_DIR)
    made_folder = not os.path.isdir(folder)
    os.makedirs(folder, exist_ok=True)
    with open(path, "x", encoding="utf-8") as f:
        f.write(_doc("Team", team_name, spec))
    try:
        common.load_estate(root)
    except SpecError as e:
        os.remove(path)
        if made_folder:
            os.rmdir(folder)
        ours = [p for p in e.problems if p.file == rel]
        raise SpecError(ours or e.problems) from None
    common.out.print(f"[green]✓[/] created {rel}.")
    for step in _team_next_steps(team_name, spec):
        common.out.print(f"  {step}", markup=False)


def _text(value: Any) -> str:
    return "" if value is None else str(value).strip()


def _ask_team(answers: dict[str, Any]) -> None:
    """Ask what is missing, on a terminal only; every question when a required one is unanswered."""
    missing = [flag for key, flag, _ in TEAM_QUESTIONS if key in TEAM_REQUIRED and key not in answers]
    if not missing:
        return
    if not sys.stdin.isatty():
        raise UsageError(
            f"missing answers: {', '.join(missing)}. Give them as flags or in --answers-file "
            "(there is no terminal to ask on)."
        )
    for key, _, question in TEAM_QUESTIONS:
        if key in answers:
            continue
        if key in TEAM_REQUIRED:
            answers[key] = typer.prompt(question)
        elif key == "memberEmail" and "memberName" not in answers:
            continue
        elif key == "slackWebhookSecret":
            if "slackChannel" in answers:
                answers[key] = typer.prompt(question, default=SLACK_WEBHOOK_SECRET)
        else:
            answer = _text(typer.prompt(question, default="", show_default=False))
            if answer:
                answers[key] = answer


def _team_spec(answers: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = {"displayName": _text(answers["displayName"]), "email": _text(answers["email"])}
    github = answers.get("githubTeams")
    if github is not None:  # a list from an answers file is the model's to judge
        spec["githubTeams"] = (
            github if isinstance(github, list) else [t.strip() for t in str(github).split(",") if t.strip()]
        )
    member, member_email = _text(answers.get("memberName")), _text(answers.get("memberEmail"))
    if member_email and not member:
        raise UsageError(f"the member's email '{member_email}' was given without their name; add --member-name.")
    if member:
        spec["members"] = [{"name": member, "email": member_email} if member_email else {"name": member}]
    slack, secret = _text(answers.get("slackChannel")), _text(answers.get("slackWebhookSecret"))
    if secret and not slack:
        raise UsageError(f"the webhook secret '{secret}' was given without a channel; add --slack-channel.")
    if slack:
        channel = slack if slack.startswith("#") else f"#{slack}"
        spec["channels"] = [
            {
                "name": _channel_name(channel),
                "slack": {"channel": channel, "webhookUrlSecret": secret or SLACK_WEBHOOK_SECRET},
                "environments": "all",
            }
        ]
    return spec


def _channel_name(channel: str) -> str:
    """The alert channel's name in Civic (a DNS label) made from the Slack channel's: '#LAA_alerts' → 'laa-alerts'."""
    label = re.sub(r"[^a-z0-9-]+", "-", channel.lstrip("#").lower()).strip("-")[:63].strip("-")
    return label or "slack"


def _team_next_steps(team: str, spec: dict[str, Any]) -> list[str]:
    steps = []
    for channel in spec.get("channels", []):
        secret = channel["slack"]["webhookUrlSecret"]
        steps.append(
            f"Alerts go to {channel['slack']['channel']} once the webhook's URL is a team secret: "
            f'printf %s "$WEBHOOK_URL" | civic secret set {team} {secret} --team'
        )
    steps.append(f"Give the team an environment: civic env create --team {team}")
    steps.append(
        "Then commit and open a pull request; 'civic up' applies the estate's commits as they land "
        "('civic apply' applies the files as they are)."
    )
    return steps


def _denied(loaded: estate_mod.Estate, *, prefix: str) -> list[str]:
    """What deny-mode policies say about the files under ``prefix`` (the new one)."""
    from civic.cli import policy as policy_cli

    report = policy_cli.estate_report(loaded)
    return [line for v in report.denied if (v.file or "").startswith(prefix) for line in v.lines()]


def _answers_from_file(path: str, questions: list[tuple[str, str, str]] = QUESTIONS) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as e:
        raise UsageError(f"--answers-file {path}: {e.strerror}.") from e
    doc, problems = yamlpos.parse(text, file=path)
    if problems:
        raise SpecError(problems)
    assert doc is not None
    if not isinstance(doc.data, dict):
        raise SpecError([doc.problem((), "the answers file must be a mapping of answers.")])
    known = {key for key, _, _ in questions}
    unknown = [k for k in doc.data if k not in known]
    if unknown:
        raise SpecError(
            [doc.problem((k,), f"unknown answer '{k}'; the answers are: {', '.join(sorted(known))}.") for k in unknown]
        )
    return dict(doc.data)


def _ask_missing(answers: dict[str, Any]) -> None:
    missing = [(k, flag, q) for k, flag, q in QUESTIONS if k not in answers and k != "reviewAfter"]
    if missing and not sys.stdin.isatty():
        flags = ", ".join(flag for _, flag, _ in missing)
        raise UsageError(
            f"missing answers: {flags}. Give them as flags or in --answers-file (there is no terminal to ask on)."
        )
    for key, _, question in missing:
        if key == "production":
            answers[key] = typer.confirm(question, default=False)
        else:
            answers[key] = typer.prompt(question)


def _spec(answers: dict[str, Any]) -> dict[str, Any]:
    production = answers["production"]
    if isinstance(production, str):
        production = production.strip().lower() in ("yes", "y", "true")
    spec: dict[str, Any] = {
        "team": answers["team"],
        "businessUnit": answers["businessUnit"],
        "application": answers["application"],
        "owner": answers["owner"],
        "sourceCode": answers["sourceCode"],
        "teamChannel": answers["teamChannel"],
        "production": bool(production),
        "environmentName": answers["environmentName"],
    }
    if answers.get("reviewAfter"):
        spec["reviewAfter"] = str(answers["reviewAfter"])
    spec["access"] = [{"team": answers["team"]}]
    return spec
