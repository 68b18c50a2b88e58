"""Uploaded code over the API: archives kept by digest for their environment only, a build
before every deploy of code, and a failed build that records nothing.

Real parts: the API served by uvicorn, the store, the local backend's builder running uv as
the service's own user (network to the package index, as a deploy has)."""

from __future__ import annotations

import hashlib
import os

import pytest

from civic.control import releasing
from civic.releases import packing

SPEC = """apiVersion: civic/v1
kind: Service
metadata:
  name: web
spec:
  run: {command: python -m http.server $PORT --bind 127.0.0.1}
  replicas: 1
"""


def _folder(tmp_path, name: str, files: dict[str, str]) -> str:
    folder = tmp_path / name
    folder.mkdir()
    for rel, text in files.items():
        (folder / rel).write_text(text)
    return str(folder)


def _upload(api, env: str, folder: str, token: str | None = None) -> str:
    packed = packing.pack(folder, dest_dir=os.path.dirname(folder))
    with open(packed.path, "rb") as f:
        body = f.read()
    put = api.http.put(
        f"/v1/environments/{env}/artifacts/{packed.digest}", content=body, headers=api.as_(token or api.admin)
    )
    assert put.status_code == 200, put.text
    assert put.json() == {"digest": packed.digest, "size": len(body), "present": True}
    return packed.digest


def _deploy(api, env: str, artifact: str | None, text: str = SPEC):
    return api.http.post(
        f"/v1/environments/{env}/services",
        json={"file": "civic.service.yaml", "text": text, "artifact": artifact},
        headers=api.as_(api.admin),
        timeout=600,
    )


def test_an_archive_whose_bytes_do_not_match_its_digest_is_refused_and_not_kept(api):
    body = b"not the archive it claims to be"
    claimed = "sha256:" + hashlib.sha256(b"something else").hexdigest()
    put = api.http.put(f"/v1/environments/opg-lpa-dev/artifacts/{claimed}", content=body, headers=api.as_(api.admin))
    assert put.status_code == 400
    assert "digest" in put.json()["message"] and "upload it again" in put.json()["message"]
    present = api.http.get(f"/v1/environments/opg-lpa-dev/artifacts/{claimed}", headers=api.as_(api.admin))
    assert present.json()["present"] is False
    assert os.listdir(api.control.artifacts.folder) == []


def test_an_archive_over_the_limit_is_refused_and_nothing_is_left(api, monkeypatch):
    monkeypatch.setattr(releasing, "MAX_ARCHIVE", 1000)
    body = os.urandom(5000)
    digest = "sha256:" + hashlib.sha256(body).hexdigest()
    put = api.http.put(f"/v1/environments/opg-lpa-dev/artifacts/{digest}", content=body, headers=api.as_(api.admin))
    assert put.status_code == 400 and ".civicignore" in put.json()["message"]
    folder = api.control.artifacts.folder
    assert not os.path.exists(folder) or os.listdir(folder) == []


def test_a_digest_that_is_not_one_is_a_usage_error(api):
    put = api.http.put(
        "/v1/environments/opg-lpa-dev/artifacts/sha256:..%2f..%2fx", content=b"x", headers=api.as_(api.admin)
    )
    assert put.status_code in (400, 404)
    got = api.http.get("/v1/environments/opg-lpa-dev/artifacts/md5:abc", headers=api.as_(api.admin))
    assert got.status_code == 400 and "sha256:" in got.json()["message"]


def test_an_archive_belongs_to_the_environment_it_was_uploaded_to(api, tmp_path):
    digest = _upload(api, "opg-lpa-dev", _folder(tmp_path, "web", {"index.html": "hello\n"}))
    mine = api.http.get(f"/v1/environments/opg-lpa-dev/artifacts/{digest}", headers=api.as_(api.admin))
    theirs = api.http.get(f"/v1/environments/laa-apply-dev/artifacts/{digest}", headers=api.as_(api.admin))
    assert mine.json()["present"] is True and theirs.json()["present"] is False
    # and a deploy elsewhere cannot name it: the archive was never uploaded there
    refused = _deploy(api, "laa-apply-dev", digest)
    assert refused.status_code == 404 and "upload it first" in refused.json()["message"]


def test_a_team_token_uploads_only_to_its_own_environments(api, tmp_path):
    team = api.token("opg-lpa")
    folder = _folder(tmp_path, "web", {"index.html": "hello\n"})
    _upload(api, "opg-lpa-dev", folder, token=team)
    packed = packing.pack(folder, dest_dir=str(tmp_path))
    with open(packed.path, "rb") as f:
        refused = api.http.put(
            f"/v1/environments/laa-apply-dev/artifacts/{packed.digest}", content=f.read(), headers=api.as_(team)
        )
    assert refused.status_code == 403


def test_a_deploy_of_code_builds_it_and_its_revision_names_the_build(api, tmp_path):
    digest = _upload(api, "opg-lpa-dev", _folder(tmp_path, "web", {"index.html": "hello\n"}))
    done = _deploy(api, "opg-lpa-dev", digest)
    assert done.status_code == 200, done.text
    build = done.json()["build"]
    assert build["id"].startswith("bld_") and build["kind"] == "none"
    revision = api.control.ctx.records.revision("opg-lpa-dev", "web", done.json()["revision"])
    assert (revision.artifact, revision.release) == (digest, build["id"])
    listed = api.http.get("/v1/environments/opg-lpa-dev/services/web/builds", headers=api.as_(api.admin)).json()
    assert [(b["id"], b["status"], b["artifact"]) for b in listed] == [(build["id"], "succeeded", digest)]
    shown = api.http.get(f"/v1/builds/{build['id']}", headers=api.as_(api.admin)).json()
    assert shown["status"] == "succeeded" and digest in shown["log"]


def test_a_broken_requirements_file_fails_the_build_says_its_line_and_records_no_revision(api, tmp_path):
    folder = _folder(
        tmp_path, "web", {"index.html": "hi\n", "requirements.txt": "six==1.16.0\ncivic-no-such-package-xyz==9.9\n"}
    )
    digest = _upload(api, "opg-lpa-dev", folder)
    failed = _deploy(api, "opg-lpa-dev", digest)
    assert failed.status_code == 422, failed.text
    body = failed.json()
    assert body["kind"] == "BuildFailed"
    assert "requirements.txt:2" in body["message"] and "civic builds" in body["message"]
    assert api.control.ctx.records.current("opg-lpa-dev") == []
    [build] = api.http.get("/v1/environments/opg-lpa-dev/services/web/builds", headers=api.as_(api.admin)).json()
    assert build["status"] == "failed" and "requirements.txt:2" in build["message"]
    log = api.http.get(f"/v1/builds/{build['id']}", headers=api.as_(api.admin)).json()["log"]
    assert "civic-no-such-package-xyz" in log


def test_another_teams_build_log_is_not_shown(api, tmp_path):
    digest = _upload(api, "opg-lpa-dev", _folder(tmp_path, "web", {"index.html": "hello\n"}))
    build = _deploy(api, "opg-lpa-dev", digest).json()["build"]
    other = api.token("laa-apply")
    assert api.http.get(f"/v1/builds/{build['id']}", headers=api.as_(other)).status_code == 403
    listed = api.http.get("/v1/environments/opg-lpa-dev/services/web/builds", headers=api.as_(other))
    assert listed.status_code == 403


@pytest.mark.parametrize("folder", ["/srv", "../x"])
def test_a_working_folder_outside_the_code_is_refused_before_any_build(api, tmp_path, folder):
    digest = _upload(api, "opg-lpa-dev", _folder(tmp_path, "web", {"index.html": "hello\n"}))
    text = SPEC.replace("--bind 127.0.0.1}", f"--bind 127.0.0.1, workingDir: '{folder}'}}")
    refused = _deploy(api, "opg-lpa-dev", digest, text)
    assert refused.status_code == 422 and "workingDir" in refused.text
    assert api.http.get("/v1/environments/opg-lpa-dev/services/web/builds", headers=api.as_(api.admin)).json() == []


@pytest.fixture
def keep_two(estate_dir):
    """civic.yaml keeps two releases per service (set before the API boots the estate)."""
    path = os.path.join(estate_dir, "civic.yaml")
    with open(path) as f:
        text = f.read()
    with open(path, "w") as f:
        f.write(text.replace("  baseDomain: localhost\n", "  baseDomain: localhost\n  releases: {keep: 2}\n", 1))


def test_only_the_newest_releases_are_kept_and_a_removed_one_cannot_be_rolled_back_to(keep_two, api, tmp_path):
    folder = _folder(tmp_path, "web", {"index.html": "v0\n"})
    built = []
    for version in range(4):
        with open(os.path.join(folder, "index.html"), "w") as f:
            f.write(f"v{version}\n")
        done = _deploy(api, "opg-lpa-dev", _upload(api, "opg-lpa-dev", folder))
        assert done.status_code == 200, done.text
        built.append(done.json()["build"]["id"])
    builder = api.control.builder
    assert [builder.has("opg-lpa-dev", "web", b) for b in built] == [False, False, True, True]
    listed = api.http.get("/v1/environments/opg-lpa-dev/services/web/builds", headers=api.as_(api.admin)).json()
    assert [b["status"] for b in listed] == ["succeeded", "succeeded", "removed", "removed"]
    # the archives of removed releases go too; the kept ones stay
    kept = {api.control.ctx.records.revision("opg-lpa-dev", "web", n).artifact for n in (3, 4)}
    on_disk = {"sha256:" + f.removesuffix(".tar.gz") for f in os.listdir(api.control.artifacts.folder)}
    assert kept <= on_disk
    refused = api.http.post(
        "/v1/environments/opg-lpa-dev/services/web/rollback", json={"to": 1}, headers=api.as_(api.admin)
    )
    assert refused.status_code == 404 and "deploy that code again" in refused.json()["message"]
    assert api.control.ctx.records.current_of("opg-lpa-dev", "web").revision == 4
    back = api.http.post(
        "/v1/environments/opg-lpa-dev/services/web/rollback", json={"to": 3}, headers=api.as_(api.admin)
    )
    assert back.status_code == 200 and back.json()["revision"] == 3
