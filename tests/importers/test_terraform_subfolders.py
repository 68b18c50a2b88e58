"""Terraform in subfolders of resources/ is read and listed, within bounds; DEST gets the umask's mode.

The MoJ keeps some Terraform in subfolders (a local module's own files in
laa-data-claims-api-uat's resources/modules/sqs/, a second stack in developer-portal-prod's
resources/prototype/). Those files are read like the others; links out of the checkout,
folders too deep, files too large and anything not a regular file are not, and the report
says so for each.
"""

from __future__ import annotations

import os
import shutil
import stat

import pytest

from civic.importers import importing

HERE = os.path.dirname(os.path.abspath(__file__))
NAMESPACE = os.path.join(
    HERE, "fixtures", "cpe", "namespaces", "live.cloud-platform.service.justice.gov.uk", "apply-dev"
)
QUEUE = 'module "{name}" {{\n  source = "github.com/ministryofjustice/cloud-platform-terraform-sqs?ref=5.1.2"\n}}\n'


def _entries(report, namespace: str, prefix: str) -> dict[str, list]:
    out: dict[str, list] = {}
    for e in report.entries:
        if e.namespace == namespace and e.file.startswith(prefix):
            out.setdefault(e.file, []).append(e)
    return out


def test_the_fidelity_samples_terraform_in_subfolders_is_read_and_listed(fidelity_import):
    _, report = fidelity_import
    prototype = _entries(report, "developer-portal-prod", "resources/prototype/")
    assert sorted(prototype) == [
        "resources/prototype/basic-auth.tf",
        "resources/prototype/ecr.tf",
        "resources/prototype/serviceaccount.tf",
    ]
    assert [(e.kind, e.reason) for e in prototype["resources/prototype/ecr.tf"]] == [
        ("TerraformModule", "unmapped-module")
    ]
    sqs = _entries(report, "laa-data-claims-api-uat", "resources/modules/sqs/")
    mapped = [e.target for e in sqs["resources/modules/sqs/main.tf"] if e.outcome == "mapped"]
    assert mapped == ["spec.backingServices.queue", "spec.backingServices.dlq"]


@pytest.fixture
def checkout(tmp_path):
    """A checkout of one namespace (the fixture's apply-dev) with Terraform in subfolders."""
    root = tmp_path / "cpe"
    folder = root / "namespaces" / "live" / "apply-dev"
    shutil.copytree(NAMESPACE, folder)
    (folder / "resources" / "broken.tf").unlink()
    deep = folder / "resources" / "modules" / "queues"
    deep.mkdir(parents=True)
    (deep / "main.tf").write_text(QUEUE.format(name="events"))
    (deep / "notes.md").write_text("not Terraform\n")
    (folder / "resources" / ".terraform" / "modules").mkdir(parents=True)
    (folder / "resources" / ".terraform" / "modules" / "cached.tf").write_text(QUEUE.format(name="cached"))
    return root, folder


def _import(root, tmp_path):
    result = importing.run(str(root))
    return result, _entries(result.report, "apply-dev", "resources/")


def test_a_tf_file_in_a_subfolder_becomes_a_backing_service_and_a_dot_folder_is_passed_over(checkout, tmp_path):
    root, _ = checkout
    result, entries = _import(root, tmp_path)
    (module,) = entries["resources/modules/queues/main.tf"]
    assert (module.outcome, module.target) == ("mapped", "spec.backingServices.events")
    assert "spec.backingServices.events" in [e.target for e in result.report.entries]
    assert not any(".terraform" in f or f.endswith(".md") for f in entries)


def test_links_out_of_the_checkout_and_to_folders_are_not_followed_and_are_reported(checkout, tmp_path):
    root, folder = checkout
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.tf").write_text(QUEUE.format(name="outside"))
    os.symlink(outside / "secret.tf", folder / "resources" / "modules" / "linked.tf")
    os.symlink(outside, folder / "resources" / "linked-folder")
    os.symlink(folder / "resources" / "sqs.tf", folder / "resources" / "modules" / "inside.tf")
    _, entries = _import(root, tmp_path)
    (linked,) = entries["resources/modules/linked.tf"]
    assert (linked.reason, linked.kind) == ("parse-error", "File")
    assert "outside the checkout" in linked.detail
    (folder_link,) = entries["resources/linked-folder"]
    assert folder_link.kind == "Folder" and "link to a folder" in folder_link.detail
    inside = [e.outcome for e in entries["resources/modules/inside.tf"]]  # a link inside the checkout is read
    assert inside and set(inside) == {"mapped"}
    assert not any("outside" in e.target for es in entries.values() for e in es)


def test_a_folder_too_deep_and_a_file_too_large_are_not_read_and_are_reported(checkout, tmp_path, monkeypatch):
    root, folder = checkout
    monkeypatch.setattr(importing, "MAX_DEPTH", 1)
    monkeypatch.setattr(importing, "MAX_TF_CHARS", 200)
    (folder / "resources" / "modules" / "large.tf").write_text(QUEUE.format(name="large") + "# padding\n" * 30)
    _, entries = _import(root, tmp_path)
    (deep,) = entries["resources/modules/queues"]
    assert deep.kind == "Folder" and "deeper than the 1 levels" in deep.detail
    (large,) = entries["resources/modules/large.tf"]
    assert large.reason == "parse-error" and "more than the 200 characters the importer reads" in large.detail
    assert "resources/modules/queues/main.tf" not in entries


def test_past_the_most_tf_files_a_folder_holds_the_rest_are_reported(checkout, tmp_path, monkeypatch):
    root, _ = checkout
    monkeypatch.setattr(importing, "MAX_TF_FILES", 2)
    _, entries = _import(root, tmp_path)
    refused = [f for f, es in entries.items() if any("past the first 2 .tf files" in e.detail for e in es)]
    assert len(refused) == 4  # elasticache, irsa, rds, s3, sqs and modules/queues/main.tf: 6, of which 2 are read
    assert len([f for f in entries if f not in refused]) == 2


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o755), (0o027, 0o750)])
def test_dest_gets_the_mode_the_umask_gives(checkout, tmp_path, umask, mode):
    root, _ = checkout
    result = importing.run(str(root))
    old = os.umask(umask)
    try:
        importing.write(result, str(tmp_path / "estate"), force=False)
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(tmp_path / "estate").st_mode) == mode
    assert stat.S_IMODE(os.stat(tmp_path / "estate" / "environments").st_mode) == mode
    assert stat.S_IMODE(os.stat(tmp_path / "estate" / importing.REPORT_JSON).st_mode) == mode & 0o666
