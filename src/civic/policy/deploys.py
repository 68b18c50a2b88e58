"""Policy at deploy time: the one call the deploy path makes before it starts anything.

``check_service(service, environment, platform)`` judges a Service spec in the
environment it is deployed to and returns the report; ``enforce_service`` does the
same and raises :class:`~civic.errors.PolicyDenied` with every denial's message when a
deny-mode policy is violated (warnings are in the returned report, for the caller to
show). Pass the estate's ``policies`` (``civic.policy.estate.policy_set(estate)``) so
its overrides and own policies apply; without them the built-ins do. Pure apart from
reading today's date when none is given.
"""

from __future__ import annotations

import datetime

from civic.errors import PolicyDenied
from civic.policy import evaluation, library, subjects
from civic.policy.definitions import PolicySet
from civic.policy.verdicts import Report
from civic.spec import models


def check_service(
    service: models.Service,
    environment: models.Environment,
    platform: models.Platform,
    *,
    policies: PolicySet | None = None,
    today: datetime.date | None = None,
    others: tuple[models.Service, ...] = (),
) -> Report:
    """Every policy's verdict on ``service`` deployed into ``environment``.

    ``others`` are the environment's other services, so that estate-wide checks (hostname
    clashes) see them too; only ``service``'s own verdicts are returned.
    """
    chosen = policies if policies is not None else PolicySet(library.BUILTIN)
    subject = subjects.from_model(service, environment=environment)
    items = [subject] + [subjects.from_model(s, environment=environment) for s in others]
    items.append(subjects.from_model(environment))
    report = evaluation.evaluate(chosen, items, platform=subjects.full(platform), today=today or datetime.date.today())
    mine = tuple(v for v in report.verdicts if v.kind == "Service" and v.name == service.metadata.name)
    return Report(mine, report.policies, report.notes)


def enforce_service(
    service: models.Service,
    environment: models.Environment,
    platform: models.Platform,
    *,
    policies: PolicySet | None = None,
    today: datetime.date | None = None,
    others: tuple[models.Service, ...] = (),
) -> Report:
    """As :func:`check_service`; raises PolicyDenied (nothing deployed) on any denial."""
    report = check_service(service, environment, platform, policies=policies, today=today, others=others)
    if report.denied:
        raise PolicyDenied(
            f"deploying service '{service.metadata.name}' to "
            f"'{environment.metadata.name}' is " + report.denial_message()
        )
    return report
