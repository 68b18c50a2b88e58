"""The engine: policies and subjects in, a :class:`~civic.policy.verdicts.Report` out.

For each subject, one CEL context is built and every policy for its kind runs on it
(``when`` first, as VAP's matchConditions: false means the policy does not apply);
then each estate-wide Python check runs once over all subjects. Exceptions are
honoured here, and expired ones reported. ``today`` is given by the caller, so the
core stays pure and tests can pick the day. Called by :mod:`civic.policy.estate`,
:mod:`civic.policy.audit`, :mod:`civic.policy.suites` and the deploy path.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Iterable, Mapping, MutableMapping, Sequence
from typing import Any, cast

from civic.policy import exemptions, expressions, kubernetes, subjects
from civic.policy.definitions import EstateCheck, ObjectCheck, Policy, PolicySet, Scope
from civic.policy.verdicts import Report, Status, Verdict

_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_.]*)\}")


def evaluate(
    policy_set: PolicySet,
    items: Sequence[subjects.Subject],
    *,
    platform: Mapping[str, Any],
    today: datetime.date,
    memo: MutableMapping[str, tuple[Verdict, ...]] | None = None,
    memo_keys: Mapping[tuple[str, str], str] | None = None,
) -> Report:
    """Judge every subject by every policy that applies to its kind.

    With ``memo``, a subject whose key (``memo_keys[subject.key]``) is in it takes its
    object-scope verdicts from there, and those judged are put in it: the caller's key
    must change whenever anything the verdicts depend on changes (see policy.estate).
    """
    base = subjects.platform_variables(platform)
    out: list[Verdict] = []
    notes: list[str] = list(policy_set.notes)
    for subject in items:
        held = exemptions.of(subject)
        notes += _unknown_exceptions(policy_set, subject, held)
        key = memo_keys.get(subject.key) if memo is not None and memo_keys is not None else None
        if key is not None and memo is not None and key in memo:
            out += memo[key]
            continue
        policies = [p for p in policy_set.for_kind(subject.kind) if p.scope is Scope.OBJECT]
        if not policies:
            continue
        values = {**base, **subjects.variables(subject, platform)}
        context = expressions.Context(values)
        judged = [v for p in policies if (v := _judge(p, subject, (context, values), held, today)) is not None]
        out += judged
        if key is not None and memo is not None:
            memo[key] = tuple(judged)
    for policy in policy_set.policies:
        if policy.scope is Scope.ESTATE:
            out += _estate_check(policy, items, today)
    notes += sorted({v.note for v in out if v.note and v.status is not Status.EXEMPT})
    kinds = {s.kind for s in items}
    # the policies for Kubernetes objects count only where such objects were judged
    counted = [
        p for p in policy_set.policies if not set(p.applies_to) <= set(kubernetes.API) or kinds & set(p.applies_to)
    ]
    return Report(tuple(out), len(counted), tuple(dict.fromkeys(notes)))


def _judge(
    policy: Policy,
    subject: subjects.Subject,
    evaluator: tuple[expressions.Context, Mapping[str, Any]],
    held: list[exemptions.Exemption],
    today: datetime.date,
) -> Verdict | None:
    active, expired = exemptions.find(held, policy.name, today)
    if active is not None:
        return _verdict(policy, subject, Status.EXEMPT, (), note=active.describe(today))
    context, values = evaluator
    try:
        if policy.when and not context.run(expressions.compile_(policy.when), policy.params):
            return None
        if policy.check is not None:
            check = cast(ObjectCheck, policy.check)  # an object-scope policy's check is an ObjectCheck
            result = check(values, policy.params)
        else:
            result = context.run(expressions.compile_(policy.expression or "true"), policy.params)
        found = violations(result)
    except expressions.ExpressionError as e:
        return _verdict(
            policy,
            subject,
            Status.ERROR,
            (f"policy '{policy.name}' could not be evaluated on this object: {e}.",),
            expired=expired,
            today=today,
        )
    messages = tuple(render(policy, subject, item) for item in found)
    return _verdict(
        policy, subject, Status.VIOLATED if messages else Status.PASSED, messages, expired=expired, today=today
    )


def violations(result: Any) -> list[Any]:
    """True → none; False → one; a list → one per item. Anything else is an error."""
    if result is True:
        return []
    if result is False:
        return [None]
    if isinstance(result, list | tuple):
        return list(result)
    raise expressions.ExpressionError(f"the expression must give true/false or a list of violations, got {result!r}")


def _estate_check(policy: Policy, items: Sequence[subjects.Subject], today: datetime.date) -> list[Verdict]:
    mine = [s for s in items if s.kind in policy.applies_to]
    found: dict[tuple[str, str], list[Any]] = {}
    assert policy.check is not None, f"estate policy {policy.name} has no check"
    check = cast(EstateCheck, policy.check)  # an estate-scope policy's check is an EstateCheck
    for subject, item in check(mine, policy.params):
        found.setdefault(subject.key, []).append(item)
    out = []
    for subject in mine:
        active, expired = exemptions.find(exemptions.of(subject), policy.name, today)
        if active is not None:
            out.append(_verdict(policy, subject, Status.EXEMPT, (), note=active.describe(today)))
            continue
        messages = tuple(render(policy, subject, item) for item in found.get(subject.key, []))
        out.append(
            _verdict(
                policy, subject, Status.VIOLATED if messages else Status.PASSED, messages, expired=expired, today=today
            )
        )
    return out


def _verdict(
    policy: Policy,
    subject: subjects.Subject,
    status: Status,
    messages: tuple[str, ...],
    *,
    note: str = "",
    expired: exemptions.Exemption | None = None,
    today: datetime.date | None = None,
) -> Verdict:
    if expired is not None and today is not None:
        note = expired.describe(today)
    file, line, column = subject.where(policy.field)
    return Verdict(
        policy.name,
        policy.mode,
        status,
        subject.kind,
        subject.name,
        subject.environment_name,
        messages,
        file,
        line,
        column,
        note,
    )


def render(policy: Policy, subject: subjects.Subject, item: Any) -> str:
    """The policy's message for one violation; ``{item}``, ``{name}``, ``{params.x}`` and
    ``{object.spec.x}`` are filled in; an unknown placeholder is left as written."""
    values = {
        "item": item,
        "name": subject.name,
        "kind": subject.kind,
        "environment": subject.environment_name,
        "params": policy.params,
        "object": subject.object,
    }
    return _PLACEHOLDER.sub(lambda m: _lookup(values, m.group(1), m.group(0)), policy.message)


def _lookup(values: Mapping[str, Any], dotted: str, written: str) -> str:
    value: Any = values
    for part in dotted.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return written
        value = value[part]
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    return "(none)" if value is None else str(value)


def _unknown_exceptions(
    policy_set: PolicySet, subject: subjects.Subject, held: Iterable[exemptions.Exemption]
) -> list[str]:
    return [
        f"{e.holder} has an exception for policy '{e.policy}', which does not exist; "
        "check the name with 'civic policy list'"
        for e in held
        if not policy_set.known(e.policy)
    ]
