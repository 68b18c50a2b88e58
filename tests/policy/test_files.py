"""An estate's policies/ folder: its own policies, overrides with reasons, and bad files."""

from __future__ import annotations

import pytest

from civic.errors import SpecError
from civic.policy import files
from civic.policy.definitions import Mode

OWN = """\
apiVersion: civic/v1
kind: Policy
metadata:
  name: review-date
spec:
  description: Production environments have a review date.
  appliesTo: [Environment]
  when: object.spec.production
  expression: object.spec.reviewAfter != null
  message: "set spec.reviewAfter"
  mode: warn
"""

OVERRIDE = """\
apiVersion: civic/v1
kind: PolicyOverride
metadata:
  name: {name}
spec:
{body}
"""


def problems(texts: dict[str, str]) -> list[str]:
    with pytest.raises(SpecError) as e:
        files.policy_set(texts)
    return [str(p) for p in e.value.problems]


def test_an_own_policy_is_added_after_the_builtins():
    chosen = files.policy_set({"policies/review-date.yaml": OWN})
    policy = chosen.policies[-1]
    assert (policy.name, policy.mode, policy.origin) == ("review-date", Mode.WARN, "policies/review-date.yaml")
    assert chosen.get("production-replicas") is not None


def test_an_override_changes_the_mode_and_the_plan_notes_carry_its_reason():
    body = "  mode: audit\n  reason: Too noisy while teams migrate (until June)."
    chosen = files.policy_set({"policies/o.yaml": OVERRIDE.format(name="team-contact", body=body)})
    assert chosen.get("team-contact").mode is Mode.AUDIT
    assert chosen.notes == (
        "team-contact: mode audit (built-in: warn), by policies/o.yaml: Too noisy while teams migrate (until June).",
    )


def test_an_override_can_disable_a_builtin_and_change_parameters():
    off = OVERRIDE.format(name="allowed-registries", body="  enabled: false\n  reason: No Kubernetes here.")
    more = OVERRIDE.format(name="production-replicas", body="  params: {minReplicas: 3}\n  reason: HA.")
    chosen = files.policy_set({"policies/a.yaml": off, "policies/b.yaml": more})
    assert chosen.get("allowed-registries") is None and chosen.disabled == ("allowed-registries",)
    assert chosen.get("production-replicas").params == {"minReplicas": 3}
    assert "allowed-registries: disabled, by policies/a.yaml: No Kubernetes here." in chosen.notes


def test_an_expression_that_does_not_compile_is_placed_at_its_line():
    bad = OWN.replace("object.spec.reviewAfter != null", "object.spec.reviewAfter !=")
    assert problems({"policies/review-date.yaml": bad}) == [
        "policies/review-date.yaml:9:3: spec.expression: the CEL expression does not compile, at column "
        "27 of the expression: Syntax error: mismatched input '<EOF>' expecting {'[', '{', '(', '.', '-', "
        "'!', 'true', 'false', 'null', NUM_FLOAT, NUM_INT, NUM_UINT, STRING, BYTES, IDENTIFIER}."
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            OVERRIDE.format(name="production-replica", body="  mode: warn\n  reason: r"),
            "policies/x.yaml:4:3: metadata.name: there is no built-in policy 'production-replica' to override "
            "('civic policy list' shows them); did you mean 'production-replicas'?",
        ),
        (
            OVERRIDE.format(name="team-contact", body="  mode: deny"),
            "policies/x.yaml:5:1: spec.reason: required field 'reason' is missing.",
        ),
        (
            OVERRIDE.format(name="team-contact", body="  reason: nothing"),
            "policies/x.yaml:5:1: spec: an override must change something: give 'mode', 'params' or 'enabled: false'.",
        ),
        (
            OVERRIDE.format(name="production-replicas", body="  params: {min: 3}\n  reason: r"),
            "policies/x.yaml:6:12: spec.params.min: policy 'production-replicas' has no parameter 'min' "
            "(its parameters: minReplicas).",
        ),
        (
            OVERRIDE.format(name="team-contact", body="  mode: block\n  reason: r"),
            "policies/x.yaml:6:3: spec.mode: must be one of 'deny', 'warn' or 'audit', got 'block'.",
        ),
        (
            OWN.replace("appliesTo: [Environment]", "appliesTo: [Enviroment]"),
            "policies/x.yaml:7:15: spec.appliesTo[0]: 'Enviroment' is not a kind policies can judge; use one of "
            "Platform, Team, Environment, Service, Pod, Deployment, StatefulSet, DaemonSet, ReplicaSet, Job, "
            "CronJob, KubernetesService, Namespace, Ingress, RoleBinding, ClusterRoleBinding, PodDisruptionBudget; "
            "did you mean 'Environment'?",
        ),
        (
            OWN.replace("name: review-date", "name: no-privileged"),
            "policies/x.yaml:4:3: metadata.name: a policy named 'no-privileged' already exists (the built-in "
            "library); choose another name, or write a PolicyOverride to change a built-in.",
        ),
        (
            OWN.replace("kind: Policy", "kind: Polcy"),
            "policies/x.yaml:2:1: kind: must be one of Policy, PolicyOverride; got 'Polcy'.",
        ),
        (
            "apiVersion: civic/v1\nkind: Policy\n  bad: [",
            "policies/x.yaml:3:6: this is not valid YAML: mapping values are not allowed in this context.",
        ),
    ],
    ids=[
        "unknown-builtin",
        "no-reason",
        "changes-nothing",
        "unknown-param",
        "bad-mode",
        "unknown-kind",
        "name-clash",
        "wrong-kind",
        "bad-yaml",
    ],
)
def test_bad_policy_files_name_file_line_and_field(text, expected):
    assert expected in problems({"policies/x.yaml": text})


def test_files_outside_policies_or_not_yaml_are_ignored():
    chosen = files.policy_set({"policies/README.md": "# notes", "policies/tests/t.yaml": "junk: ["})
    assert chosen.overrides == () and len(chosen.policies) > 0
