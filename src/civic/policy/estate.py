"""Policy over an estate from git: what ``civic validate``, ``plan`` and ``apply`` call.

:func:`check` judges the platform, every team and every environment of a loaded
:class:`~civic.spec.estate.Estate` by the policies in force (the built-ins, changed by
the estate's ``policies/*.yaml``), and places each violation at its file and line.
Pure: the estate was read already; ``today`` decides which exceptions still apply.
"""

from __future__ import annotations

import datetime
import hashlib
import types
from collections.abc import MutableMapping

from civic.policy import evaluation, files, subjects
from civic.policy.definitions import PolicySet
from civic.policy.verdicts import Report, Verdict
from civic.spec.estate import Estate


def policy_set(estate: Estate) -> PolicySet:
    """The policies in force for ``estate``; raises SpecError for a bad policy file."""
    return files.policy_set(estate.extra_texts)


def subjects_of(estate: Estate) -> list[subjects.Subject]:
    out = []
    for key, model in sorted(estate.objects().items()):
        rel = estate.files[key]
        out.append(subjects.from_model(model, file=rel, document=estate.documents.get(rel)))
    return out


def check(
    estate: Estate,
    *,
    today: datetime.date,
    policies: PolicySet | None = None,
    memo: MutableMapping[str, tuple[Verdict, ...]] | None = None,
) -> Report:
    """Every policy's verdict on every object of ``estate``.

    ``memo`` (kept by the caller between runs) lets an unchanged file keep its verdicts:
    its key is the file's path and text digest, with a digest of everything else a verdict
    can depend on (the day, the policies in force and their code, civic.yaml, the teams).
    """
    chosen = policies if policies is not None else policy_set(estate)
    items = subjects_of(estate)
    keys = None
    if memo is not None and estate.digests:
        context = _context(estate, chosen, today)
        keys = {s.key: f"{s.file}:{estate.digests.get(s.file, '')}:{context}" for s in items}
    return evaluation.evaluate(
        chosen, items, platform=subjects.full(estate.platform), today=today, memo=memo, memo_keys=keys
    )


def _context(estate: Estate, chosen: PolicySet, today: datetime.date) -> str:
    parts = [
        today.isoformat(),
        *(f"{rel}={d}" for rel, d in sorted(estate.digests.items()) if not rel.startswith("environments/")),
    ]
    for p in chosen.policies:
        code = getattr(p.check, "__code__", None)
        parts.append(
            repr(
                (
                    p.name,
                    p.mode.value,
                    p.expression,
                    p.when,
                    sorted(p.params.items()),
                    p.message,
                    p.field,
                    p.applies_to,
                    p.scope.value,
                    _code_digest(code) if code else "",
                )
            )
        )
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


def _code_digest(code: types.CodeType) -> str:
    """The same for the same code in every process (a const's repr may hold an address)."""
    h = hashlib.sha256(code.co_code + repr(code.co_names).encode())
    for const in code.co_consts:
        h.update((_code_digest(const) if isinstance(const, types.CodeType) else repr(const)).encode())
    return h.hexdigest()
