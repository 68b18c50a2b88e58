"""Policy at deploy time: the one call the deploy path makes before it starts anything.

``check_service(service, environment, platform)`` judges a Service spec in the
environment it is deployed to and returns the report; ``enforce_service`` does the
same and raises :class:`~civic.errors.PolicyDenied` with every denial's message when a
deny-mode policy is violated (warnings are in the returned report, for the caller to
show). Pass the estate's ``policies`` (``civic.policy.estate.policy_set(estate)``) so
its overrides and own policies apply; without them the built-ins do. The deploy path
passes ``claims``, the hostnames other deploys and the estate hold (read from the store
by the control floor), which ``hostname-owned`` judges the service's routes against, and
the service file's ``document``, so that verdicts say its lines. Pure apart from reading
today's date when none is given.
"""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Mapping, Sequence

from civic.errors import PolicyDenied
from civic.policy import evaluation, library, subjects
from civic.policy.definitions import PolicySet
from civic.policy.verdicts import Report
from civic.spec import models, yamlpos


def check_service(
    service: models.Service,
    environment: models.Environment,
    platform: models.Platform,
    *,
    policies: PolicySet | None = None,
    today: datetime.date | None = None,
    others: tuple[models.Service, ...] = (),
    claims: Mapping[str, Sequence[str]] | None = None,
    document: yamlpos.Document | None = None,
) -> Report:
    """Every policy's verdict on ``service`` deployed into ``environment``.

    ``others`` are the environment's other services, so that estate-wide checks (hostname
    clashes) see them too; only ``service``'s own verdicts are returned. ``claims`` are the
    hostnames already held (hostname → the environments holding each, from the store), for
    ``hostname-owned``. With the service file's ``document``, verdicts say its file and line.
    """
    chosen = _with_claims(policies if policies is not None else PolicySet(library.BUILTIN), claims or {})
    file = document.file if document is not None else ""
    subject = subjects.from_model(service, environment=environment, file=file, document=document)
    items = [subject] + [subjects.from_model(s, environment=environment) for s in others]
    items.append(subjects.from_model(environment))
    report = evaluation.evaluate(chosen, items, platform=subjects.full(platform), today=today or datetime.date.today())
    mine = tuple(v for v in report.verdicts if v.kind == "Service" and v.name == service.metadata.name)
    return Report(mine, report.policies, report.notes)


def _with_claims(policies: PolicySet, claims: Mapping[str, Sequence[str]]) -> PolicySet:
    """``policies`` with the hostnames held filled in as ``hostname-owned``'s ``claims``."""
    if not claims:
        return policies
    filled = {host: sorted(envs) for host, envs in claims.items()}
    return dataclasses.replace(
        policies,
        policies=tuple(
            dataclasses.replace(p, params={**p.params, "claims": filled}) if p.check is library.owned_hostnames else p
            for p in policies.policies
        ),
    )


def enforce_service(
    service: models.Service,
    environment: models.Environment,
    platform: models.Platform,
    *,
    policies: PolicySet | None = None,
    today: datetime.date | None = None,
    others: tuple[models.Service, ...] = (),
    claims: Mapping[str, Sequence[str]] | None = None,
    document: yamlpos.Document | None = None,
) -> Report:
    """As :func:`check_service`; raises PolicyDenied (nothing deployed) on any denial."""
    report = check_service(
        service,
        environment,
        platform,
        policies=policies,
        today=today,
        others=others,
        claims=claims,
        document=document,
    )
    if report.denied:
        raise PolicyDenied(
            f"deploying service '{service.metadata.name}' to "
            f"'{environment.metadata.name}' is " + report.denial_message()
        )
    return report
