"""The plan's three renderings, checked against golden files.

One scenario: the example estate applied, then a pull request that updates one
environment field by field, creates one, deletes one and changes a secret's value.
Set CIVIC_UPDATE_GOLDEN=1 to rewrite the golden files after a deliberate change.
"""

from __future__ import annotations

import json
import os
import shutil

import pytest

GOLDEN = os.path.join(os.path.dirname(__file__), "golden")


def _edit(estate_dir: str, rel: str, old: str, new: str) -> None:
    path = os.path.join(estate_dir, rel)
    with open(path) as f:
        text = f.read()
    assert old in text
    with open(path, "w") as f:
        f.write(text.replace(old, new))


@pytest.fixture
def changed_estate(cli, estate_dir):
    assert cli("apply", "--estate", estate_dir).code == 0
    assert (
        cli(
            "secret", "set", "laa-apply-dev", "api-key", "--estate", estate_dir, stdin="correct-horse-battery-staple"
        ).code
        == 0
    )
    _edit(estate_dir, "environments/laa-apply-dev/environment.yaml", 'cpu: "2"', 'cpu: "3"')
    _edit(
        estate_dir,
        "environments/laa-apply-dev/environment.yaml",
        "  secrets: [api-key]\n",
        "  secrets: [api-key]\n  hosts: [apply-dev.service.justice.gov.uk]\n",
    )
    _edit(estate_dir, "environments/laa-apply-dev/environment.yaml", "    cache: {type: redis}\n", "")
    _edit(estate_dir, "environments/laa-apply-dev/environment.yaml", "    REDIS_URL: ${services.cache.url}\n", "")
    shutil.copytree(
        os.path.join(estate_dir, "environments", "opg-lpa-dev"),
        os.path.join(estate_dir, "environments", "opg-lpa-test"),
    )
    _edit(estate_dir, "environments/opg-lpa-test/environment.yaml", "name: opg-lpa-dev", "name: opg-lpa-test")
    _edit(estate_dir, "environments/opg-lpa-test/environment.yaml", "development", "test")
    shutil.rmtree(os.path.join(estate_dir, "environments", "hmpps-book-visit-dev"))
    _edit(
        estate_dir, "teams/laa-apply.yaml", "      severities: [critical]\n", "      severities: [critical, warning]\n"
    )
    return estate_dir


def _golden(name: str, actual: str) -> None:
    path = os.path.join(GOLDEN, name)
    if os.environ.get("CIVIC_UPDATE_GOLDEN"):
        with open(path, "w") as f:
            f.write(actual)
    with open(path) as f:
        assert actual == f.read(), f"{name} differs from its golden file"


@pytest.mark.parametrize(("output", "golden"), [("human", "plan.txt"), ("json", "plan.json"), ("markdown", "plan.md")])
def test_plan_renderings_match_golden_files(cli, changed_estate, output, golden):
    result = cli("plan", "--estate", changed_estate, "--output", output)
    assert result.code == 0, result.err
    _golden(golden, result.out)
    assert "correct-horse-battery-staple" not in result.out + result.err


def test_json_plan_is_documented_shape(cli, changed_estate):
    body = json.loads(cli("plan", "--estate", changed_estate, "-o", "json").out)
    assert body["formatVersion"] == 1
    assert body["summary"] == {"create": 1, "update": 2, "delete": 1, "unchanged": 9}
    assert body["routing"] == [
        "alerts for environment laa-apply-dev will now go to: critical, warning → #apply-dev (laa-apply/apply-dev; "
        "webhook secret 'apply-slack-webhook' not set yet)",
        "alerts for environment laa-apply-staging will now go to: critical, warning → #apply-dev (laa-apply/apply-dev; "
        "webhook secret 'apply-slack-webhook' not set yet)",
        "alerts for environment opg-lpa-test will now go to: team opg-lpa has no channel for this "
        "environment: alerts reach Civic only",
    ]
    update = next(c for c in body["changes"] if c["action"] == "update" and c["kind"] == "Environment")
    paths = {f["path"]: f for f in update["fields"]}
    assert paths["spec.quota.cpu"] == {"path": "spec.quota.cpu", "operation": "change", "old": "2", "new": "3"}
    assert paths["secrets.api-key"]["new"] == "(secret changed)"
    assert paths["spec.backingServices.cache"]["operation"] == "remove"


def test_deleting_production_is_refused_without_the_flag(cli, estate_dir):
    assert cli("apply", "--estate", estate_dir).code == 0
    shutil.rmtree(os.path.join(estate_dir, "environments", "opg-lpa-production"))
    plan = cli("plan", "--estate", estate_dir)
    assert plan.code == 1
    assert "deleting production environment 'opg-lpa-production' is refused" in plan.out
    applied = cli("apply", "--estate", estate_dir)
    assert applied.code == 1
    assert "nothing was applied" in applied.err
    assert (
        cli("history", "opg-lpa-production", "--estate", estate_dir, "-o", "json").out.count('"operation": "delete"')
        == 0
    )
    forced = cli("apply", "--estate", estate_dir, "--allow-delete-production")
    assert forced.code == 0
    assert cli("plan", "--estate", estate_dir, "-o", "json").out.count('"action"') == 0
