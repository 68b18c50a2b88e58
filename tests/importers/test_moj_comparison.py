"""The MoJ's own namespace objects against Civic's rendering of the imported estate.

Imports ../shared/corpus/moj-environments (the MoJ's files, nobody here wrote them),
renders every environment with the Kubernetes backend, and compares with each
namespace's 00-04 files. Every kind of difference must be one that docs/kubernetes.md
explains (comparison.EXPLAINED); a new one fails here. The corpus missing fails too.
"""

from __future__ import annotations

import os

import pytest

from civic.control import moj_check
from civic.importers import comparison

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CORPUS = os.path.join(os.path.dirname(ROOT), "shared", "corpus", "moj-environments")
FIDELITY = os.path.join(os.path.dirname(ROOT), "shared", "corpus", "moj-environments-fidelity")
DOCS = os.path.join(ROOT, "docs", "kubernetes.md")


@pytest.fixture(scope="module")
def found():
    if not os.path.isdir(CORPUS):
        pytest.fail(f"the MoJ corpus is missing at {CORPUS}; the comparison cannot run")
    return moj_check.run(CORPUS)


@pytest.fixture(scope="module")
def found_fidelity():
    if not os.path.isdir(FIDELITY):
        pytest.fail(f"the MoJ fidelity sample is missing at {FIDELITY}; the comparison cannot run")
    return moj_check.run(FIDELITY)


def test_every_namespace_is_compared_and_every_difference_is_explained(found, found_fidelity):
    differences, skipped = found
    assert skipped == [] and len({d.namespace for d in differences}) == 45
    more, skipped_more = found_fidelity
    assert skipped_more == ["monitoring"] and len({d.namespace for d in more}) == 49  # monitoring has no Namespace
    unexplained = {d.category for d in [*differences, *more]} - set(comparison.EXPLAINED)
    assert unexplained == set()
    # and every explanation is still needed by one sample or the other: none outlives its reason
    assert set(comparison.EXPLAINED) - {d.category for d in [*differences, *more]} == set()


def test_limits_pod_quota_and_the_moj_names_come_through_unchanged(found):
    differences, _ = found
    assert not [d for d in differences if d.kind == "LimitRange" or d.what == "hard pods"]
    unchanged = (
        "label cloud-platform.justice.gov.uk/is-production",
        "annotation cloud-platform.justice.gov.uk/business-unit",
        "annotation cloud-platform.justice.gov.uk/application",
        "label pod-security.kubernetes.io/enforce",
        "label cloud-platform.justice.gov.uk/namespace",
    )
    assert not [d for d in differences if d.what in unchanged]


def test_every_explained_difference_is_in_the_docs():
    with open(DOCS, encoding="utf-8") as f:
        text = f.read()
    for kind, what, how in comparison.EXPLAINED:
        assert f"{kind} {what}" in text or what.split(" ", 1)[1] in text, (kind, what, how)


def test_a_new_difference_is_caught_and_named():
    moj = [
        {"kind": "Namespace", "metadata": {"labels": {"x": "1"}}},
        {"kind": "LimitRange", "spec": {"limits": [{"type": "Container", "default": {"memory": "1Gi"}}]}},
        {"kind": "RoleBinding", "roleRef": {"name": "admin"}, "subjects": [{"kind": "Group", "name": "github:a"}]},
    ]
    civic = [
        {"kind": "Namespace", "metadata": {"labels": {"x": "1"}}},
        {"kind": "LimitRange", "spec": {"limits": [{"type": "Container", "default": {"memory": "1024Mi"}}]}},
        {"kind": "RoleBinding", "roleRef": {"name": "edit"}, "subjects": [{"kind": "Group", "name": "github:a"}]},
    ]
    found = comparison.compare("ns", moj, civic)
    assert [str(d) for d in found] == [
        "ns: RoleBinding subject Group github:a -> admin: MoJ bound, Civic -",
        "ns: RoleBinding subject Group github:a -> edit: MoJ -, Civic bound",
    ]
    assert all(d.category not in comparison.EXPLAINED for d in found)
