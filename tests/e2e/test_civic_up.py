"""Civic driven as a user drives it: `civic up`, deploy, scale, rollback, tokens, down."""

from __future__ import annotations

import json
import os

import pytest

from civic import deadlines
from conftest import ENV, HELLO, SITE
from traffic import Traffic

pytestmark = pytest.mark.e2e


def _text(path: str) -> str:
    with open(path) as f:
        return f.read()


def services(civic, env=ENV) -> dict:
    result = civic.civic("services", env, "-o", "json")
    assert result.returncode == 0, result.stderr
    return {row["service"]: row for row in json.loads(result.stdout)}


def test_up_deploys_the_examples_and_prints_their_urls_then_down_stops_everything(civic):
    civic.up("--deploy", f"{ENV}={HELLO}", "--deploy", f"{ENV}={SITE}")
    assert f"http://hello.{ENV}.localhost:{civic.port}/" in civic.output()
    with civic.client("hello") as client:
        # healthy (every replica ready) can come a moment before HAProxy routes the last slot: poll, with a deadline
        deadlines.poll(lambda: client.get("/").status_code == 200, timeout=15, what="hello to be routed")
        assert client.get("/").text.startswith("Hello from Civic!")
        assert "hello_requests_total" in client.get("/metrics").text
    with civic.client("site") as client:
        assert "lasting power of attorney" in client.get("/").text
    pids = [r["pid"] for r in json.loads(civic.civic("status", ENV, "-o", "json").stdout)["replicas"]]
    assert len(pids) == 3
    civic.down()
    assert civic.proc.returncode == 0
    assert not [p for p in pids if os.path.exists(f"/proc/{p}")]


def test_deploy_scale_rollback_and_a_bad_revision_rolled_back_by_itself(civic, tmp_path):
    civic.up()
    deployed = civic.civic("deploy", ENV, "-f", SITE)
    assert deployed.returncode == 0, deployed.stderr
    assert f"site revision 1: http://site.{ENV}.localhost:{civic.port}/" in deployed.stdout
    assert civic.civic("scale", f"{ENV}/site", "2").returncode == 0
    bad = civic.civic(
        "deploy", ENV, "-f", SITE, "--set", "readiness.path=/missing", "--set", "rollout.progressDeadlineSeconds=2"
    )
    assert bad.returncode == 1
    assert "revision 2 of opg-lpa-dev/site failed: revision 2 did not become ready within 2 s: replica" in bad.stderr
    assert "GET /missing returned 404; rolled back to revision 1." in bad.stderr
    row = services(civic)["site"]
    assert (row["revision"], row["ready"], row["desired"], row["health"]) == (1, 2, 2, "healthy")
    with civic.client("site") as client, Traffic(client) as traffic:
        again = civic.civic("deploy", ENV, "-f", SITE, "--set", "env.X=1")
        assert again.returncode == 0, again.stderr
        back = civic.civic("rollback", f"{ENV}/site", "--to", "1")
        assert back.returncode == 0, back.stderr
    assert traffic.failures == [] and traffic.ok > 0
    assert services(civic)["site"]["revision"] == 1


def test_a_bad_service_file_is_refused_with_its_position(civic, tmp_path):
    civic.up()
    spec = tmp_path / "civic.service.yaml"
    spec.write_text(_text(SITE).replace("replicas: 1", "replica: 1"))
    result = civic.civic("deploy", ENV, "-f", str(spec))
    assert result.returncode == 1
    assert f"{spec}:8:3: spec.replica: unknown field 'replica'; did you mean 'replicas'?" in result.stderr
    spec.write_text(_text(SITE).replace("replicas: 1", "replicas: 1\n  env: {DB: '${services.db.url}'}"))
    result = civic.civic("deploy", ENV, "-f", str(spec))
    assert result.returncode == 1
    assert (
        "spec.env.DB: '${services.db.url}' names backing service 'db', which the environment does "
        "not have" in result.stderr
    )


def test_a_team_token_acts_on_its_own_environments_only(civic):
    civic.up()
    made = civic.civic("token", "create", "--team", "opg-lpa")
    assert made.returncode == 0, made.stderr
    token = made.stdout.strip()
    assert civic.civic("deploy", ENV, "-f", SITE, token=token).returncode == 0
    refused = civic.civic("deploy", "laa-apply-dev", "-f", SITE, token=token)
    assert refused.returncode == 1
    assert (
        "this token acts for team 'opg-lpa'; environment 'laa-apply-dev' belongs to team 'laa-apply'" in refused.stderr
    )
    assert civic.civic("token", "create", "--team", "laa-apply", token=token).returncode == 1
    assert civic.civic("services", token="civic_not-a-token").returncode == 1


def test_a_killed_control_plane_leaves_services_serving_and_adopts_them_again(civic):
    civic.up("--deploy", f"{ENV}={SITE}")
    civic.civic("scale", f"{ENV}/site", "2")
    civic.wait_ready("site", 2)
    with civic.client("site") as client, Traffic(client) as traffic:
        status = json.loads(civic.civic("status", ENV, "-o", "json").stdout)
        before = sorted(r["pid"] for r in status["replicas"])
        civic.kill()
        seen = traffic.ok
        traffic.wait_for(seen + 50)
        civic.up()
        assert "Adopted 2 replica(s)" in civic.output()
        seen = traffic.ok
        traffic.wait_for(seen + 50)
        status = json.loads(civic.civic("status", ENV, "-o", "json").stdout)
    assert sorted(r["pid"] for r in status["replicas"]) == before
    assert traffic.failures == []
