"""The deploy path's entry: check_service returns verdicts; enforce_service refuses a denial."""

from __future__ import annotations

import datetime

import pytest
from tests.policy.helpers import obj

from civic import policy
from civic.errors import PolicyDenied
from civic.spec import models

PLATFORM = models.Platform.model_validate(obj("Platform"))
PROD = models.Environment.model_validate(
    obj("Environment", metadata={"name": "apply-prod"}, spec={"production": True, "environmentName": "production"})
)
TODAY = datetime.date(2026, 1, 1)


def service(**spec) -> models.Service:
    return models.Service.model_validate(obj("Service", spec=spec))


def test_a_good_service_passes_every_policy():
    report = policy.enforce_service(service(), PROD, PLATFORM, today=TODAY)
    assert report.verdicts and not report.denied and not report.warnings
    assert {v.kind for v in report.verdicts} == {"Service"}


def test_a_denied_deploy_raises_with_every_policy_message():
    bad = service(replicas=1, security={"privileged": True})
    with pytest.raises(PolicyDenied) as e:
        policy.enforce_service(bad, PROD, PLATFORM, today=TODAY)
    assert e.value.message.startswith(
        "deploying service 'web' to 'apply-prod' is denied by policy (2 violations); nothing was changed:"
    )
    assert "asks for privileged mode; remove spec.security.privileged. [no-privileged]" in e.value.message
    assert "fewer than 2 replicas" in e.value.message


def test_warnings_do_not_block_and_are_returned():
    report = policy.enforce_service(
        service(resources={"memory": "2Gi", "requestMemory": "256Mi"}), PROD, PLATFORM, today=TODAY
    )
    assert [v.policy for v in report.warnings] == ["memory-limit-ratio"]


def test_the_estates_overrides_apply_at_deploy(estate_dir):
    from civic.spec import estate

    chosen = policy.policy_set(estate.load(estate_dir))  # memory-limit-ratio is deny there
    with pytest.raises(PolicyDenied, match=r"more than 2x"):
        policy.enforce_service(
            service(resources={"memory": "2Gi", "requestMemory": "256Mi"}), PROD, PLATFORM, policies=chosen, today=TODAY
        )


def test_a_route_host_claimed_by_another_service_is_denied():
    other = models.Service.model_validate(
        obj("Service", metadata={"name": "api"}, spec={"routes": [{"host": "apply.civic.test"}]})
    )
    mine = service(routes=[{"host": "apply.civic.test"}])
    report = policy.check_service(mine, PROD, PLATFORM, today=TODAY, others=(other,))
    assert not report.denied  # the same environment may route one host to two services
