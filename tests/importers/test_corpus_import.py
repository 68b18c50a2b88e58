"""The 45 real MoJ namespaces, imported, then validated, planned and applied as a user would."""

from __future__ import annotations

import collections
import glob
import json
import os
import shutil

import yaml

from civic.spec import estate

LIVE = "live.cloud-platform.service.justice.gov.uk"


def _ns_file(corpus: str, namespace: str, name: str, cluster: str = LIVE) -> dict:
    with open(os.path.join(corpus, "namespaces", cluster, namespace, name), encoding="utf-8") as f:
        return yaml.safe_load(f)


def _env(dest: str, name: str) -> dict:
    with open(os.path.join(dest, "environments", name, "environment.yaml"), encoding="utf-8") as f:
        return yaml.safe_load(f)


def test_the_cli_imports_all_45_namespaces_and_prints_the_counts(cli, corpus, tmp_path):
    dest = tmp_path / "estate"
    result = cli("import", "cloud-platform-environments", corpus, str(dest), "--output", "json")
    assert result.code == 0, result.err
    report = json.loads(result.out)
    totals = report["totals"]
    assert totals["namespacesFound"] == 45
    assert totals["namespacesImported"] == 45
    assert totals["objectsMapped"] > 600
    assert len(os.listdir(dest / "environments")) == 45
    with open(dest / "import-report.json", encoding="utf-8") as f:
        assert json.load(f)["totals"] == totals
    assert (dest / "import-report.md").read_text().startswith("# Import report")


def test_the_imported_estate_validates_plans_and_applies(cli, corpus_import, tmp_path):
    dest = str(tmp_path / "estate")
    shutil.copytree(corpus_import[0], dest)
    valid = cli("validate", "-e", dest, "--output", "json")
    assert valid.code == 0, valid.out + valid.err
    assert json.loads(valid.out)["environments"] == 45
    planned = cli("plan", "-e", dest, "--output", "json")
    assert planned.code == 0, planned.err
    applied = cli("apply", "-e", dest)
    assert applied.code == 0, applied.err
    assert "Applied as revision 1" in applied.out
    again = cli("plan", "-e", dest)
    assert "0 to create, 0 to update, 0 to delete" in again.out


def test_every_object_of_every_namespace_is_accounted_for(corpus_import, summary):
    """Each Kubernetes object counted in namespaces-summary.json has at least one report entry."""
    _, report = corpus_import
    seen = collections.Counter((e.namespace, e.file) for e in report.entries)
    for key, info in summary.items():
        namespace = key.split("/")[1]
        for name in info["yaml_files_copied"]:
            assert seen[(namespace, name)] > 0, f"{key}/{name} has no entry in the report"


def test_contact_moj_production_maps_its_source_values(corpus_import, corpus):
    dest, _ = corpus_import
    ns = _ns_file(corpus, "contact-moj-production", "00-namespace.yaml")["metadata"]
    spec = _env(dest, "contact-moj-production")["spec"]
    annotations = ns["annotations"]
    assert spec["businessUnit"] == annotations["cloud-platform.justice.gov.uk/business-unit"] == "HQ"
    assert spec["application"] == annotations["cloud-platform.justice.gov.uk/application"]
    assert spec["owner"] == annotations["cloud-platform.justice.gov.uk/owner"]
    assert spec["sourceCode"] == annotations["cloud-platform.justice.gov.uk/source-code"]
    assert spec["teamChannel"] == "#" + annotations["cloud-platform.justice.gov.uk/slack-channel"]
    assert spec["production"] is True and spec["environmentName"] == "production"
    assert spec["team"] == "central-digital-product-team"
    assert spec["access"] == [{"team": "central-digital-product-team"}]
    assert spec["quota"] == {"replicas": 50}
    assert spec["limits"] == {
        "defaultCpu": "1000m",
        "defaultMemory": "1000Mi",
        "defaultRequestCpu": "10m",
        "defaultRequestMemory": "100Mi",
    }
    scraping = {  # for some pods only: kept as written, and no namespace-wide allowMonitoring
        "name": "allow-prometheus-scraping",
        "spec": {
            "podSelector": {"matchLabels": {"app": "contact-moj"}},
            "policyTypes": ["Ingress"],
            "ingress": [{"from": [{"namespaceSelector": {"matchLabels": {"component": "monitoring"}}}]}],
        },
    }
    assert spec["network"] == {"allowIngress": True, "allowMonitoring": False, "extraPolicies": [scraping]}
    assert spec["hosts"] == ["contact-moj.service.justice.gov.uk", "duplicate.contact-moj.service.justice.gov.uk"]
    assert spec["scrape"] == [
        {"name": "contact-moj", "port": "metrics", "selector": {"app": "contact-moj-service"}, "interval": "15s"}
    ]
    rules = _ns_file(corpus, "contact-moj-production", "09-alerts.yaml")["spec"]["groups"][0]["rules"]
    alerts = {r["alert"]: r for r in spec["alertRules"]}
    assert set(alerts) == {r["alert"] for r in rules if "alert" in r}
    crash = alerts["KubePodCrashLooping"]
    assert crash["for"] == "4m" and crash["severity"] == "warning"
    assert crash["labels"] == {"receiver": "contact-moj"}
    assert crash["annotations"]["runbook_url"].startswith("https://github.com/kubernetes-monitoring")


def test_environment_names_and_flags_come_from_the_labels(corpus_import, corpus):
    dest, _ = corpus_import
    for path in glob.glob(os.path.join(corpus, "namespaces", "*", "*", "00-namespace.yaml")):
        name = os.path.basename(os.path.dirname(path))
        with open(path, encoding="utf-8") as f:
            labels = yaml.safe_load(f)["metadata"]["labels"]
        spec = _env(dest, name)["spec"]
        assert spec["production"] is (labels["cloud-platform.justice.gov.uk/is-production"] == "true")
        raw = labels["cloud-platform.justice.gov.uk/environment-name"]
        expected = {"dev": "development", "prod": "production", "uat": "test", "preprod": "preproduction"}.get(raw, raw)
        assert spec["environmentName"] == expected, name


def test_review_after_dates_are_kept_and_empty_ones_reported(corpus_import):
    dest, report = corpus_import
    assert str(_env(dest, "data-platform-datahub-catalogue-dev")["spec"]["reviewAfter"]) == "2024-04-09"
    assert str(_env(dest, "hmpps-dpr-observability")["spec"]["reviewAfter"]) == "2027-01-27"
    assert "reviewAfter" not in _env(dest, "contact-moj-production")["spec"]
    empties = [n for n in report.normalisations if n.kind == "review-after" and n.original == ""]
    assert len(empties) == 25
    assert all(n.value is None for n in empties)


def test_namespace_allow_from_outside_the_import_is_reported_not_written(corpus_import):
    dest, report = corpus_import
    spec = _env(dest, "cfe-civil-staging")["spec"]
    assert "allowFrom" not in spec.get("network", {})
    skipped = [e for e in report.entries if e.namespace == "cfe-civil-staging" and e.reason == "outside-import"]
    assert len(skipped) == 4
    assert any("laa-apply-for-legalaid-staging" in e.detail for e in skipped)
    assert all(e.file == "04-networkpolicy.yaml" and e.line > 0 for e in skipped)


def test_skipped_objects_say_why(corpus_import):
    _, report = corpus_import
    totals = report.totals()
    assert totals["namespacesImported"] == 45
    by_reason = totals["skippedByReason"]
    assert by_reason["dashboard"] == 19  # the 19 grafana_dashboard ConfigMaps
    assert by_reason["workload"] == 10  # 9 CronJobs and a Deployment
    assert by_reason["recording-rule"] > 0
    for entry in report.entries:
        if entry.outcome == "skipped":
            assert entry.reason and entry.detail, entry
    assert not [e for e in report.entries if e.reason == "selector-policy"]
    by_label = [e for e in report.entries if e.outcome == "kept-stricter" and "namespaces labelled" in e.detail]
    assert {e.namespace for e in by_label} == {  # custom namespace labels: kept as written
        "cloud-platform-monitoring-alerts",
        "laa-maat-data-api-uat",
        "token-verification-api-prod",
    }


def test_the_written_estate_loads_with_the_platform_vocabulary(corpus_import):
    dest, report = corpus_import
    loaded = estate.load(dest)
    assert len(loaded.environments) == 45
    assert sorted(loaded.platform.spec.business_units) == sorted(
        ["CICA", "Central Digital", "HMCTS", "HMPPS", "HQ", "LAA", "OPG", "Platforms"]
    )
    assert "service.gov.uk" in loaded.platform.spec.domains or "justice.gov.uk" in loaded.platform.spec.domains
    for env in loaded.environments.values():
        assert env.spec.team in loaded.teams
    assert report.problems == []


def test_a_namespace_that_breaks_a_deny_policy_is_imported_with_a_dated_exception(corpus_import):
    """grc-dev says is-production "true" but environment-name "development": imported as it is,
    exempt from production-flag for 90 days, the reason quoting the policy, and reported."""
    dest, report = corpus_import
    (exception,) = _env(dest, "grc-dev")["spec"]["policyExceptions"]
    assert exception["policy"] == "production-flag"
    assert (
        "imported as it was from cloud-platform-environments: spec.production is True but "
        "spec.environmentName is 'development'" in exception["reason"]
    )
    found = [n for n in report.normalisations if n.kind == "policy-exception"]
    assert sorted(n.namespace for n in found) == ["grc-dev", "hmpps-accredited-programmes-prod"]
    assert "policyExceptions" not in _env(dest, "contact-moj-production")["spec"]
