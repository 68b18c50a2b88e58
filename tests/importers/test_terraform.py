"""resources/*.tf: module sources to backing services, on real source strings and small fixtures."""

from __future__ import annotations

import os

import pytest

from civic.importers import terraform

RESOURCES = os.path.join(
    os.path.dirname(os.path.abspath(__file__)),
    "fixtures",
    "cpe",
    "namespaces",
    "live.cloud-platform.service.justice.gov.uk",
    "apply-dev",
    "resources",
)


def _read(name: str) -> str:
    with open(os.path.join(RESOURCES, name), encoding="utf-8") as f:
        return f.read()


EXPECTED = {
    "rds-instance": "postgres",
    "rds-aurora": "postgres",
    "elasticache-cluster": "redis",
    "s3-bucket": "bucket",
    "sqs": "queue",
}


def test_every_real_module_source_in_the_corpus_is_classified(summary):
    """namespaces-summary.json lists the module sources of the 45 namespaces' .tf files."""
    backing, unmapped = 0, 0
    for info in summary.values():
        for module in info["module_sources"]:
            kind = terraform.classify(module["source"])
            name = module["source"].split("?")[0].rsplit("/", 1)[-1].removeprefix("cloud-platform-terraform-")
            if module["source"].startswith("./"):
                assert kind.backing is None and "local module" in kind.why
                unmapped += 1
            elif name in EXPECTED:
                assert kind.backing == EXPECTED[name], module
                backing += 1
            else:
                assert kind.backing is None and kind.why, module
                unmapped += 1
            if "?ref=" in module["source"]:
                assert kind.ref == module["source"].split("?ref=")[1]
    assert backing == 40 + 15 + 19 + 212 + 1  # rds-instance, elasticache, s3, sqs, rds-aurora
    assert unmapped > 0


def test_repo_wide_module_sources_are_classified(corpus):
    import json

    with open(os.path.join(corpus, "repo-module-stats.json"), encoding="utf-8") as f:
        usage = json.load(f)["module_source_usage"]
    kinds = {u["source"]: terraform.classify(u["source"]) for u in usage}
    assert kinds["github.com/ministryofjustice/cloud-platform-terraform-sqs"].backing == "queue"
    assert kinds["./modules/sqs"].backing is None
    assert "local module" in kinds["./modules/sqs"].why
    assert kinds["terraform-aws-modules/iam/aws//modules/iam-policy"].module == "iam-policy"
    assert "generic AWS module" in kinds["terraform-aws-modules/kms/aws"].why
    assert all(k.backing or k.why for k in kinds.values())


@pytest.mark.parametrize(
    ("source", "module", "backing"),
    [
        ("github.com/ministryofjustice/cloud-platform-terraform-rds-aurora?ref=4.0.0", "rds-aurora", "postgres"),
        (
            "git::https://github.com/ministryofjustice/cloud-platform-terraform-s3-bucket.git?ref=5.0",
            "s3-bucket",
            "bucket",
        ),
        ("github.com/ministryofjustice/cloud-platform-terraform-irsa?ref=2.1.0", "irsa", None),
        ("github.com/ministryofjustice/cloud-platform-terraform-something-new", "something-new", None),
    ],
)
def test_classify(source, module, backing):
    kind = terraform.classify(source)
    assert (kind.module, kind.backing) == (module, backing)


def test_parse_reads_modules_and_resources_with_lines():
    blocks = terraform.parse(_read("rds.tf"), file="resources/rds.tf")
    assert [(b.block, b.name, b.line) for b in blocks] == [
        ("module", "apply_rds", 1),
        ("module", "legacy_mysql", 8),
        ("resource", "kubernetes_secret.rds", 13),
    ]
    rds = blocks[0]
    service, notes, why = terraform.backing_service(rds, terraform.classify(rds.source))
    assert service == {"type": "postgres", "class": "medium", "version": "16"}
    assert notes == ["instance type 'db.t4g.medium' means class medium"] and why == ""
    mysql = blocks[1]
    service, _, why = terraform.backing_service(mysql, terraform.classify(mysql.source))
    assert service is None and "engine 'mysql'" in why


def test_expressions_are_not_taken_for_values():
    blocks = terraform.parse(
        'module "db" {\n  source = "github.com/ministryofjustice/cloud-platform-'
        'terraform-rds-instance?ref=9"\n  db_engine_version = var.version\n'
        "  count = 2\n}\n",
        file="x.tf",
    )
    service, notes, _ = terraform.backing_service(blocks[0], terraform.classify(blocks[0].source))
    assert service == {"type": "postgres"}
    assert any("expression" in n for n in notes) and any("count" in n for n in notes)


def test_broken_hcl_gives_its_line():
    with pytest.raises(terraform.ParseError) as caught:
        terraform.parse(_read("broken.tf"), file="resources/broken.tf")
    assert caught.value.line == 2
    assert "not valid HCL" in str(caught.value)
