"""Exceptions: exempt until a date; afterwards the policy applies again and the report says so."""

from __future__ import annotations

import datetime

from tests.policy.helpers import PLATFORM, obj, subject

from civic.policy import evaluation, library
from civic.policy.definitions import PolicySet
from civic.policy.verdicts import Status

POLICIES = PolicySet(library.BUILTIN)
PROD_ENV = obj(
    "Environment", metadata={"name": "apply-prod"}, spec={"production": True, "environmentName": "production"}
)
EXCEPTION = {"policy": "production-replicas", "reason": "migrating to the new queue", "expires": "2026-03-31"}


def verdict(report, policy):
    return next(v for v in report.verdicts if v.policy == policy)


def judge(item, day):
    return evaluation.evaluate(POLICIES, [item], platform=PLATFORM, today=day)


def one_replica(**spec):
    return subject("Service", environment=PROD_ENV, spec={"replicas": 1, **spec})


def test_an_active_exception_exempts_the_service_with_its_reason():
    report = judge(one_replica(policyExceptions=[EXCEPTION]), datetime.date(2026, 3, 31))
    v = verdict(report, "production-replicas")
    assert v.status is Status.EXEMPT and not report.denied
    assert v.note == "exempt by service web until 2026-03-31: migrating to the new queue"


def test_an_expired_exception_stops_applying_and_the_report_says_so():
    report = judge(one_replica(policyExceptions=[EXCEPTION]), datetime.date(2026, 4, 1))
    v = verdict(report, "production-replicas")
    assert v.status is Status.VIOLATED and v.denied
    expected = (
        "the exception of service web expired on 2026-03-31 (migrating to the new queue); the policy applies again"
    )
    assert v.note == expected and expected in report.notes


def test_an_environment_exception_covers_its_services():
    env = obj(
        "Environment",
        metadata={"name": "apply-prod"},
        spec={"production": True, "environmentName": "production", "policyExceptions": [EXCEPTION]},
    )
    item = subject("Service", environment=env, spec={"replicas": 1})
    v = verdict(judge(item, datetime.date(2026, 1, 1)), "production-replicas")
    assert v.status is Status.EXEMPT and "environment apply-prod" in v.note


def test_an_exception_covers_only_its_policy():
    report = judge(one_replica(policyExceptions=[EXCEPTION], readiness=None), datetime.date(2026, 1, 1))
    assert verdict(report, "production-readiness").denied


def test_an_exception_for_a_policy_that_does_not_exist_is_reported():
    item = one_replica(policyExceptions=[dict(EXCEPTION, policy="production-replica")])
    report = judge(item, datetime.date(2026, 1, 1))
    assert (
        "service web has an exception for policy 'production-replica', which does not exist; "
        "check the name with 'civic policy list'"
    ) in report.notes
    assert verdict(report, "production-replicas").denied


def test_an_exception_without_expiry_is_a_spec_problem(estate_dir, cli):
    path = f"{estate_dir}/environments/laa-apply-dev/environment.yaml"
    with open(path, "a") as f:
        f.write("  policyExceptions:\n    - {policy: ownership-metadata, reason: new}\n")
    result = cli("validate", "--estate", estate_dir)
    assert result.code == 1
    assert (
        "environments/laa-apply-dev/environment.yaml:27:7: spec.policyExceptions[0].expires: "
        "required field 'expires' is missing."
    ) in result.err
