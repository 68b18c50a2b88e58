"""Alert names: ``civic validate`` and ``civic render --validate`` take the same ones (issue 14).

Prometheus takes any label value as an alert's name (its rulefmt refuses only an empty
one) and the prometheus-operator's CRD types ``alert`` as a plain string, so names with
``-``, spaces, a leading digit or any other text are valid. 709 alert rules of the MoJ's
estate are named so. The rendered PrometheusRule is checked against the CRD schema in
``src/civic/backends/kubernetes/schemas/`` at the oldest and newest Kubernetes version.
"""

from __future__ import annotations

import json
import os
import shutil

import pytest
import yaml
from edits import replace_in

from civic.backends.kubernetes import targets, validation

ENV = "laa-apply-dev"
NAMES = [
    "Quota-Exceeded",
    "System CPU Usage",
    "500ThresholdReached",
    "cica--KubeJobFailed--prod",
    "SlownessOutage # ‼️ Critical alert",
    "Fehlerquote überschritten",
]


def _add_rules(estate: str, names: list[str]) -> None:
    rules = "".join(
        f"    - alert: {json.dumps(name)}\n      expr: up == 0\n      for: 5m\n"
        "      annotations: {runbook_url: 'https://runbooks.example/up'}\n"
        for name in names
    )
    replace_in(
        os.path.join(estate, "environments", ENV, "environment.yaml"),
        "  secrets: [api-key]\n",
        f"  secrets: [api-key]\n  alertRules:\n{rules}",
    )


def _rule_object(out: str) -> dict:
    (rule,) = [d for d in yaml.safe_load_all(out) if d["kind"] == "PrometheusRule"]
    return rule


def test_names_prometheus_takes_pass_validate_and_render_validate(cli, cluster_estate):
    _add_rules(cluster_estate, NAMES)
    assert cli("validate", "--estate", cluster_estate).code == 0
    done = cli("render", ENV, "--estate", cluster_estate, "--validate", "--no-policies")
    assert done.code == 0, done.err
    rule = _rule_object(done.out)
    rendered = rule["spec"]["groups"][0]["rules"]
    assert [r["alert"] for r in rendered] == NAMES
    assert rendered[0]["annotations"]["runbook_url"] == "https://runbooks.example/up"
    for version in (targets.OLDEST, targets.NEWEST):
        assert validation.problems(rule, version) == []


def test_an_empty_name_is_refused_by_both(cli, cluster_estate):
    _add_rules(cluster_estate, [""])
    done = cli("validate", "--estate", cluster_estate)
    assert done.code == 1
    assert "spec.alertRules[0].alert: " in done.err
    rule = {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {"name": "r", "namespace": ENV},
        "spec": {"groups": [{"name": "g", "rules": [{"alert": "", "expr": "up == 0"}]}]},
    }
    assert validation.problems(rule, targets.NEWEST) == [
        f"PrometheusRule {ENV}/r: spec.groups.0.rules.0.alert: '' should be non-empty (Kubernetes "
        f"{targets.NEWEST} schema)"
    ]


@pytest.fixture
def strict_schemas(tmp_path, monkeypatch):
    """The CRD schemas with the metric-name pattern Civic once put on alert names."""
    folder = tmp_path / "schemas"
    shutil.copytree(validation.SCHEMAS, folder)
    path = folder / "prometheusrule.json"
    schema = json.loads(path.read_text())
    rule = schema["properties"]["spec"]["properties"]["groups"]["items"]["properties"]["rules"]["items"]
    rule["properties"]["alert"]["pattern"] = "^[a-zA-Z_][a-zA-Z0-9_]*$"
    path.write_text(json.dumps(schema))
    monkeypatch.setattr(validation, "SCHEMAS", str(folder))
    validation._validator.cache_clear()
    yield
    validation._validator.cache_clear()


def test_invalid_objects_exit_1_and_print_nothing(cli, cluster_estate, strict_schemas):
    _add_rules(cluster_estate, ["Quota-Exceeded"])
    done = cli("render", ENV, "--estate", cluster_estate, "--validate", "--no-policies")
    assert done.code == 1 and done.out == ""
    assert "rendered objects are not valid, so nothing was printed:" in done.err
    assert f"PrometheusRule {ENV}/civic-environment: spec.groups.0.rules.0.alert: 'Quota-Exceeded'" in done.err
