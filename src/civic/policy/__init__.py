"""Guardrails: policy as code for the estate and for deploys, with test suites.

The public surface. ``check_estate`` judges an estate from git (validate, plan, apply);
``check_service`` / ``enforce_service`` judge a service before it is deployed;
``audit`` judges everything applied; ``run_suites`` runs gatekeeper-library-style
suites. See docs/policies.md. Pure: values in, verdicts out.
"""

from __future__ import annotations

from civic.policy import auditing as _audit
from civic.policy import deploys as _deploys
from civic.policy import estate as _estate
from civic.policy import library as _library
from civic.policy import suites as _suites
from civic.policy.definitions import Mode, Override, Policy, PolicySet
from civic.policy.subjects import Subject, SubjectKind, register
from civic.policy.verdicts import Report, Status, Verdict

BUILTIN = _library.BUILTIN
audit = _audit.audit
check_estate = _estate.check
check_service = _deploys.check_service
enforce_service = _deploys.enforce_service
policy_set = _estate.policy_set
run_suites = _suites.run

__all__ = [
    "BUILTIN",
    "Mode",
    "Override",
    "Policy",
    "PolicySet",
    "Report",
    "Status",
    "Subject",
    "SubjectKind",
    "Verdict",
    "audit",
    "check_estate",
    "check_service",
    "enforce_service",
    "policy_set",
    "register",
    "run_suites",
]
