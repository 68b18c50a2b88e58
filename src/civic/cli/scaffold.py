"""``civic init`` and ``civic env create``: new estates and environments, checked before kept.

``env create`` asks what the MoJ's ``cloud-platform environment create`` asks, or takes
every answer as a flag or from ``--answers-file``. The new file is validated with the
rest of the estate; if anything is wrong it is removed again and nothing is left.
"""

from __future__ import annotations

import os
import shutil
import sys
from typing import Any

import typer
import yaml

from civic.cli import common
from civic.cli.common import EstateOption
from civic.errors import SpecError, UsageError
from civic.spec import estate as estate_mod
from civic.spec import models, yamlpos

env_app = typer.Typer(help="Create environments.", no_args_is_help=True)


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
        common.load_estate(root)
    except SpecError as e:
        shutil.rmtree(folder)
        ours = [p for p in e.problems if p.file.startswith(f"environments/{env_name}/")]
        raise SpecError(ours or e.problems) from None
    common.out.print(
        f"[green]✓[/] created environments/{env_name}/environment.yaml. Commit it and "
        "open a pull request; 'civic plan' shows what it will do."
    )


def _answers_from_file(path: str) -> dict[str, Any]:
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
    known = {key for key, _, _ in QUESTIONS}
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
