"""Every kind of bad input gets its own message, placed at file:line:column, and exit code 1.

Each case edits one file of the example estate and names the exact line ``civic
validate`` must print. Nothing is ever applied from an estate with problems.
"""

from __future__ import annotations

import os

import pytest

ENV = "environments/laa-apply-dev/environment.yaml"
STAGING = "environments/laa-apply-staging/environment.yaml"


def _replace(old: str, new: str):
    def edit(text: str) -> str:
        assert old in text, f"the fixture no longer contains {old!r}"
        return text.replace(old, new, 1)

    return edit


CASES = [
    (
        "malformed-yaml",
        ENV,
        lambda t: t.replace("  secrets: [api-key]", "  secrets: [api-key"),
        f"{ENV}:22:12: this is not valid YAML: while parsing a flow sequence (which starts at line 21, "
        "column 12), did not find expected ',' or ']'.",
    ),
    (
        "empty-file",
        ENV,
        lambda t: "",
        f"{ENV}:1:1: the file is empty; it must hold one YAML mapping with apiVersion, kind, metadata and spec.",
    ),
    (
        "only-comments",
        ENV,
        lambda t: "# nothing yet\n",
        f"{ENV}:1:1: the file is empty; it must hold one YAML mapping with apiVersion, kind, metadata and spec.",
    ),
    (
        "not-a-mapping",
        ENV,
        lambda t: "- a\n- b\n",
        f"{ENV}:1:1: the file must hold a mapping with apiVersion, kind, metadata and spec; it holds a list.",
    ),
    (
        "two-documents",
        ENV,
        lambda t: t + "---\nkind: Team\n",
        f"{ENV}:26:1: this is not valid YAML: the file holds more than one YAML document; keep one per file.",
    ),
    (
        "duplicate-key",
        ENV,
        _replace("  application:", "  team: laa-apply\n  application:"),
        f"{ENV}:8:3: spec.team: duplicate key 'team' (first given at line 6); remove one of them.",
    ),
    (
        "wrong-type-bool",
        ENV,
        _replace("production: false", "production: maybe"),
        f"{ENV}:12:3: spec.production: must be true or false, got 'maybe'.",
    ),
    (
        "wrong-type-int",
        ENV,
        _replace("services: 4", "services: four"),
        f"{ENV}:17:11: spec.quota.services: must be a whole number, got 'four'.",
    ),
    (
        "negative",
        ENV,
        _replace("services: 4", "services: -1"),
        f"{ENV}:17:11: spec.quota.services: must be at least 0, got -1.",
    ),
    (
        "unknown-field-suggestion",
        ENV,
        _replace("replicas: 8", "replica: 8"),
        f"{ENV}:17:24: spec.quota.replica: unknown field 'replica'; did you mean 'replicas'?",
    ),
    (
        "unknown-field-list",
        ENV,
        _replace("  production: false", "  production: false\n  colour: blue"),
        f"{ENV}:13:3: spec.colour: unknown field 'colour'; the fields here are: access, alertRules, "
        "application, backingServices, businessUnit, environmentName, hosts, limits, namespaceLabels, network, owner, "
        "ownerAccess, policyExceptions, "
        "production, quota, reviewAfter, scrape, secrets, serviceArea, sourceCode, team, teamChannel, variables.",
    ),
    (
        "missing-field",
        ENV,
        _replace("  application: Apply for civil legal aid\n", ""),
        f"{ENV}:5:1: spec.application: required field 'application' is missing.",
    ),
    (
        "bad-literal",
        ENV,
        _replace("type: postgres, class: small", "type: postgres, class: huge"),
        f"{ENV}:19:26: spec.backingServices.db.class: must be one of 'small', 'medium' or 'large', got 'huge'.",
    ),
    (
        "bad-backing-type",
        ENV,
        _replace("cache: {type: redis}", "cache: {type: mongodb}"),
        f"{ENV}:20:13: spec.backingServices.cache.type: must be one of 'postgres', 'redis', 'bucket' "
        "or 'queue', got 'mongodb'.",
    ),
    (
        "bad-cpu",
        ENV,
        _replace('cpu: "2"', 'cpu: "two"'),
        f"{ENV}:17:37: spec.quota.cpu: 'two' is not a CPU quantity; write cores as '2' or '0.5', or "
        "millicores as '500m'.",
    ),
    (
        "bad-date",
        ENV,
        _replace("reviewAfter: 2027-06-30", "reviewAfter: next year"),
        f"{ENV}:14:3: spec.reviewAfter: must be a date written as YYYY-MM-DD, got 'next year'.",
    ),
    (
        "wrong-api-version",
        ENV,
        _replace("apiVersion: civic/v1", "apiVersion: v1"),
        f"{ENV}:1:1: apiVersion: must be 'civic/v1', got 'v1'.",
    ),
    (
        "wrong-kind",
        ENV,
        _replace("kind: Environment", "kind: Team"),
        f"{ENV}:2:1: kind: this file must hold a Environment, got kind 'Team'.",
    ),
    (
        "name-not-dns",
        ENV,
        _replace("name: laa-apply-dev", "name: LAA_Apply"),
        f"{ENV}:4:3: metadata.name: 'LAA_Apply' is not a DNS label; use lower-case letters, digits and '-', "
        "starting and ending with a letter or digit.",
    ),
    (
        "folder-mismatch",
        ENV,
        _replace("name: laa-apply-dev", "name: laa-apply-develop"),
        f"{ENV}:4:3: metadata.name: the environment is named 'laa-apply-develop' but its folder is "
        "'laa-apply-dev'; the two must be the same.",
    ),
    (
        "unknown-team",
        ENV,
        _replace("team: laa-apply\n", "team: laa-aply\n"),
        f"{ENV}:6:3: spec.team: team 'laa-aply' does not exist (no file teams/laa-aply.yaml); did you "
        "mean 'laa-apply'?",
    ),
    (
        "business-unit",
        ENV,
        _replace("businessUnit: LAA", "businessUnit: Legal Aid"),
        f"{ENV}:7:3: spec.businessUnit: 'Legal Aid' is not a business unit of this platform; use one of "
        "HMPPS, LAA, OPG, HQ, Platforms (civic.yaml spec.businessUnits).",
    ),
    (
        "environment-name",
        ENV,
        _replace("environmentName: development", "environmentName: dev"),
        f"{ENV}:13:3: spec.environmentName: 'dev' is not an environment name of this platform; use one "
        "of development, test, staging, preproduction, production (civic.yaml spec.environmentNames).",
    ),
    (
        "production-needs-channel",
        ENV,
        lambda t: t.replace("production: false", "production: true").replace('  teamChannel: "#apply-dev"\n', ""),
        f"{ENV}:5:1: spec.teamChannel: a production environment needs 'teamChannel' so that someone can "
        "be reached when it breaks.",
    ),
    (
        "unresolved-service-ref",
        ENV,
        _replace("${services.db.url}", "${services.database.url}"),
        f"{ENV}:23:5: spec.variables.DATABASE_URL: '${{services.database.url}}' names backing service "
        "'database', which the environment does not have (it has: cache, db).",
    ),
    (
        "bad-attribute-ref",
        ENV,
        _replace("${services.cache.url}", "${services.cache.database}"),
        f"{ENV}:24:5: spec.variables.REDIS_URL: '${{services.cache.database}}': a redis service has no "
        "attribute 'database'; use one of url, host, port, password.",
    ),
    (
        "undeclared-secret",
        ENV,
        _replace("${secrets.api-key}", "${secrets.api-token}"),
        f"{ENV}:25:5: spec.variables.API_KEY: '${{secrets.api-token}}' names secret 'api-token', which the "
        "environment does not declare; add it to spec.secrets.",
    ),
    (
        "unknown-ref",
        ENV,
        _replace("${secrets.api-key}", "${vault.api-key}"),
        f"{ENV}:25:5: spec.variables.API_KEY: '${{vault.api-key}}' is not a reference Civic knows; write "
        "${services.<name>.<attribute>} or ${secrets.<name>}.",
    ),
    (
        "unknown-allow-from",
        STAGING,
        _replace("allowFrom: [laa-apply-dev]", "allowFrom: [laa-aply-dev]"),
        f"{STAGING}:17:17: spec.network.allowFrom[0]: environment 'laa-aply-dev' does not exist; did you "
        "mean 'laa-apply-dev'?",
    ),
    ("not-utf8", ENV, lambda t: "\udcff", f"{ENV}: is not UTF-8 text."),
]


@pytest.mark.parametrize(("file", "edit", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_is_reported_exactly(cli, estate_dir, file, edit, expected):
    path = os.path.join(estate_dir, file)
    with open(path, encoding="utf-8") as f:
        text = f.read()
    new = edit(text)
    with open(path, "wb") as f:
        f.write(new.encode("utf-8", "surrogateescape"))
    result = cli("validate", "--estate", estate_dir)
    assert result.code == 1
    lines = [line.strip() for line in result.err.splitlines()]
    assert expected in lines, result.err
    assert "Traceback" not in result.err + result.out


def test_hostname_claimed_twice_is_reported_at_both_claims(cli, estate_dir):
    path = os.path.join(estate_dir, "environments/hmpps-book-visit-prod/environment.yaml")
    with open(path) as f:
        text = f.read()
    with open(path, "w") as f:
        f.write(text.replace("prison-visits.service", "lasting-power-of-attorney.service"))
    result = cli("validate", "--estate", estate_dir)
    assert result.code == 1
    assert (
        "environments/hmpps-book-visit-prod/environment.yaml:17:7: spec.hosts[0].name: hostname "
        "'lasting-power-of-attorney.service.justice.gov.uk' is also claimed by 'opg-lpa-production'; "
        "a hostname belongs to one environment unless every claim says 'shared: true'."
    ) in result.err
    assert "claimed by 'hmpps-book-visit-prod'" in result.err


def test_all_problems_at_once_in_a_stable_order(cli, estate_dir):
    for rel, old, new in [
        (ENV, "replicas: 8", "replica: 8"),
        (STAGING, "businessUnit: LAA", "businessUnit: X"),
        ("teams/opg-lpa.yaml", "kind: Team", "kind: Teem"),
    ]:
        path = os.path.join(estate_dir, rel)
        with open(path) as f:
            text = f.read()
        with open(path, "w") as f:
            f.write(text.replace(old, new))
    first = cli("validate", "--estate", estate_dir)
    second = cli("validate", "--estate", estate_dir)
    assert first.code == second.code == 1
    assert first.err == second.err
    assert first.err.splitlines()[0] == "error: 3 problems found:"
    files = [line.split(":")[0].strip() for line in first.err.splitlines()[1:]]
    assert files == sorted(files) == [ENV, STAGING, "teams/opg-lpa.yaml"]


def test_json_output_lists_problems(cli, estate_dir):
    path = os.path.join(estate_dir, ENV)
    with open(path) as f:
        text = f.read()
    with open(path, "w") as f:
        f.write(text.replace("replicas: 8", "replica: 8"))
    import json

    result = cli("validate", "--estate", estate_dir, "--output", "json")
    assert result.code == 1
    body = json.loads(result.out)
    assert body["valid"] is False
    assert body["problems"] == [
        {
            "file": ENV,
            "line": 17,
            "column": 24,
            "path": "spec.quota.replica",
            "message": "unknown field 'replica'; did you mean 'replicas'?",
        }
    ]


def test_missing_environment_file_and_missing_platform(cli, estate_dir):
    os.makedirs(os.path.join(estate_dir, "environments", "empty-folder"))
    os.remove(os.path.join(estate_dir, "civic.yaml"))
    result = cli("validate", "--estate", estate_dir)
    assert result.code == 1
    assert (
        "environments/empty-folder/environment.yaml: missing: every folder under environments/ "
        "needs an environment.yaml; add one or remove the folder."
    ) in result.err
    assert "civic.yaml: missing: an estate needs a civic.yaml" in result.err


def test_no_such_estate_directory(cli, tmp_path):
    result = cli("validate", "--estate", str(tmp_path / "nowhere"))
    assert result.code == 1
    assert "no such directory" in result.err


def test_usage_error_exits_2(cli):
    result = cli("validate", "--no-such-flag")
    assert result.code == 2
    assert "No such option" in result.err
