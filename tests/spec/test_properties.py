"""Property tests: whatever is in the files, loading gives an Estate or a SpecError, never a crash."""

from __future__ import annotations

import os

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from civic.errors import SpecError
from civic.spec import estate as estate_mod

EXAMPLE_ESTATE = os.path.join(os.path.dirname(__file__), "..", "..", "examples", "estate")

ENV_FILE = "environments/laa-apply-dev/environment.yaml"
FIELDS = [
    "apiVersion",
    "kind",
    "metadata",
    "spec",
    "name",
    "team",
    "businessUnit",
    "application",
    "production",
    "environmentName",
    "quota",
    "cpu",
    "memory",
    "replicas",
    "services",
    "access",
    "hosts",
    "backingServices",
    "type",
    "class",
    "secrets",
    "variables",
    "network",
    "allowFrom",
    "reviewAfter",
    "owner",
    "teamChannel",
    "role",
    "user",
    "shared",
    "labels",
    "limits",
    "x",
]

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**6), 10**6),
    st.floats(allow_nan=False),
    st.text(max_size=20),
    st.sampled_from(
        [
            "civic/v1",
            "Environment",
            "laa-apply",
            "LAA",
            "development",
            "${services.db.url}",
            "${secrets.x}",
            "${",
            "500m",
            "2Gi",
        ]
    ),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.sampled_from(FIELDS), inner, max_size=6)),
    max_leaves=25,
)


def _texts() -> dict[str, str]:
    out = {}
    for rel in ("civic.yaml", "teams/laa-apply.yaml", ENV_FILE):
        with open(os.path.join(EXAMPLE_ESTATE, rel)) as f:
            out[rel] = f.read()
    return out


BASE = _texts()


def _load(text: str) -> None:
    try:
        estate_mod.parse({**BASE, ENV_FILE: text})
    except SpecError as e:
        assert e.problems, "a SpecError always carries at least one problem"
        for problem in e.problems:
            assert problem.message and problem.file


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(values)
def test_random_structures_never_crash(value):
    _load(yaml.safe_dump(value))


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(FIELDS), values, max_size=8))
def test_random_specs_inside_a_valid_envelope_never_crash(spec):
    doc = {"apiVersion": "civic/v1", "kind": "Environment", "metadata": {"name": "laa-apply-dev"}, "spec": spec}
    _load(yaml.safe_dump(doc))


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_random_text_never_crashes(text):
    _load(text)
