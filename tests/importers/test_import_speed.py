"""The fast import is the same import: each shortcut against its reference, on both samples.

``civic import`` reads Terraform with a structure scan (civic.importers.hclscan) that leaves
python-hcl2 only the values it cannot read, reads a large checkout in a pool of processes,
and makes each YAML text once, with libyaml where that writes what PyYAML writes. Each has
its reference in the same code: python-hcl2 on the whole file (terraform.parse_with_hcl2),
reading in one process (workers=1), PyYAML's own emitter with no memo. The first tests
import both shared samples both ways and compare the written estates and reports byte for
byte; the others compare the scan with python-hcl2 file by file, broken files included.
"""

from __future__ import annotations

import glob
import os
import subprocess
import sys

import pytest

from civic.importers import assembly, hclscan, importing, terraform

HERE = os.path.dirname(os.path.abspath(__file__))
HCL = os.path.join(HERE, "fixtures", "hcl")
CPE = os.path.join(HERE, "fixtures", "cpe")

# The fast way, as `civic import` runs it on a large checkout: in a new process (one thread,
# so the pools can fork; an empty memo), folders read by two workers, texts made by a pool.
FAST = """
import sys
from civic.importers import assembly, importing
assert importing._can_fork(), "the pools would not be used"
assembly._POOL_FROM = 2
importing.write(importing.run(sys.argv[1], workers=2), sys.argv[2], force=False)
"""


def _reference(src: str, dest: str) -> None:
    """python-hcl2 for every file, one process, PyYAML's emitter, nothing remembered."""
    with pytest.MonkeyPatch.context() as m:
        m.setattr(terraform, "parse", terraform.parse_with_hcl2)
        m.setattr(assembly, "_plain", lambda data: False)
        assembly._DUMPED.clear()
        try:
            importing.write(importing.run(src, workers=1), dest, force=False)
        finally:
            assembly._DUMPED.clear()


def _tree(root: str) -> dict[str, bytes]:
    out = {}
    for dirpath, _, files in os.walk(root):
        for name in files:
            path = os.path.join(dirpath, name)
            with open(path, "rb") as f:
                out[os.path.relpath(path, root)] = f.read()
    return out


@pytest.fixture(scope="session", params=["corpus", "fidelity"])
def both_ways(request, tmp_path_factory):
    src = request.getfixturevalue(request.param)
    base = tmp_path_factory.mktemp(f"speed-{request.param}")
    _reference(src, str(base / "reference"))
    subprocess.run([sys.executable, "-c", FAST, src, str(base / "fast")], check=True, timeout=600)
    return _tree(str(base / "reference")), _tree(str(base / "fast"))


def test_the_fast_import_writes_the_reference_estate_byte_for_byte(both_ways):
    reference, fast = both_ways
    assert sorted(fast) == sorted(reference)
    assert importing.REPORT_JSON in fast and any(rel.startswith("environments") for rel in fast)
    different = [rel for rel in reference if fast[rel] != reference[rel]]
    assert different == []


def _tf_files(root: str) -> list[str]:
    return sorted(glob.glob(os.path.join(root, "**", "*.tf"), recursive=True))


def _read(path: str) -> str:
    with open(path, encoding="utf-8", newline="") as f:
        return f.read()


def _outcome(parse, text: str):
    try:
        return parse(text, file="main.tf")
    except terraform.ParseError as e:
        return ("ParseError", str(e), e.line, e.column)


def test_every_terraform_file_of_the_fidelity_sample_reads_as_python_hcl2_reads_it(fidelity):
    files = _tf_files(os.path.join(fidelity, "namespaces"))
    assert len(files) > 400
    modules = 0
    for path in files:
        text = _read(path)
        fast, reference = terraform.parse(text, file=path), terraform.parse_with_hcl2(text, file=path)
        assert fast == reference, path  # every module's every input too: Inputs compare as mappings
        modules += sum(b.block == "module" for b in fast)
    assert modules > 150


@pytest.mark.parametrize("name", ["tricky.tf", "crlf.tf"])
def test_the_scan_reads_strings_templates_heredocs_comments_and_nested_blocks_as_python_hcl2(name):
    text = _read(os.path.join(HCL, name))
    assert hclscan.scan(text, collect=frozenset({"module"}))  # the scan is sure: the fast path is what is tested
    fast = terraform.parse(text, file=name)
    assert fast == terraform.parse_with_hcl2(text, file=name)
    assert fast[0].block == "module" and dict(fast[0].inputs)


def test_a_backing_module_is_read_as_python_hcl2_reads_it():
    blocks = {b.name: b for b in terraform.parse(_read(os.path.join(HCL, "tricky.tf")), file="tricky.tf")}
    rds = blocks["rds"]
    assert rds.inputs["db_engine_version"] == "${var.db_engine_version}"
    assert rds.inputs["db_instance_class"] == '"db.t4g.${var.size}"'
    assert "count" in rds.inputs and "for_each" not in rds.inputs
    service, notes, _ = terraform.backing_service(rds, terraform.classify(rds.source))
    assert service == {"type": "postgres"}
    assert any("expression (${var.db_engine_version})" in n for n in notes)
    assert [b.name for b in blocks.values() if b.block == "resource"] == [
        "kubernetes_secret.rds",
        "aws_sqs_queue.one_line",
        "aws_iam_policy.empty",
    ]


@pytest.mark.parametrize(
    "text",
    [
        'module "a" {\n  source = "x\n}\n',  # a string that does not end on its line
        'module "a" {\n  source = "x"\n',  # a block that does not end
        'module "a" {\n  source = ["x")\n}\n',  # brackets that do not pair
        'module "a" {\n  policy = <<EOT\n  {}\n}\n',  # a heredoc that does not end
        'module "a" {\n  source "x"\n}\n',  # an item that is no attribute
        'module "a" "b" {\n  source = "x"\n}\n',  # a module with two labels
        'resource "a" {\n}\n',  # a resource with one label
        'module "a" {\n  source = "x"\n  source = "y"\n}\n',  # an attribute set twice
        "/* a comment that does not end\n",
        "<<<<<<< HEAD\n",
    ],
)
def test_where_the_scan_is_unsure_python_hcl2_decides(text):
    with pytest.raises(hclscan.Unsure):
        terraform._scanned(text, file="main.tf")  # the scan, and the labels it reads
    assert _outcome(terraform.parse, text) == _outcome(terraform.parse_with_hcl2, text)


def test_a_broken_file_of_the_fixture_is_reported_as_python_hcl2_reports_it():
    (path,) = [p for p in _tf_files(CPE) if p.endswith("broken.tf")]
    text = _read(path)
    fast = _outcome(terraform.parse, text)
    assert fast[0] == "ParseError" and fast == _outcome(terraform.parse_with_hcl2, text)
