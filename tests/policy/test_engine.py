"""The engine: values in, verdicts out; CEL compiled once; results, messages, modes, errors."""

from __future__ import annotations

import datetime

import pytest
from tests.policy.helpers import PLATFORM, obj, subject

from civic.policy import evaluation, expressions, subjects
from civic.policy.definitions import Mode, Policy, PolicySet, Scope
from civic.policy.verdicts import Status

TODAY = datetime.date(2026, 1, 1)


def run(*policies: Policy, items=None):
    items = items if items is not None else [subject("Environment")]
    return evaluation.evaluate(PolicySet(policies), items, platform=PLATFORM, today=TODAY)


def test_true_passes_false_is_one_violation_with_the_rendered_message():
    ok = Policy("ok", "d", ("Environment",), "never", expression="object.spec.production == false")
    bad = Policy(
        "bad",
        "d",
        ("Environment",),
        "env {name} of team {object.spec.team}: {params.why}",
        expression="false",
        params={"why": "because"},
    )
    report = run(ok, bad)
    by = {v.policy: v for v in report.verdicts}
    assert by["ok"].status is Status.PASSED
    assert by["bad"].status is Status.VIOLATED
    assert by["bad"].messages == ("env test-dev of team test-team: because",)
    assert report.denied == [by["bad"]]


def test_a_list_gives_one_violation_per_item_and_unknown_placeholders_stay():
    p = Policy("each", "d", ("Environment",), "{item} is odd {nope}", expression="[1, 2, 3].filter(i, i % 2 == 1)")
    (verdict,) = run(p).verdicts
    assert verdict.messages == ("1 is odd {nope}", "3 is odd {nope}")


def test_modes_sort_findings_into_denied_warnings_and_audits():
    report = run(*(Policy(m.value, "d", ("Environment",), "x", mode=m, expression="false") for m in Mode))
    assert [v.policy for v in report.denied] == ["deny"]
    assert [v.policy for v in report.warnings] == ["warn"]
    assert [v.policy for v in report.audits] == ["audit"]
    assert report.counts()["denied"] == 1


def test_when_false_means_the_policy_does_not_apply():
    p = Policy("prod-only", "d", ("Environment",), "x", when="object.spec.production", expression="false")
    assert run(p).verdicts == ()


def test_policies_apply_only_to_their_kinds():
    p = Policy("svc", "d", ("Service",), "x", expression="false")
    assert run(p, items=[subject("Environment"), subject("Team")]).verdicts == ()


def test_an_expression_failing_on_an_object_fails_closed_with_a_clear_message():
    p = Policy("typo", "d", ("Environment",), "x", expression="object.spec.nosuchfield == 1")
    (verdict,) = run(p).verdicts
    assert verdict.status is Status.ERROR and verdict.denied
    assert "could not be evaluated on this object: the object has no field 'nosuchfield'" in verdict.messages[0]


def test_a_result_that_is_neither_bool_nor_list_is_an_error():
    (verdict,) = run(Policy("num", "d", ("Environment",), "x", expression="1 + 1")).verdicts
    assert verdict.status is Status.ERROR
    assert "must give true/false or a list of violations, got 2" in verdict.messages[0]


def test_each_expression_is_compiled_once():
    expressions.compile_.cache_clear()
    p = Policy("once", "d", ("Environment",), "x", expression="object.spec.production == false")
    run(p, items=[subject("Environment", metadata={"name": f"e{i}"}) for i in range(50)])
    info = expressions.compile_.cache_info()
    assert info.misses == 1 and info.hits == 49


def test_a_cel_syntax_error_says_where_in_the_expression():
    with pytest.raises(expressions.ExpressionError, match=r"at column 13 of the expression: Syntax error"):
        expressions.compile_("object.spec.(production")


def test_quantity_functions_compare_memory_and_cpu():
    p = Policy(
        "q",
        "d",
        ("Environment",),
        "x",
        expression="memory_bytes('1Gi') == 2 * memory_bytes('512Mi') && cpu_millicores('0.5') == 500",
    )
    assert run(p).verdicts[0].status is Status.PASSED


def test_a_python_check_has_the_same_interface_as_cel():
    def no_dev(values, params):
        return (
            [values["object"]["metadata"]["name"]]
            if values["object"]["spec"]["environmentName"] == params["banned"]
            else []
        )

    p = Policy("py", "d", ("Environment",), "{item} is banned", check=no_dev, params={"banned": "development"})
    (verdict,) = run(p).verdicts
    assert verdict.messages == ("test-dev is banned",)
    assert verdict.mode is Mode.DENY


def test_an_estate_wide_check_sees_every_subject_at_once():
    seen = []

    def count(items, params):
        items = list(items)
        seen.append(len(items))
        return [(items[0], "first")]

    p = Policy("all", "d", ("Environment",), "{item}", check=count, scope=Scope.ESTATE)
    envs = [subject("Environment", metadata={"name": n}) for n in ("a", "b", "c")]
    report = run(p, items=envs + [subject("Team")])
    assert seen == [3]
    assert [(v.name, v.status) for v in report.verdicts] == [
        ("a", Status.VIOLATED),
        ("b", Status.PASSED),
        ("c", Status.PASSED),
    ]


def test_a_new_subject_kind_can_be_registered(monkeypatch):
    """A Kubernetes Pod, as a later Gatekeeper-library conformance check would add it."""
    monkeypatch.setitem(subjects.KINDS, "Pod", None)
    subjects.register(subjects.SubjectKind("Pod", view=dict))
    pod = {
        "kind": "Pod",
        "metadata": {"name": "p"},
        "spec": {"containers": [{"name": "a", "securityContext": {"privileged": True}}, {"name": "b"}]},
    }
    p = Policy(
        "k8s-privileged",
        "d",
        ("Pod",),
        "container {item} is privileged",
        expression="object.spec.containers.filter(c, has(c.securityContext) && "
        "c.securityContext.privileged).map(c, c.name)",
    )
    report = run(p, items=[subjects.from_spec("Pod", "p", pod)])
    assert report.verdicts[0].messages == ("container a is privileged",)


def test_verdicts_point_at_the_file_and_line_of_the_field(estate_dir):
    from civic.policy import estate as policy_estate
    from civic.spec import estate

    loaded = estate.load(estate_dir)
    p = Policy("hosts", "d", ("Environment",), "{item}", expression="hosts", field="spec.hosts")
    report = policy_estate.check(loaded, today=TODAY, policies=PolicySet((p,)))
    prod = next(v for v in report.verdicts if v.name == "laa-apply-production")
    assert (prod.file, prod.line, prod.column) == ("environments/laa-apply-production/environment.yaml", 19, 3)
    assert prod.lines() == [
        "environments/laa-apply-production/environment.yaml:19:3: apply-for-legal-aid.service.justice.gov.uk [hosts]"
    ]


def test_safe_defaults_are_spelled_out_for_services():
    view = subjects.KINDS["Service"].view(obj("Service"))
    assert view["spec"]["security"] == {"privileged": False, "capabilities": [], "runAsNonRoot": True}
    assert view["spec"]["exposure"] == "router"
