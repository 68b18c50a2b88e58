"""Multi-document files: every document found, with line numbers into the whole file, and
hostile input refused with a problem instead of being read."""

from __future__ import annotations

from civic.importers import documents
from civic.spec import yamlpos

THREE = """\
%YAML 1.1
---
kind: Namespace
metadata:
  name: one
--- {kind: Role, metadata: {name: two}}
# a comment between documents
---
...
---
kind: RoleBinding
subjects:
  - kind: Group
    name: three
"""


def test_each_document_is_found_and_its_fields_point_into_the_whole_file():
    parts = documents.split(THREE, file="01-rbac.yaml")
    assert [p.document.data["kind"] for p in parts] == ["Namespace", "Role", "RoleBinding"]
    assert [p.line() for p in parts] == [3, 6, 11]
    assert parts[0].line(("metadata", "name")) == 5
    assert parts[2].line(("subjects", 0, "name")) == 14
    assert not any(p.problems for p in parts)


def test_a_document_that_is_not_yaml_is_reported_at_its_line_and_ends_the_reading():
    text = "kind: A\n---\nkind: B\n  bad: indent\n---\nkind: C\n"
    parts = documents.split(text, file="02.yaml")
    assert parts[0].document.data == {"kind": "A"}
    (problem,) = parts[1].problems
    assert parts[1].document is None and len(parts) == 2
    assert str(problem) == "02.yaml:4:6: this is not valid YAML: mapping values are not allowed in this context."


def test_problems_found_in_a_later_document_carry_its_real_line():
    parts = documents.split("kind: A\n---\nkind: B\nname: x\nname: y\n", file="03.yaml")
    assert [(p.line, p.path) for p in parts[1].problems] == [(5, "name")]


def test_a_duplicate_key_in_a_later_document_names_the_first_keys_line_in_the_file():
    parts = documents.split("kind: A\n---\nkind: B\nname: x\nname: y\n", file="03.yaml")
    (problem,) = parts[1].problems
    assert str(problem) == "03.yaml:5:1: name: duplicate key 'name' (first given at line 4); remove one of them."


def test_a_later_document_that_is_not_yaml_names_lines_of_the_file():
    text = "kind: A\n---\nkind: B\nlist: [a,\n  b\n---\n"
    (problem,) = documents.split(text, file="03b.yaml")[1].problems
    assert "(which starts at line 4, column 7)" in problem.message, problem


def test_an_alias_bomb_is_refused_at_the_alias_that_passes_the_bound_without_expanding_it():
    lines = ["a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 10)]
    text = "kind: ConfigMap\n---\nkind: Bomb\n" + "\n".join(lines) + "\n"
    parts = documents.split(text, file="04.yaml")
    assert parts[0].document.data == {"kind": "ConfigMap"}
    (problem,) = parts[1].problems
    assert parts[1].document is None
    assert (problem.line, problem.path) == (9, "a5[0]")  # 9**5 values stand for more than the bound
    assert "aliases expand to more than 100,000 values" in problem.message


def test_a_few_aliases_are_read_as_their_values():
    (part,) = documents.split("kind: A\nx: &x [1, 2]\ny: *x\n", file="05.yaml")
    assert part.document.data == {"kind": "A", "x": [1, 2], "y": [1, 2]} and not part.problems


def test_a_huge_file_is_refused_unread():
    (part,) = documents.split("a: b\n" * (yamlpos.MAX_CHARS // 5 + 1), file="06.yaml")
    assert part.document is None
    assert "more than the 5,242,880 Civic reads" in part.problems[0].message


def test_empty_and_comment_only_documents_are_skipped():
    assert documents.split("---\n# nothing\n---\n\n", file="07.yaml") == []
