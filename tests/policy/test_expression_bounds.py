"""A policy expression that fails or is too big is a placed problem, in bounded time and memory.

Issue 12's drills: ``1 / 0`` and an overflowing sum ended ``civic validate`` with exit 70;
a 1 MB non-ASCII ``when:`` reached 23.7 GB before the kernel killed it. The cel package
has no cost limit, so Civic bounds an expression's size, nesting and operators before
compiling it (civic.policy.expressions). Each case runs ``civic validate`` in a forked
child with a deadline and a memory limit (tests/spec/bounded.py).
"""

from __future__ import annotations

import json
import os

import pytest
from tests.spec import bounded

from civic.policy import expressions

POLICY = """\
apiVersion: civic/v1
kind: Policy
metadata:
  name: drill
spec:
  description: A drill of issue 12.
  appliesTo: [Environment]
  expression: {expression}
  when: {when}
  message: "it failed"
"""


def _policy(estate: str, *, expression: str = "true", when: str = "true") -> str:
    """policies/drill.yaml with these CEL texts (written as YAML's double-quoted strings)."""
    rel = "policies/drill.yaml"
    with open(os.path.join(estate, rel), "w", encoding="utf-8") as f:
        f.write(
            POLICY.format(
                expression=json.dumps(expression, ensure_ascii=False), when=json.dumps(when, ensure_ascii=False)
            )
        )
    return rel


def _validate(estate: str) -> bounded.Result:
    result = bounded.validate(estate)
    assert result.code == 1, result
    return result


@pytest.mark.parametrize(
    ("expression", "reason"),
    [
        ("1 / 0 == 1", "division by zero"),
        ("9223372036854775807 + 1 > 0", "Arithmetic overflow in 'add'"),
        ("[1][5] == 1", "index out of bounds: 5"),
        ("uint(-1) == 1u", "unsigned integer overflow"),
    ],
    ids=["divide-by-zero", "overflow", "index", "uint"],
)
def test_an_expression_that_fails_on_every_object_denies_each_with_the_reason(estate_dir, expression, reason):
    _policy(estate_dir, expression=expression)
    result = _validate(estate_dir)
    assert "policy 'drill' could not be evaluated on this object" in result.out, result
    assert reason in result.out


def test_a_huge_non_ascii_when_is_refused_at_its_line_in_bounded_memory(estate_dir):
    rel = _policy(estate_dir, when="é" * 1_000_000)  # the drill: 23.7 GB
    result = _validate(estate_dir)
    assert f"{rel}:9:9: spec.when: this string is 1,000,000 characters long" in result.err, result


def test_an_expression_over_the_size_bound_is_refused_before_it_is_compiled(estate_dir):
    rel = _policy(estate_dir, when="é" * 100_000)
    result = _validate(estate_dir)
    assert (
        f"{rel}:9:3: spec.when: the CEL expression is 100,000 characters long, more than the 32,768 Civic "
        "compiles; shorten it." in result.err
    ), result


def test_characters_cel_does_not_know_outside_a_string_are_refused_before_compiling(estate_dir):
    rel = _policy(estate_dir, when="x == 1 && " + "é" * 20_000)  # 20 kB of them took 1.5 GB
    result = _validate(estate_dir)
    assert (
        f"{rel}:9:3: spec.when: the CEL expression does not compile, at column 11 of the expression: 'é' "
        "cannot appear outside a string." in result.err
    ), result


def test_a_long_chain_of_operators_is_refused_before_it_crashes_the_evaluator(estate_dir):
    rel = _policy(estate_dir, expression="1 + " * 5000 + "1 > 0")
    result = _validate(estate_dir)
    assert (
        f"{rel}:8:3: spec.expression: the CEL expression has 5,001 operators, more than the 4,096 Civic "
        "compiles in one expression; split it." in result.err
    ), result


def test_nesting_deeper_than_the_bound_is_refused(estate_dir):
    rel = _policy(estate_dir, expression="(" * 33 + "true" + ")" * 33)
    result = _validate(estate_dir)
    assert (
        f"{rel}:8:3: spec.expression: the CEL expression does not compile, at column 33 of the expression: "
        "brackets nest more than 32 deep." in result.err
    ), result


@pytest.mark.parametrize(
    "text",
    [
        "object.spec.team == 'é' && 'x' != \"y\"",
        "r'\\d+' != '' && b'x' != b'' && '''a\n'b'\n''' != \"\"",
        "object.spec.team in ['a', 'b'] ? 1 / 2 > 0 : true // a comment: é, #, `",
        "[1, 2, 3].map(x, [1, 2].map(y, x * y)).size() > 0",
    ],
)
def test_expressions_within_the_bounds_still_compile(text):
    expressions.compile_(text)


def test_every_built_in_policy_is_within_the_bounds():
    from civic.policy import library

    for policy in library.BUILTIN:
        for text in (policy.expression, policy.when):
            if text:
                expressions.compile_(text)
