"""The import report keys namespaces by cluster and name (issue 14).

The MoJ keeps a folder of the same name in two clusters (the platform's own
``monitoring``). Each must be its own item of ``import-report.json``, holding only its
own objects and normalisations; the Markdown report names the cluster of such a folder.
The trees here are written to tmp_path: two clusters, each with a ``monitoring`` folder
that has no Namespace object and a broken document of its own, and each with an
``apply-dev`` folder copied from the fixtures (the second collides with the first).
"""

from __future__ import annotations

import json
import os
import shutil

import pytest

from civic.importers import importing, report

HERE = os.path.dirname(os.path.abspath(__file__))
APPLY_DEV = os.path.join(
    HERE, "fixtures", "cpe", "namespaces", "live.cloud-platform.service.justice.gov.uk", "apply-dev"
)
CLUSTERS = ("live.cloud-platform.service.justice.gov.uk", "live-2.cloud-platform.service.justice.gov.uk")


@pytest.fixture
def two_clusters(tmp_path) -> str:
    src = tmp_path / "src"
    for i, cluster in enumerate(CLUSTERS):
        monitoring = src / "namespaces" / cluster / "monitoring"
        monitoring.mkdir(parents=True)
        # A different file name in each cluster, so an entry shows which folder it came from.
        (monitoring / f"alerts-{i}.yaml").write_text("kind: ConfigMap\n---\nkey: [unclosed\n")
        shutil.copytree(APPLY_DEV, src / "namespaces" / cluster / "apply-dev")
    return str(src)


def _items(saved: dict, name: str) -> dict[str, dict]:
    return {n["cluster"]: n for n in saved["namespaces"] if n["namespace"] == name}


def test_each_cluster_s_folder_is_its_own_item_with_its_own_objects(two_clusters, tmp_path):
    result = importing.run(two_clusters)
    importing.write(result, str(tmp_path / "out"), force=False)
    with open(tmp_path / "out" / importing.REPORT_JSON, encoding="utf-8") as f:
        saved = json.load(f)
    assert saved == json.loads(json.dumps(result.report.as_dict(), default=str))
    monitoring = _items(saved, "monitoring")
    assert sorted(monitoring) == sorted(CLUSTERS)
    for i, cluster in enumerate(CLUSTERS):
        item = monitoring[cluster]
        assert not item["imported"] and "no Namespace object" in item["why"]
        files = {o["file"] for o in item["objects"]}
        assert files == {f"alerts-{i}.yaml"}, (cluster, files)
        assert {o["cluster"] for o in item["objects"]} == {cluster}

    apply_dev = _items(saved, "apply-dev")
    first, second = (apply_dev[c] for c in sorted(CLUSTERS))
    assert first["imported"] and not second["imported"] and "collides with" in second["why"]
    # The same files in both folders: each item holds its own folder's entries, once.
    for cluster in CLUSTERS:
        own = [e.as_dict() for e in result.report.entries if (e.cluster, e.namespace) == (cluster, "apply-dev")]
        assert own and apply_dev[cluster]["objects"] == json.loads(json.dumps(own, default=str))
    assert [o for o in second["objects"] if o["reason"] == "name-collision"]
    assert not [o for o in first["objects"] if o["reason"] == "name-collision"]
    assert {n["cluster"] for n in first["normalisations"] + second["normalisations"]} == set(CLUSTERS)
    everything = sum(len(n["objects"]) for n in saved["namespaces"]) + len(saved["global"]["objects"])
    assert everything == len(result.report.entries)


def test_the_markdown_names_the_cluster_of_a_folder_found_in_two(two_clusters):
    md = report.to_markdown(importing.run(two_clusters).report)
    for i, cluster in enumerate(CLUSTERS):
        assert f"| {cluster}/monitoring | alerts-{i}.yaml:" in md
    assert "| monitoring |" not in md


def test_an_entry_made_without_its_cluster_goes_to_the_only_folder_of_its_name():
    found = report.Report(
        source="s",
        namespaces=[
            report.NamespaceResult("a", "one", "a"),
            report.NamespaceResult("m", "one", None, imported=False),
            report.NamespaceResult("m", "two", None, imported=False),
        ],
        entries=[
            report.Entry("a", "f.yaml", 1, "Kind", "x", report.MAPPED),
            report.Entry("m", "g.yaml", 1, "Kind", "y", report.SKIPPED),
        ],
    )
    saved = found.as_dict()
    by_key = {(n["cluster"], n["namespace"]): n["objects"] for n in saved["namespaces"]}
    assert [o["name"] for o in by_key[("one", "a")]] == ["x"]
    # Ambiguous: neither folder claims it, and it is kept (with its namespace) in "global".
    assert by_key[("one", "m")] == by_key[("two", "m")] == []
    assert [(o["namespace"], o["name"]) for o in saved["global"]["objects"]] == [("m", "y")]
