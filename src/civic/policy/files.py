"""An estate's ``policies/`` folder: its own policies, its overrides of the built-ins, its suites.

:func:`policy_set` turns the texts of ``policies/*.yaml`` (which
:func:`civic.spec.estate.read` gathers into ``Estate.extra_texts``) into the
:class:`~civic.policy.definitions.PolicySet` in force; :func:`suites` parses
``policies/tests/*.yaml``. Every problem is a :class:`~civic.errors.Problem` at the
file, line and column of the field, including a CEL expression that does not
compile. Pure.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from typing import Any

import pydantic

from civic.errors import Problem, SpecError
from civic.policy import documents, expressions, library, subjects
from civic.policy.definitions import Mode, Override, Policy, PolicySet, with_overrides
from civic.spec import estate, loading, yamlpos

POLICIES_DIR = "policies/"
TESTS_DIR = "policies/tests/"


def _is_yaml(rel: str) -> bool:
    return rel.endswith((".yaml", ".yml"))


def policy_files(texts: Mapping[str, str]) -> dict[str, str]:
    return {
        r: t for r, t in texts.items() if r.startswith(POLICIES_DIR) and not r.startswith(TESTS_DIR) and _is_yaml(r)
    }


def suite_files(texts: Mapping[str, str]) -> dict[str, str]:
    return {r: t for r, t in texts.items() if r.startswith(TESTS_DIR) and _is_yaml(r)}


def parse(text: str, *, file: str, kinds: Iterable[str]) -> tuple[Any, yamlpos.Document | None, list[Problem]]:
    """One policy file validated as one of ``kinds``: (model or None, document, problems)."""
    if text.startswith(estate.REFUSED):  # a link out of the estate, a FIFO: never read (civic.spec.estate)
        return None, None, [Problem(file, 0, 0, "", text[len(estate.REFUSED) :])]
    doc, problems = yamlpos.parse(text, file=file)
    if doc is None:
        return None, None, problems
    if not isinstance(doc.data, dict):
        return None, doc, [doc.problem((), "the file must hold a mapping with apiVersion, kind, metadata and spec.")]
    allowed = list(kinds)
    kind = doc.data.get("kind")
    if kind not in allowed:
        got = f"got '{kind}'" if kind is not None else "it is missing"
        return None, doc, [doc.problem(("kind",), f"must be one of {', '.join(allowed)}; {got}.")]
    cls = documents.KINDS[kind]
    try:
        return cls.model_validate(doc.data), doc, problems
    except pydantic.ValidationError as e:
        # the spec loader's wording, so policy files read like every other Civic file
        return None, doc, problems + [loading._problem(doc, cls, err) for err in e.errors(include_url=False)]


def _compiles(doc: yamlpos.Document, path: tuple[str, ...], text: str | None) -> list[Problem]:
    if not text:
        return []
    try:
        expressions.compile_(text)
    except expressions.TooLarge as e:
        return [doc.problem(path, f"the CEL expression {e}.")]
    except expressions.ExpressionError as e:
        return [doc.problem(path, f"the CEL expression does not compile, {e}.")]
    return []


def _suggest(name: str, known: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
    return f"; did you mean '{close[0]}'?" if close else ""


def _policy(model: documents.PolicyDocument, doc: yamlpos.Document) -> tuple[Policy, list[Problem]]:
    spec = model.spec
    problems = []
    for i, kind in enumerate(spec.applies_to):
        if kind not in subjects.KINDS:
            problems.append(
                doc.problem(
                    ("spec", "appliesTo", i),
                    (
                        f"'{kind}' is not a kind policies can judge; use one of "
                        f"{', '.join(subjects.KINDS)}{_suggest(kind, subjects.KINDS) or '.'}"
                    ),
                )
            )
    problems += _compiles(doc, ("spec", "expression"), spec.expression)
    problems += _compiles(doc, ("spec", "when"), spec.when)
    policy = Policy(
        model.metadata.name,
        spec.description,
        tuple(spec.applies_to),
        spec.message,
        Mode(spec.mode),
        spec.expression,
        spec.when,
        dict(spec.params),
        spec.field,
        origin=doc.file,
    )
    return policy, problems


def _override(model: documents.OverrideDocument, doc: yamlpos.Document) -> tuple[Override, list[Problem]]:
    name, spec = model.metadata.name, model.spec
    builtin = {p.name: p for p in library.BUILTIN}
    problems = []
    if name not in builtin:
        problems.append(
            doc.problem(
                ("metadata", "name"),
                (
                    f"there is no built-in policy '{name}' to override ('civic policy list' shows them)"
                    f"{_suggest(name, builtin) or '.'}"
                ),
            )
        )
    else:
        for key in spec.params:
            if key not in builtin[name].params:
                known = ", ".join(builtin[name].params) or "none"
                problems.append(
                    doc.problem(
                        ("spec", "params", key),
                        (f"policy '{name}' has no parameter '{key}' (its parameters: {known})."),
                    )
                )
    mode = Mode(spec.mode) if spec.mode else None
    return Override(name, spec.reason, doc.file, mode, spec.enabled, dict(spec.params)), problems


def policy_set(texts: Mapping[str, str]) -> PolicySet:
    """The policies in force for an estate whose files are ``texts``; raises SpecError."""
    problems: list[Problem] = []
    own: list[Policy] = []
    overrides: list[Override] = []
    seen: dict[str, str] = {p.name: "the built-in library" for p in library.BUILTIN}
    for rel, text in sorted(policy_files(texts).items()):
        model, doc, found = parse(text, file=rel, kinds=("Policy", "PolicyOverride"))
        problems += found
        if model is None or doc is None:
            continue
        if isinstance(model, documents.OverrideDocument):
            override, found = _override(model, doc)
            problems += found
            if any(o.policy == override.policy for o in overrides):
                problems.append(
                    doc.problem(
                        ("metadata", "name"),
                        (
                            f"policy '{override.policy}' is already overridden in another file; keep one "
                            "override per policy."
                        ),
                    )
                )
            overrides.append(override)
            continue
        policy, found = _policy(model, doc)
        problems += found
        if policy.name in seen:
            problems.append(
                doc.problem(
                    ("metadata", "name"),
                    (
                        f"a policy named '{policy.name}' already exists ({seen[policy.name]}); choose another "
                        "name, or write a PolicyOverride to change a built-in."
                    ),
                )
            )
        seen[policy.name] = rel
        own.append(policy)
    if problems:
        raise SpecError(problems)
    return with_overrides(library.BUILTIN, overrides, own)


def suites(texts: Mapping[str, str]) -> list[tuple[documents.SuiteDocument, yamlpos.Document]]:
    """Every suite among ``texts`` (``policies/tests/*.yaml``); raises SpecError."""
    out, problems = [], []
    for rel, text in sorted(texts.items()):
        model, doc, found = parse(text, file=rel, kinds=("PolicySuite",))
        problems += found
        if model is not None and doc is not None:
            out.append((model, doc))
    if problems:
        raise SpecError(problems)
    return out
