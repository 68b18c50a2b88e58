"""scripts/compare-moj reads the files the importer reads, and fails clearly on a bad path (issue 14).

The MoJ does not always name its files 00-namespace.yaml ... 04-networkpolicy.yaml:
intranet-staging has 02-limit-range.yaml, 03-resource-quota.yaml and
04-network-policy.yaml, laa-manage-your-civil-cases-uat has 04-networkpolicy.yml. The
importer reads every YAML file at the top of a folder; the comparison must compare the
same objects, or it reports Civic's LimitRange and quota as differences the MoJ does not
have. Runs on ../shared/corpus/moj-environments-fidelity (failing when it is missing),
and runs scripts/compare-moj as a user does, in a subprocess.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from civic.control import moj_check
from civic.importers import importing

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CORPUS_ROOT = os.path.join(os.path.dirname(ROOT), "shared", "corpus")
FIDELITY = os.path.join(CORPUS_ROOT, "moj-environments-fidelity")
SCRIPT = os.path.join(ROOT, "scripts", "compare-moj")
NON_CANONICAL = {
    "intranet-staging": {
        "02-limit-range.yaml": "LimitRange",
        "03-resource-quota.yaml": "ResourceQuota",
        "04-network-policy.yaml": "NetworkPolicy",
    },
    "laa-manage-your-civil-cases-uat": {"04-networkpolicy.yml": "NetworkPolicy"},
}


@pytest.fixture(scope="module")
def fidelity() -> str:
    if not os.path.isdir(os.path.join(FIDELITY, "namespaces")):
        pytest.fail(f"the MoJ fidelity sample is missing at {FIDELITY}; the comparison cannot run")
    return FIDELITY


@pytest.fixture(scope="module")
def found(fidelity):
    return moj_check.run(fidelity)


def test_objects_in_files_of_any_name_are_read(fidelity):
    folders = {folder: files for _, folder, files in importing.read_source(fidelity)}
    for folder, named in NON_CANONICAL.items():
        kinds = {o["kind"] for o in moj_check.originals(folders[folder])}
        for file, kind in named.items():
            assert file in folders[folder] and kind in kinds, (folder, file)
            only = {rel: text for rel, text in folders[folder].items() if rel == file}
            assert kind in {o["kind"] for o in moj_check.originals(only)}, (folder, file)


def test_their_limits_and_pod_quota_match_civic_s(found):
    differences, skipped = found
    assert skipped == ["monitoring"]  # the platform's own folder: it has no Namespace object
    compared = {d.namespace for d in differences}
    for namespace in NON_CANONICAL:
        assert namespace in compared
        mine = [d for d in differences if d.namespace == namespace]
        assert not [d for d in mine if d.kind == "LimitRange" or d.what == "hard pods"], mine


def test_only_the_files_the_importer_reads_are_compared(tmp_path):
    files = {
        "00-namespace.yaml": "kind: Namespace\nmetadata: {name: a}\n",
        "02-limit-range.yaml": "kind: LimitRange\nmetadata: {name: l}\n---\nkind: ResourceQuota\nmetadata: {name: q}\n",
        "04-networkpolicy.yml": "kind: NetworkPolicy\nmetadata: {name: n}\n",
        "notes.txt": "kind: RoleBinding\n",
        "resources/extra.yaml": "kind: RoleBinding\n",
        "broken.yaml": "kind: Role\n---\nkey: [unclosed\n",
    }
    assert [o["kind"] for o in moj_check.originals(files)] == [
        "Namespace",
        "LimitRange",
        "ResourceQuota",
        "NetworkPolicy",
        "Role",
    ]


def _run(script: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, script, *args], capture_output=True, text=True, timeout=120, check=False)


def test_a_missing_default_path_is_a_clear_error_not_a_traceback(tmp_path):
    # The script's default is ../shared/corpus/moj-environments beside its checkout: a copy of
    # the script in a checkout with no shared/ beside it finds nothing there.
    checkout = tmp_path / "main"
    (checkout / "scripts").mkdir(parents=True)
    script = shutil.copy(SCRIPT, checkout / "scripts" / "compare-moj")
    done = _run(str(script))
    missing = os.path.join(str(tmp_path), "shared", "corpus", "moj-environments")
    assert done.returncode == 2, done.stderr
    assert done.stdout == "" and "Traceback" not in done.stderr
    assert f"error: '{missing}' does not exist; give the path of a cloud-platform-environments checkout" in done.stderr
    assert "usage: scripts/compare-moj [SRC]" in done.stderr


def test_a_folder_that_is_not_a_checkout_is_a_clear_error_too(tmp_path):
    done = _run(SCRIPT, str(tmp_path))
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert f"error: '{tmp_path}' has no namespaces/ folder" in done.stderr
