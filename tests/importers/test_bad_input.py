"""Awkward sources: malformed files, missing folders, odd names, collisions, a busy DEST."""

from __future__ import annotations

import json
import os
import shutil

import pytest
import yaml

from civic.importers import importing

CPE_FIXTURE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures", "cpe")
LIVE = "live.cloud-platform.service.justice.gov.uk"


@pytest.fixture(scope="module")
def fixture_import():
    result = importing.run(CPE_FIXTURE)
    return result.report, result.texts


def _entries(report, namespace):
    return [e for e in report.entries if e.namespace == namespace]


def _result(report, namespace):
    return next(n for n in report.namespaces if n.namespace == namespace)


def test_malformed_yaml_in_a_namespace_file_is_reported_with_file_and_line(fixture_import):
    report, texts = fixture_import
    broken = [e for e in _entries(report, "apply-api-dev") if e.reason == "parse-error"]
    assert [(e.file, e.line) for e in broken] == [("06-broken.yaml", 11)]
    assert "06-broken.yaml:11:10: this is not valid YAML" in broken[0].detail
    assert "environments/apply-api-dev/environment.yaml" in texts  # the rest still imported


def test_a_namespace_whose_namespace_file_is_malformed_is_not_imported(fixture_import):
    report, texts = fixture_import
    result = _result(report, "broken-namespace")
    assert not result.imported
    assert "00-namespace.yaml:7:49: this is not valid YAML" in result.why
    assert not any(k.startswith("environments/broken-namespace/") for k in texts)


def test_a_folder_without_a_namespace_file_is_reported(fixture_import):
    result = _result(fixture_import[0], "no-namespace-file")
    assert not result.imported and "00-namespace.yaml is missing" in result.why


def test_a_folder_name_that_cannot_be_a_civic_name_is_reported(fixture_import):
    result = _result(fixture_import[0], "_")
    assert not result.imported and "cannot be made a Civic name" in result.why


def test_an_environment_that_cannot_validate_is_left_out_with_the_exact_problem(fixture_import):
    report, texts = fixture_import
    result = _result(report, "prod-no-channel")
    assert not result.imported
    assert (
        "environments/prod-no-channel/environment.yaml:9:1: spec.teamChannel: a production "
        "environment needs 'teamChannel'"
    ) in result.why
    assert "civic.yaml" in texts and "environments/prod-no-channel/environment.yaml" not in texts


def test_values_are_normalised_and_each_rewrite_reported(fixture_import):
    report, texts = fixture_import
    env = yaml.safe_load(texts["environments/apply-dev/environment.yaml"])["spec"]
    assert env["environmentName"] == "development" and env["production"] is False
    assert env["businessUnit"] == "LAA"
    assert str(env["reviewAfter"]) == "2027-01-31"
    assert env["hosts"] == ["apply-dev.service.justice.gov.uk"]
    seen = {(n.kind, str(n.original), str(n.value)) for n in report.normalisations if n.namespace == "apply-dev"}
    assert {
        ("environment-name", "Dev", "development"),
        ("production", "no", "False"),
        ("business-unit", "laa", "LAA"),
        ("review-after", "31/01/2027", "2027-01-31"),
        ("team-name", "LAA-Apply", "laa-apply-2"),
        ("hostname", "Apply-Dev.Service.Justice.gov.uk", "apply-dev.service.justice.gov.uk"),
    } <= seen


def test_backing_services_and_network_intent_from_the_fixture(fixture_import):
    report, texts = fixture_import
    env = yaml.safe_load(texts["environments/apply-dev/environment.yaml"])["spec"]
    assert env["backingServices"] == {
        "apply-rds": {"type": "postgres", "class": "medium", "version": "16"},
        "cache": {"type": "redis", "version": "7.0"},
        "documents": {"type": "bucket"},
        "submissions": {"type": "queue"},
        "submissions-dead-letter-queue": {"type": "queue"},
    }
    assert env["network"] == {"allowFrom": ["apply-api-dev"], "allowIngress": True, "allowMonitoring": False}
    assert env["quota"] == {"replicas": 20, "cpu": "4", "memory": "8Gi"}
    assert env["access"] == [{"team": "laa-apply-2"}, {"team": "laa-readers", "role": "view"}]
    reasons = {(e.file, e.reason) for e in _entries(report, "apply-dev") if e.outcome == "skipped"}
    assert reasons >= {
        ("resources/irsa.tf", "unmapped-module"),
        ("resources/rds.tf", "unsupported-engine"),
        ("resources/rds.tf", "terraform-resource"),
        ("resources/broken.tf", "parse-error"),
        ("04-networkpolicy.yaml", "outside-import"),
        ("05-certificate.yaml", "duplicate"),
        ("01-rbac.yaml", "non-team-subject"),
        ("03-resourcequota.yaml", "no-equivalent"),
    }


def test_github_teams_that_collide_are_kept_apart_and_reported(fixture_import):
    """One Civic team for both would bind each GitHub team where only the other is bound."""
    report, texts = fixture_import
    assert yaml.safe_load(texts["teams/laa-apply.yaml"])["spec"]["githubTeams"] == ["laa-apply"]
    assert yaml.safe_load(texts["teams/laa-apply-2.yaml"])["spec"]["githubTeams"] == ["LAA-Apply"]
    assert yaml.safe_load(texts["environments/apply-api-dev/environment.yaml"])["spec"]["access"] == [
        {"team": "laa-apply"}
    ]
    assert any(e.kind == "Team" and "collide" in e.detail and "kept apart" in e.detail for e in report.entries)


def test_a_missing_source_folder_is_a_clear_usage_error(cli, tmp_path):
    result = cli("import", "cloud-platform-environments", str(tmp_path / "nowhere"), str(tmp_path / "out"))
    assert result.code == 2
    assert "does not exist" in result.err and "cloud-platform-environments checkout" in result.err
    (tmp_path / "empty").mkdir()
    result = cli("import", "cloud-platform-environments", str(tmp_path / "empty"), str(tmp_path / "out"))
    assert result.code == 2 and "has no namespaces/ folder" in result.err
    assert not (tmp_path / "out").exists()


def test_a_non_empty_dest_is_refused_unless_forced(cli, tmp_path):
    dest = tmp_path / "estate"
    dest.mkdir()
    (dest / "notes.txt").write_text("mine")
    (dest / "environments").mkdir()
    (dest / "environments" / "old").mkdir()
    refused = cli("import", "cloud-platform-environments", CPE_FIXTURE, str(dest))
    assert refused.code == 2 and "is not empty" in refused.err
    assert not (dest / "civic.yaml").exists()
    forced = cli("import", "cloud-platform-environments", CPE_FIXTURE, str(dest), "--force")
    assert forced.code == 0, forced.err
    assert (dest / "notes.txt").read_text() == "mine"
    assert sorted(os.listdir(dest / "environments")) == ["apply-api-dev", "apply-dev"]
    assert not [n for n in os.listdir(tmp_path) if n.startswith(".civic-import")]
    assert cli("validate", "-e", str(dest)).code == 0


def test_nothing_importable_writes_nothing(cli, tmp_path):
    src = tmp_path / "src" / "namespaces" / LIVE
    shutil.copytree(os.path.join(CPE_FIXTURE, "namespaces", LIVE, "broken-namespace"), src / "broken-namespace")
    result = cli("import", "cloud-platform-environments", str(tmp_path / "src"), str(tmp_path / "out"))
    assert result.code == 1
    assert "no namespace could be imported" in result.err
    assert "00-namespace.yaml:7:49" in result.out
    assert not (tmp_path / "out").exists()


def test_human_output_lists_counts_and_normalisations(cli, tmp_path):
    result = cli("import", "cloud-platform-environments", CPE_FIXTURE, str(tmp_path / "out"))
    assert result.code == 0
    assert "Imported 2 of 6 namespaces" in result.out
    assert "environment-name: Dev → development (1)" in result.out
    assert "skipped    1 × unsupported-engine" in result.out
    with open(tmp_path / "out" / "import-report.json", encoding="utf-8") as f:
        saved = json.load(f)
    assert saved["totals"]["namespacesNotImported"] == 4
    md = (tmp_path / "out" / "import-report.md").read_text()
    assert "| apply-dev | resources/rds.tf:8 | TerraformModule |" in md


def test_dry_run_writes_nothing(cli, tmp_path):
    result = cli("import", "cloud-platform-environments", CPE_FIXTURE, str(tmp_path / "out"), "--dry-run")
    assert result.code == 0 and "Imported 2 of 6" in result.out
    assert not (tmp_path / "out").exists()
