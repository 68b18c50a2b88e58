"""Every built-in policy ships a suite, and every case of every suite holds.

Each case is its own test, so a failure names the policy and the case.
"""

from __future__ import annotations

import pytest

from civic.policy import files, library, suites
from civic.policy.definitions import PolicySet

PARSED = files.suites(suites.builtin_texts())
POLICIES = PolicySet(library.BUILTIN)
CASES = [(suite, doc, i) for suite, doc in PARSED for i in range(len(suite.spec.cases))]


def test_every_builtin_policy_has_a_suite_with_allowed_and_denied_cases():
    by_policy = {suite.spec.policy: suite for suite, _ in PARSED}
    assert sorted(by_policy) == sorted(p.name for p in library.BUILTIN)
    for name, suite in by_policy.items():
        counts = [c.violations for c in suite.spec.cases]
        assert any(c in (0, "no") for c in counts), f"{name}: no case that must be allowed"
        assert any(c not in (0, "no") for c in counts), f"{name}: no case that must be denied"


@pytest.mark.parametrize(
    ("suite", "doc", "index"), CASES, ids=[f"{s.spec.policy}:{s.spec.cases[i].name}" for s, _, i in CASES]
)
def test_case(suite, doc, index):
    one = suite.model_copy(update={"spec": suite.spec.model_copy(update={"cases": [suite.spec.cases[index]]})})
    (result,) = suites.run_suite(one, doc, POLICIES)
    assert result.ok, str(result)


def test_a_wrong_expectation_fails_and_says_what_it_got():
    suite, doc = next((s, d) for s, d in PARSED if s.spec.policy == "production-replicas")
    wrong = suite.model_copy(
        update={
            "spec": suite.spec.model_copy(update={"cases": [suite.spec.cases[1].model_copy(update={"violations": 0})]})
        }
    )
    (result,) = suites.run_suite(wrong, doc, POLICIES)
    assert not result.ok
    assert result.detail.startswith("expected 0 violation(s), got 1: 'service 'web' runs in production")
    assert result.file == "civic/policy/suites/production-replicas.yaml" and result.line > 0


def test_a_message_that_does_not_match_fails():
    suite, doc = next((s, d) for s, d in PARSED if s.spec.policy == "no-privileged")
    wrong = suite.model_copy(
        update={
            "spec": suite.spec.model_copy(
                update={"cases": [suite.spec.cases[1].model_copy(update={"message": "^nothing like it$"})]}
            )
        }
    )
    (result,) = suites.run_suite(wrong, doc, POLICIES)
    assert "does not match /^nothing like it$/" in result.detail
