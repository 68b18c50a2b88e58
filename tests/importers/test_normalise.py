"""The vocabulary: MoJ spellings in, Civic values out, with a note whenever a value changes."""

from __future__ import annotations

import datetime

import pytest

from civic.importers import normalise


@pytest.mark.parametrize(
    ("raw", "namespace", "expected", "changed"),
    [
        ("development", "x-dev", "development", False),
        ("dev", "x-dev", "development", True),
        ("Production", "x", "production", True),
        ("prod", "x-prod", "production", True),
        ("preprod", "x", "preproduction", True),
        ("uat", "x-uat", "test", True),
        ("staging", "x", "staging", False),
        ("", "laa-apply-staging", "staging", True),
        ("mystery", "svc-prod", "production", True),
        ("sandbox-2", "svc", "sandbox-2", True),
        (None, "svc", "development", True),
    ],
)
def test_environment_name(raw, namespace, expected, changed):
    value, note = normalise.environment_name(raw, namespace=namespace)
    assert value == expected
    assert (note is not None) == changed


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("true", True),
        ("false", False),
        ("True", True),
        ("yes", True),
        ("no", False),
        (True, True),
    ],
)
def test_production(raw, expected):
    assert normalise.production(raw, environment="development")[0] is expected


def test_production_unreadable_falls_back_to_the_environment_name():
    value, note = normalise.production("maybe", environment="production")
    assert value is True and "'maybe' is not true or false" in note


def test_business_units_take_the_moj_spelling_or_the_most_used():
    units = normalise.business_units(
        ["HMPPS", "hmpps", "Hmpps ", "laa", "Central-Digital", "Widgets", "widgets", "widgets"]
    )
    assert units["hmpps"] == units["Hmpps"] == "HMPPS"
    assert units["laa"] == "LAA"
    assert units["Central-Digital"] == "Central Digital"
    assert units["Widgets"] == "widgets"


@pytest.mark.parametrize(
    ("raw", "expected", "noted"),
    [
        ("2027-01-27", datetime.date(2027, 1, 27), False),
        ("27/01/2027", datetime.date(2027, 1, 27), True),
        ("", None, True),
        ("next year", None, True),
    ],
)
def test_review_after(raw, expected, noted):
    value, note = normalise.review_after(raw)
    assert value == expected and (note is not None) == noted


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("critical", "critical"),
        ("WARNING", "warning"),
        ("page", "critical"),
        ("", "warning"),
        ("laa-apply-prod", "warning"),
    ],
)
def test_severity(raw, expected):
    assert normalise.severity(raw)[0] == expected


def test_names_and_hosts():
    assert normalise.to_name("LAA_Apply  Team") == "laa-apply-team"
    assert len(normalise.to_name("x" * 80)) == 63
    assert normalise.hostname("Apply.Service.GOV.UK")[0] == "apply.service.gov.uk"
    assert normalise.hostname("not a host")[0] is None
    assert normalise.slack_channel("apply-dev") == ("#apply-dev", "'#' added")
