"""Access as the source grants it, never more: both MoJ samples, imported and rendered.

For every imported namespace of ../shared/corpus/moj-environments and
../shared/corpus/moj-environments-fidelity, each RoleBinding subject that Civic's
Kubernetes rendering binds must be bound in the MoJ's own files with at least that role
(admin > edit > view). sresectest-dev is the case that found it: the MoJ commented out the
owner's admin binding, and Civic restored it. Also the teams that no GitHub team is in.
"""

from __future__ import annotations

import glob
import os

import pytest
import yaml

from civic.backends.kubernetes import inputs, manifests, rendering
from civic.control import moj_check
from civic.importers import importing, moj
from civic.importers.report import KEPT_STRICTER
from civic.spec import estate, models

RANK = {"view": 1, "edit": 2, "admin": 3}
LIVE = "live.cloud-platform.service.justice.gov.uk"


def _source_grants(folder: str) -> dict[tuple[str, str], int]:
    """(subject kind, name) → the widest built-in role the namespace's own YAML binds it to.
    A namespace's Role named 'admin' is not the ClusterRole: it grants nothing here."""
    out: dict[tuple[str, str], int] = {}
    for path in sorted(glob.glob(os.path.join(folder, "*.y*ml"))):
        with open(path, encoding="utf-8") as f:
            docs = []
            try:
                docs.extend(yaml.safe_load_all(f))
            except yaml.YAMLError:
                pass  # what came before the broken document counts; nothing after it
        for doc in docs:
            if not isinstance(doc, dict) or doc.get("kind") != "RoleBinding":
                continue
            ref = doc.get("roleRef") or {}
            rank = RANK.get(ref.get("name", "")) if ref.get("kind") == "ClusterRole" else None
            for subject in doc.get("subjects") or []:
                if rank:
                    key = (subject.get("kind", ""), subject.get("name", ""))
                    out[key] = max(out.get(key, 0), rank)
    return out


def _rendered(loaded: estate.Estate, name: str) -> list[tuple[str, str, str]]:
    objects = rendering.render(inputs.desired(loaded, name), moj_check.LIVE).objects()
    return [
        (s["kind"], s["name"], o["roleRef"]["name"])
        for o in objects
        if o["kind"] == "RoleBinding"
        for s in o["subjects"]
    ]


FIXTURE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures", "cpe")


@pytest.fixture(scope="module", params=["corpus", "fidelity", "fixture"])
def sample(request, corpus_import, fidelity_import, corpus, fidelity, tmp_path_factory):
    """(source folder, estate folder, report, loaded estate) of one sample, imported once;
    the fixture is the test's own small tree, with GitHub teams spelled two ways."""
    if request.param == "fixture":
        dest = str(tmp_path_factory.mktemp("fixture") / "estate")
        result = importing.run(FIXTURE)
        importing.write(result, dest, force=False)
        return FIXTURE, dest, result.report, estate.load(dest)
    src, (dest, report) = (corpus, corpus_import) if request.param == "corpus" else (fidelity, fidelity_import)
    return src, dest, report, estate.load(dest)


def test_no_rendered_role_binding_grants_more_than_the_source(sample):
    src, _, report, loaded = sample
    checked = bound = 0
    for ns in report.namespaces:
        if not ns.imported:
            continue
        granted = _source_grants(os.path.join(src, importing.NAMESPACES_DIR, ns.cluster, ns.namespace))
        for kind, name, role in _rendered(loaded, ns.environment or ""):
            have = granted.get((kind, name), 0)
            assert have >= RANK[role], (
                f"{ns.cluster}/{ns.namespace}: Civic binds {kind} {name} to {role}, the source "
                f"{'to ' + next(r for r, v in RANK.items() if v == have) if have else 'not at all'}"
            )
            bound += 1
        checked += 1
    assert checked == len([n for n in report.namespaces if n.imported]) >= 2
    assert bound >= checked  # the rendering binds something: the check above had something to check


def test_an_owner_whose_admin_binding_is_commented_out_gets_no_access(fidelity_import):
    dest, report = fidelity_import
    loaded = estate.load(dest)
    env = loaded.environments["sresectest-dev"]
    assert env.spec.team == "hmpps-sre" and env.spec.access == [] and env.spec.owner_access is False
    assert _rendered(loaded, "sresectest-dev") == []
    said = [e for e in report.entries if e.namespace == "sresectest-dev" and e.outcome == KEPT_STRICTER]
    assert [(e.kind, e.target) for e in said] == [("RoleBinding", "spec.ownerAccess")]
    assert "'hmpps-sre' has no admin, edit or view binding in the source" in said[0].detail
    # the other team there is bound to the namespace's own Role: skipped, not made admin
    custom = [e for e in report.entries if e.namespace == "sresectest-dev" and e.kind == "RoleBinding"]
    assert [(e.name, e.reason) for e in custom] == [
        ("namespace-developer-binding: Group github:hmpps-permstest", "custom-role"),
        ("(owner hmpps-sre)", ""),
    ]


def _env(**spec: object) -> models.Environment:
    base = {
        "team": "apply",
        "businessUnit": "LAA",
        "application": "Apply",
        "production": False,
        "environmentName": "development",
    }
    return models.Environment.model_validate(
        {"apiVersion": "civic/v1", "kind": "Environment", "metadata": {"name": "apply-dev"}, "spec": base | spec}
    )


def test_a_hand_written_environment_still_makes_its_owner_admin():
    subjects = [(b["subjects"][0]["name"], b["roleRef"]["name"]) for b in manifests.role_bindings(_env(), {})]
    assert subjects == [("github:apply", "admin")]
    assert "ownerAccess" not in _env().canonical()["spec"]  # existing fingerprints do not move
    assert manifests.role_bindings(_env(ownerAccess=False), {}) == []
    listed = manifests.role_bindings(_env(ownerAccess=False, access=[{"team": "other", "role": "view"}]), {})
    assert [(b["subjects"][0]["name"], b["roleRef"]["name"]) for b in listed] == [("github:other", "view")]


def test_a_namespace_role_named_admin_is_not_the_admin_cluster_role():
    files = {
        "00-namespace.yaml": "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: apply-dev\n",
        "01-rbac.yaml": (
            "kind: RoleBinding\napiVersion: rbac.authorization.k8s.io/v1\nmetadata: {name: b}\n"
            "subjects: [{kind: Group, name: 'github:apply'}]\nroleRef: {kind: Role, name: admin}\n"
        ),
    }
    ns = moj.read_namespace(cluster=LIVE, folder="apply-dev", files=files)
    assert "access" not in ns.spec and ns.spec["ownerAccess"] is False
    assert [e.reason for e in ns.entries if e.kind == "RoleBinding" and e.outcome == "skipped"] == ["custom-role"]


# --- teams ------------------------------------------------------------------------------


def _team(dest: str, name: str) -> dict:
    with open(os.path.join(dest, "teams", f"{name}.yaml"), encoding="utf-8") as f:
        return yaml.safe_load(f)["spec"]


def test_a_team_name_listing_two_teams_is_owned_by_the_one_its_bindings_name(fidelity_import):
    dest, report = fidelity_import
    loaded = estate.load(dest)
    assert loaded.environments["hmpps-delius-alfresco-test"].spec.team == "hosting-migrations"
    assert "hosting-migrations-zaizi-devs" not in loaded.teams
    assert _team(dest, "hosting-migrations")["githubTeams"] == ["hosting-migrations"]
    note = next(
        n for n in report.normalisations if n.namespace == "hmpps-delius-alfresco-test" and n.kind == "team-name"
    )
    assert note.original == "hosting-migrations,zaizi-devs" and note.value == "hosting-migrations"
    assert "lists 2 teams" in note.note


def test_a_team_no_github_team_is_in_is_reported_as_needing_an_owner(fidelity_import):
    dest, report = fidelity_import
    team = _team(dest, "move-a-prisoner")
    assert team["displayName"] == "Move a Prisoner"
    assert team["email"] == "moveaprisoner@digital.justice.gov.uk"
    assert "githubTeams" not in team
    needs = {e.name: e for e in report.entries if e.kind == "Team" and e.detail.startswith("needs an owner")}
    assert "calculate-journey-variable-payments-dev" in needs["move-a-prisoner"].detail
    # and it is granted nothing on the cluster: only the teams the source binds are
    loaded = estate.load(dest)
    assert {s[1] for s in _rendered(loaded, "calculate-journey-variable-payments-dev")} == {
        "github:map-developers-devs",
        "github:hmpps-sre",
    }


def test_every_team_has_github_teams_or_is_reported(sample):
    _, dest, report, loaded = sample
    needs = {e.name for e in report.entries if e.kind == "Team" and e.detail.startswith("needs an owner")}
    owners = {env.spec.team for env in loaded.environments.values()}
    for name, team in loaded.teams.items():
        assert bool(team.spec.github_teams) != (name in needs), name
        assert team.spec.github_teams or name in owners  # a team with no members owns something
