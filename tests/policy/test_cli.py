"""The policy commands and policy in validate, plan and apply, driven through the CLI in-process.

Audit runs against a real SQLite store written by ``civic apply``.
"""

from __future__ import annotations

import json
import os

from civic.store import deployments
from civic.store.state import StateStore

DEV = "environments/laa-apply-dev/environment.yaml"
OVERRIDE_NOTE = (
    "memory-limit-ratio: mode deny (built-in: warn), by policies/memory-limit-ratio.yaml: "
    "Over-committed memory caused the node evictions of March 2025 (incident INC-2031)."
)


def edit(estate_dir: str, rel: str, old: str, new: str) -> None:
    path = os.path.join(estate_dir, rel)
    with open(path) as f:
        text = f.read()
    assert old in text, f"fixture no longer holds {old!r}"
    with open(path, "w") as f:
        f.write(text.replace(old, new, 1))


def grant_user(estate_dir: str) -> None:
    edit(estate_dir, DEV, "    - team: laa-apply\n", "    - team: laa-apply\n    - user: asha\n")


def test_validate_shows_verdicts_per_environment_and_the_overrides_reason(cli, estate_dir):
    result = cli("validate", "--estate", estate_dir)
    assert result.code == 0, result.err
    assert "Policy: 21 policies, 83 verdicts: 0 denied, 0 warnings, 0 audit findings, 0 exempt." in result.out
    assert "  laa-apply-dev                    10 passed" in result.out
    assert f"note: {OVERRIDE_NOTE}" in result.out


def test_a_denial_fails_validate_with_file_line_and_policy(cli, estate_dir):
    grant_user(estate_dir)
    result = cli("validate", "--estate", estate_dir)
    assert result.code == 1
    assert (
        f"deny  {DEV}:15:3: access is granted to user 'asha'; grant it to a team (spec.access[].team), "
        "so that it follows the team when people move on. [access-teams-only]"
    ) in result.out
    as_json = json.loads(cli("validate", "--estate", estate_dir, "--output", "json").out)
    assert as_json["policy"]["summary"]["denied"] == 1


def test_a_warning_is_shown_and_does_not_fail(cli, estate_dir):
    edit(estate_dir, "teams/opg-lpa.yaml", "  email: opg-lpa@justice.gov.uk\n  githubTeams: [opg-lpa]\n", "")
    result = cli("validate", "--estate", estate_dir)
    assert result.code == 0
    assert "warn  teams/opg-lpa.yaml:5:1: team 'opg-lpa' has neither spec.email nor spec.githubTeams" in result.out


def test_plan_has_a_policy_section_in_markdown_and_json(cli, estate_dir):
    md = cli("plan", "--estate", estate_dir, "--output", "markdown")
    assert md.code == 0
    assert "### Policy" in md.out and f"- {OVERRIDE_NOTE}" in md.out
    grant_user(estate_dir)
    js = cli("plan", "--estate", estate_dir, "--output", "json")
    assert js.code == 1
    body = json.loads(js.out)
    assert body["summary"]["create"] == 12 and body["policy"]["summary"]["denied"] == 1
    denied = [v for v in body["policy"]["verdicts"] if v["status"] == "violated"]
    assert [(v["policy"], v["name"], v["line"]) for v in denied] == [("access-teams-only", "laa-apply-dev", 15)]


def test_apply_refuses_a_denial_and_applies_nothing(cli, estate_dir, tmp_path):
    grant_user(estate_dir)
    state = str(tmp_path / "state.db")
    result = cli("apply", "--estate", estate_dir, "--state", state)
    assert result.code == 1
    assert "error: denied by policy (1 violation); nothing was changed:" in result.err
    store = StateStore(state)
    try:
        assert store.fingerprints() == {}
    finally:
        store.close()


def test_policy_list_and_explain(cli, estate_dir):
    listed = json.loads(cli("policy", "list", "--estate", estate_dir, "-o", "json").out)
    names = {p["name"]: p for p in listed["policies"]}
    assert names["source-in-moj-github"]["origin"] == "policies/source-in-moj-github.yaml"
    assert names["memory-limit-ratio"]["mode"] == "deny"
    assert listed["notes"] == [OVERRIDE_NOTE]
    explained = json.loads(cli("policy", "explain", "memory-limit-ratio", "-e", estate_dir, "-o", "json").out)
    assert explained["override"]["reason"].startswith("Over-committed memory")
    assert explained["suite"] == "civic/policy/suites/memory-limit-ratio.yaml"
    missing = cli("policy", "explain", "nope", "-e", estate_dir)
    assert missing.code == 4 and missing.err.startswith("error: no policy named 'nope'")


def test_policy_test_runs_builtin_and_estate_suites_and_fails_on_a_broken_case(cli, estate_dir):
    ok = cli("policy", "test", "--estate", estate_dir)
    assert ok.code == 0 and "119 of 119 cases passed in 44 suites." in ok.out
    edit(estate_dir, "policies/tests/source-in-moj-github.yaml", "violations: 1", "violations: 0")
    broken = cli("policy", "test", os.path.join(estate_dir, "policies", "tests"), "--estate", estate_dir)
    assert broken.code == 1
    assert "FAIL source-in-moj-github: a personal repository" in broken.out
    assert "expected 0 violation(s), got 1" in broken.out


def test_a_bad_suite_file_is_reported_at_its_line(cli, estate_dir):
    edit(estate_dir, "policies/tests/source-in-moj-github.yaml", "violations: 1", "violations: many")
    result = cli("policy", "test", "--estate", estate_dir)
    assert result.code == 1
    assert (
        "policies/tests/source-in-moj-github.yaml:13:7: spec.cases[1].violations: must be a number, "
        "'yes' or 'no', got 'many'."
    ) in result.err


NO_REDIS = """\
apiVersion: civic/v1
kind: Policy
metadata: {name: no-redis}
spec:
  description: Redis is retired; use the queue.
  appliesTo: [Environment]
  expression: "object.spec.backingServices.filter(n, object.spec.backingServices[n].type == 'redis')"
  message: "backing service '{item}' is a redis"
"""


def test_audit_reports_what_is_applied_against_policies_added_since(cli, estate_dir, tmp_path):
    state = str(tmp_path / "state.db")
    assert cli("apply", "--estate", estate_dir, "--state", state).code == 0
    clean = cli("policy", "audit", "--estate", estate_dir, "--state", state)
    assert clean.code == 0 and "Audited 12 applied objects" in clean.out
    store = StateStore(state)
    try:  # a service deployed as civic deploy records it, judged in its environment (production)
        spec = {
            "apiVersion": "civic/v1",
            "kind": "Service",
            "metadata": {"name": "web"},
            "spec": {"run": {"command": ["web"]}, "replicas": 1},
        }
        deployments.Deployments(store).add_revision("laa-apply-production", "web", spec=spec, by="test")
    finally:
        store.close()
    with open(os.path.join(estate_dir, "policies", "no-redis.yaml"), "w") as f:
        f.write(NO_REDIS)
    result = cli("policy", "audit", "--estate", estate_dir, "--state", state, "--output", "json")
    assert result.code == 1
    body = json.loads(result.out)
    groups = {g["policy"]: g for g in body["policies"]}
    assert groups["no-redis"]["totalViolations"] == 4
    assert {v["name"] for v in groups["no-redis"]["violations"]} == {
        "hmpps-book-visit-prod",
        "laa-apply-dev",
        "laa-apply-staging",
        "laa-apply-production",
    }
    assert groups["production-replicas"]["violations"] == [
        {
            "kind": "Service",
            "name": "web",
            "environment": "laa-apply-production",
            "message": "service 'web' runs in production with fewer than 2 replicas; set spec.replicas (or "
            "spec.autoscaling.min) to at least 2.",
            "enforcementAction": "deny",
        }
    ]
    assert body["objects"] == 13
