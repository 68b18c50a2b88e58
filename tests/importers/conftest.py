"""Where the importer's tests find their sources: the shared MoJ corpus and the fixtures.

The corpus (45 real namespaces from cloud-platform-environments, MIT) lives beside the
repository in ../shared/corpus/moj-environments, and the fidelity sample (50 namespace
folders with their Terraform, chosen for the cases of issue 14) in
../shared/corpus/moj-environments-fidelity. Tests that need them FAIL when they are
missing, in CI and elsewhere: a skipped import test would hide a broken importer.
"""

from __future__ import annotations

import json
import os

import pytest

from civic.importers import importing

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
CORPUS = os.path.join(os.path.dirname(ROOT), "shared", "corpus", "moj-environments")
FIDELITY = os.path.join(os.path.dirname(ROOT), "shared", "corpus", "moj-environments-fidelity")


@pytest.fixture(scope="session")
def corpus() -> str:
    if not os.path.isdir(os.path.join(CORPUS, "namespaces")):
        pytest.fail(
            f"the MoJ corpus is missing at {CORPUS}; the importer's tests need it "
            "(see ../shared/corpus/moj-environments/README.md)"
        )
    return CORPUS


@pytest.fixture(scope="session")
def fidelity() -> str:
    if not os.path.isdir(os.path.join(FIDELITY, "namespaces")):
        pytest.fail(
            f"the MoJ fidelity sample is missing at {FIDELITY}; the importer's tests need it "
            "(see ../shared/corpus/moj-environments-fidelity/README.md)"
        )
    return FIDELITY


@pytest.fixture(scope="session")
def summary(corpus) -> dict:
    with open(os.path.join(corpus, "namespaces-summary.json"), encoding="utf-8") as f:
        return json.load(f)


@pytest.fixture(scope="session")
def corpus_import(corpus, tmp_path_factory):
    """The corpus imported once per session: (estate folder, report). Tests copy it before changing it."""
    dest = str(tmp_path_factory.mktemp("corpus") / "estate")
    result = importing.run(corpus)
    importing.write(result, dest, force=False)
    return dest, result.report


@pytest.fixture(scope="session")
def fidelity_import(fidelity, tmp_path_factory):
    """The fidelity sample imported once per session: (estate folder, report). Tests copy it before changing it."""
    dest = str(tmp_path_factory.mktemp("fidelity") / "estate")
    result = importing.run(fidelity)
    importing.write(result, dest, force=False)
    return dest, result.report
