"""Policy test suites, in the gatekeeper-library style: objects to allow, objects to deny.

A suite (``kind: PolicySuite``) names one policy and lists cases; each case gives an
object (or, for estate-wide checks, several), the number of violations expected
(``0``, ``2``, ``yes``, ``no``) and a regular expression every message must match.
Objects are merged over a complete, valid object of their kind (:data:`BASES`, then
the suite's own ``base``), so a case writes only the fields it is about. Every
built-in policy ships a suite (``civic/policy/suites/``); an estate keeps suites for
its own policies in ``policies/tests/``. ``civic policy test`` and the tests call
:func:`run`. Pure, apart from :func:`builtin_texts` reading the package's files.
"""

from __future__ import annotations

import copy
import dataclasses
import datetime
import importlib.resources
import re
from collections.abc import Iterable, Mapping
from typing import Any

from civic.policy import documents, evaluation, kubernetes, subjects
from civic.policy.definitions import PolicySet
from civic.spec import yamlpos

TODAY = datetime.date(2030, 1, 1)  # suites judge on a fixed day, so exceptions' expiry is stable

BASES: dict[str, dict[str, Any]] = {
    "Platform": {
        "apiVersion": "civic/v1",
        "kind": "Platform",
        "metadata": {"name": "test-platform"},
        "spec": {"baseDomain": "civic.test", "domains": ["service.justice.gov.uk"], "businessUnits": ["HQ", "LAA"]},
    },
    "Team": {
        "apiVersion": "civic/v1",
        "kind": "Team",
        "metadata": {"name": "test-team"},
        "spec": {"email": "test-team@justice.gov.uk"},
    },
    "Environment": {
        "apiVersion": "civic/v1",
        "kind": "Environment",
        "metadata": {"name": "test-dev"},
        "spec": {
            "team": "test-team",
            "businessUnit": "HQ",
            "application": "A test service",
            "owner": "Test team: test-team@justice.gov.uk",
            "sourceCode": "https://github.com/ministryofjustice/test",
            "teamChannel": "#test-team",
            "production": False,
            "environmentName": "development",
            "access": [{"team": "test-team"}],
        },
    },
    "Service": {
        "apiVersion": "civic/v1",
        "kind": "Service",
        "metadata": {"name": "web"},
        "spec": {"run": {"command": ["python", "-m", "http.server"]}, "replicas": 2, "readiness": {"path": "/healthz"}},
    },
}


@dataclasses.dataclass(frozen=True)
class CaseResult:
    file: str
    line: int
    policy: str
    case: str
    ok: bool
    detail: str = ""  # what differed, when not ok

    def __str__(self) -> str:
        mark = "ok  " if self.ok else "FAIL"
        return f"{mark} {self.policy}: {self.case}" + (
            f"\n     {self.file}:{self.line}: {self.detail}" if not self.ok else ""
        )


def merge(base: Any, over: Any) -> Any:
    """``over`` laid on ``base``: mappings merge key by key, anything else replaces."""
    if isinstance(base, Mapping) and isinstance(over, Mapping):
        out = dict(copy.deepcopy(base))
        for key, value in over.items():
            out[key] = merge(out[key], value) if key in out else copy.deepcopy(value)
        return out
    return copy.deepcopy(over)


def builtin_texts() -> dict[str, str]:
    """The built-in suites' texts, keyed by a name a person can find."""
    folder = importlib.resources.files("civic.policy") / "suites"
    return {
        f"civic/policy/suites/{f.name}": f.read_text(encoding="utf-8")
        for f in sorted(folder.iterdir(), key=lambda f: f.name)
        if f.name.endswith(".yaml")
    }


def _object(suite: documents.SuiteDocument, kind: str, raw: Mapping[str, Any]) -> dict[str, Any]:
    if kind not in BASES and kind not in suite.spec.base:
        return dict(raw)  # a kind registered later (a Kubernetes object): taken as written
    merged: dict[str, Any] = merge(merge(BASES.get(kind, {}), suite.spec.base.get(kind, {})), raw)
    return merged  # two mappings merge into a dict


def _subjects(suite: documents.SuiteDocument, case: documents.Case, default_kind: str) -> list[subjects.Subject]:
    env_raw = _object(suite, "Environment", case.environment or {})
    env_view = subjects.KINDS["Environment"].view(env_raw)
    out = []
    for raw in case.objects if case.objects is not None else [case.object or {}]:
        if not str(raw.get("apiVersion", "civic/")).startswith("civic/"):
            out.append(kubernetes.subject(raw))  # a Kubernetes object, judged as written
            continue
        kind = raw.get("kind") or case.kind or default_kind
        if kind not in subjects.KINDS:
            raise ValueError(f"'{kind}' is not a kind policies can judge")
        obj = _object(suite, kind, raw)
        name = obj.get("metadata", {}).get("name", kind.lower())
        out.append(subjects.from_spec(kind, name, obj, environment=env_view if kind == "Service" else None))
    return out


def _expect(case: documents.Case, messages: list[str]) -> str:
    """What is wrong with ``messages`` for this case; empty when the case passes."""
    want, got = case.violations, len(messages)
    if want == "yes" and got == 0 or want == "no" and got != 0 or isinstance(want, int) and got != want:
        shown = "; ".join(f"'{m}'" for m in messages) or "none"
        return f"expected {want} violation(s), got {got}: {shown}"
    pattern = re.compile(case.message) if case.message else None
    bad = [m for m in messages if pattern and not pattern.search(m)]
    if bad:
        return f"message '{bad[0]}' does not match /{case.message}/"
    return ""


def run_suite(suite: documents.SuiteDocument, doc: yamlpos.Document, policies: PolicySet) -> list[CaseResult]:
    """Every case of ``suite`` against its policy as ``policies`` define it."""
    name = suite.spec.policy
    policy = policies.get(name)
    if policy is None:
        line, _ = doc.where(("spec", "policy"))
        return [
            CaseResult(
                doc.file,
                line,
                name,
                "(suite)",
                False,
                f"no policy named '{name}' is in force; 'civic policy list' shows them",
            )
        ]
    platform = subjects.KINDS["Platform"].view(_object(suite, "Platform", {}))
    out = []
    for i, case in enumerate(suite.spec.cases):
        line, _ = doc.where(("spec", "cases", i))
        try:
            items = _subjects(suite, case, policy.applies_to[0])
        except ValueError as e:
            out.append(CaseResult(doc.file, line, name, case.name, False, f"the case's object: {e}"))
            continue
        report = evaluation.evaluate(PolicySet((policy,)), items, platform=platform, today=TODAY)
        messages = [m for v in report.verdicts if v.failed for m in v.messages]
        detail = _expect(case, messages)
        out.append(CaseResult(doc.file, line, name, case.name, not detail, detail))
    return out


def run(parsed: Iterable[tuple[documents.SuiteDocument, yamlpos.Document]], policies: PolicySet) -> list[CaseResult]:
    out: list[CaseResult] = []
    for suite, doc in parsed:
        out += run_suite(suite, doc, policies)
    return out
