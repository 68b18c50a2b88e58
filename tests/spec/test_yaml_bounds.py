"""yamlpos's bounds hold for every way in: :func:`yamlpos.parse` of a text, and
:func:`yamlpos.walk` of a node composed elsewhere (by PyYAML itself, unbounded)."""

from __future__ import annotations

import yaml

from civic.spec import yamlpos


def test_walking_a_node_nested_deeper_than_the_bound_stops_there_with_a_problem():
    node = yaml.compose("[" * 900 + "]" * 900, Loader=yaml.CSafeLoader)  # 490 levels crashed the walker
    document, problems = yamlpos.walk(node, file="deep.yaml")
    assert [(p.line, p.column, p.message) for p in problems] == [
        (
            1,
            yamlpos.MAX_DEPTH + 2,
            f"the values nest more than {yamlpos.MAX_DEPTH} levels deep here; flatten the structure.",
        )
    ]
    assert document.data is not None


def test_walking_a_node_of_more_values_than_the_bound_stops_there_with_a_problem():
    node = yaml.compose("&a [" + "x, " * 600 + "x]\n", Loader=yaml.CSafeLoader)
    bomb = yaml.SequenceNode("tag:yaml.org,2002:seq", [node] * 200, node.start_mark, node.end_mark)
    _, problems = yamlpos.walk(bomb, file="wide.yaml")
    assert [p.message for p in problems] == ["the values pass 100,000 here, more than Civic reads; split the file."]


def test_aliases_within_the_bound_are_read_as_their_values_with_positions_of_the_anchor():
    document, problems = yamlpos.parse("a: &x {b: [1, 2]}\nc: *x\n", file="f.yaml")
    assert not problems
    assert document.data == {"a": {"b": [1, 2]}, "c": {"b": [1, 2]}}
    assert document.where(("c", "b", 1)) == (1, 15)


def test_an_alias_that_contains_itself_is_a_problem_not_a_loop():
    _, problems = yamlpos.parse("a: &x [1, *x]\n", file="f.yaml")
    assert [str(p) for p in problems] == ["f.yaml:1:4: a[1]: this alias refers to itself; write the value out instead."]


def test_a_key_that_is_not_a_string_keeps_its_text():
    document, problems = yamlpos.parse("1: a\ntrue: b\n2024-02-30: c\n", file="f.yaml")
    assert not problems and document.data == {"1": "a", "true": "b", "2024-02-30": "c"}
