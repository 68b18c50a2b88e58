"""Fuzzing: whatever is done to an estate or a service file, Civic answers with problems, in bounded
time and memory, and never applies what failed validation (issue 12, "Keep it that way").

Hypothesis draws mutations of a copy of examples/estate (its YAML text, values, structure
and kinds of file: tests/spec/fuzzing.py) and of a service file. Each case runs
``civic validate`` through the CLI's entry point, and ``civic apply`` when validation
failed, in a forked child with a deadline and a memory limit; a service file goes through
the deploy parser and a deploy's checks the same way. A case fails on an exit 70 or an
unexpected exception, a hang past the deadline, a child killed for memory, or an apply
that changed the store after a failed validate. CI runs a fixed, bounded number of
examples (derandomized); ``python benchmarks/fuzz_estate.py`` runs many more.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.spec import fuzzing

FUZZ = settings(
    max_examples=60,
    deadline=None,  # the watchdog in tests/spec/bounded.py is the deadline
    derandomize=True,  # the same examples on every run: CI never fails by luck
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)


@pytest.fixture(scope="module")
def pristine_store(tmp_path_factory) -> str:
    """A store with the example estate applied: what a failed apply must leave as it was."""
    return fuzzing.pristine(str(tmp_path_factory.mktemp("pristine")))


@FUZZ
@given(mutations=st.lists(fuzzing.estate_mutations(), min_size=1, max_size=3))
def test_a_mutated_estate_is_refused_or_accepted_never_crashes_hangs_or_is_applied(
    mutations, pristine_store, tmp_path_factory
):
    folder = tmp_path_factory.mktemp("case")
    state = str(folder / "state.db")
    with open(pristine_store, "rb") as source, open(state, "wb") as copy:
        copy.write(source.read())
    fuzzing.prepare_estate(str(folder / "estate"), str(folder / "outside"), mutations)
    ran = fuzzing.run_estate(str(folder / "estate"), state, mutations)
    assert not ran.failures, f"{[str(m) for m in mutations]}: {ran.failures}"
    assert "SECRET-TOKEN-FROM-OUTSIDE" not in ran.first_problem


@FUZZ
@given(
    mutations=st.lists(fuzzing.service_mutations(), min_size=1, max_size=3),
    overrides=st.lists(st.sampled_from(fuzzing.OVERRIDES), max_size=2),
)
def test_a_mutated_service_file_is_refused_or_accepted_never_crashes_or_hangs(mutations, overrides):
    ran = fuzzing.run_service(mutations, overrides)
    assert not ran.failures, f"{[str(m) for m in mutations]} with --set {overrides}: {ran.failures}"


def test_the_fuzz_cases_start_from_every_file_of_the_example_estate():
    assert "civic.yaml" in fuzzing.FILES and "environments/opg-lpa-dev/environment.yaml" in fuzzing.FILES
    assert all(os.path.exists(os.path.join(fuzzing.EXAMPLE_ESTATE, f)) for f in fuzzing.FILES)
