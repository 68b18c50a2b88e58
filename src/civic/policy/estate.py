"""Policy over an estate from git: what ``civic validate``, ``plan`` and ``apply`` call.

:func:`check` judges the platform, every team and every environment of a loaded
:class:`~civic.spec.estate.Estate` by the policies in force (the built-ins, changed by
the estate's ``policies/*.yaml``), and places each violation at its file and line.
Pure: the estate was read already; ``today`` decides which exceptions still apply.
"""

from __future__ import annotations

import datetime

from civic.policy import evaluation, files, subjects
from civic.policy.definitions import PolicySet
from civic.policy.verdicts import Report
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


def check(estate: Estate, *, today: datetime.date, policies: PolicySet | None = None) -> Report:
    """Every policy's verdict on every object of ``estate``."""
    chosen = policies if policies is not None else policy_set(estate)
    return evaluation.evaluate(chosen, subjects_of(estate), platform=subjects.full(estate.platform),
                               today=today)
