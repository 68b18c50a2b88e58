"""Who may call the API: only ``Authorization: Bearer <token>``; tokens listed and revoked by
the admin, by a short public id, never by their secret."""

from __future__ import annotations

import json

import pytest

HELLO = """apiVersion: civic/v1
kind: Service
metadata: {name: hello}
spec:
  run: {command: python -m http.server $PORT}
  resources: {cpu: 250m, memory: 128Mi}
"""


@pytest.mark.parametrize(
    "header",
    [
        "{token}",  # no scheme at all: accepted before
        "Bearer{token}",
        "Token {token}",
        "Basic {token}",
        "Bearer",
        "",
    ],
)
def test_anything_but_the_bearer_scheme_is_refused_with_a_challenge(api, header):
    answer = api.http.get("/v1/services", headers={"Authorization": header.format(token=api.admin)})
    assert answer.status_code == 401, answer.text
    assert answer.headers["WWW-Authenticate"].startswith("Bearer")
    assert "Authorization: Bearer" in answer.json()["message"]


def test_a_missing_authorization_header_is_refused_with_a_challenge(api):
    answer = api.http.get("/v1/services")
    assert answer.status_code == 401
    assert answer.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "BEARER"])
def test_the_bearer_scheme_is_case_insensitive(api, scheme):
    answer = api.http.get("/v1/services", headers={"Authorization": f"{scheme} {api.admin}"})
    assert answer.status_code == 200, answer.text


def test_the_admin_lists_tokens_by_id_and_team_never_their_secret(api):
    team = api.token("opg-lpa")
    listed = api.http.get("/v1/tokens", headers=api.as_(api.admin))
    assert listed.status_code == 200, listed.text
    rows = listed.json()
    assert sorted(r["team"] or "" for r in rows) == ["", "opg-lpa"]
    assert all(set(r) == {"id", "team", "created"} for r in rows)
    assert all(r["id"].startswith("tok_") and len(r["id"]) <= 16 for r in rows)
    assert team not in listed.text and api.admin not in listed.text


def test_a_revoked_token_is_refused_at_once(api):
    team = api.token("opg-lpa")
    assert api.http.get("/v1/services", headers=api.as_(team)).status_code == 200
    token_id = next(r["id"] for r in api.http.get("/v1/tokens", headers=api.as_(api.admin)).json() if r["team"])
    revoked = api.http.delete(f"/v1/tokens/{token_id}", headers=api.as_(api.admin))
    assert revoked.status_code == 200, revoked.text
    assert revoked.json() == {"id": token_id, "team": "opg-lpa", "revoked": True}
    assert api.http.get("/v1/services", headers=api.as_(team)).status_code == 401
    assert [r["team"] for r in api.http.get("/v1/tokens", headers=api.as_(api.admin)).json()] == [None]
    again = api.http.delete(f"/v1/tokens/{token_id}", headers=api.as_(api.admin))
    assert again.status_code == 404
    assert f"no token '{token_id}'" in again.json()["message"]


def test_the_admin_token_cannot_revoke_itself(api):
    own = api.http.get("/v1/tokens", headers=api.as_(api.admin)).json()[0]["id"]
    refused = api.http.delete(f"/v1/tokens/{own}", headers=api.as_(api.admin))
    assert refused.status_code == 400
    assert "the token making this request" in refused.json()["message"]
    assert api.http.get("/v1/services", headers=api.as_(api.admin)).status_code == 200


def test_a_team_token_may_neither_list_nor_revoke_tokens(api):
    team = api.token("opg-lpa")
    assert api.http.get("/v1/tokens", headers=api.as_(team)).status_code == 403
    own = next(r["id"] for r in api.http.get("/v1/tokens", headers=api.as_(api.admin)).json() if r["team"])
    assert api.http.delete(f"/v1/tokens/{own}", headers=api.as_(team)).status_code == 403


@pytest.mark.parametrize("value", ["`id`", "a && b", "x | y", "{unclosed", "- list", "'quote", "@at", "%pct"])
def test_set_env_values_that_are_not_yaml_deploy_as_strings(api, value):
    answer = api.http.post(
        "/v1/environments/opg-lpa-dev/services",
        json={"file": "civic.service.yaml", "text": HELLO, "set": [f"env.X={value}"]},
        headers=api.as_(api.admin),
    )
    assert answer.status_code == 200, answer.text
    spec = api.control.ctx.records.service_spec("opg-lpa-dev", "hello", answer.json()["revision"])
    assert spec.spec.env["X"] == value


@pytest.mark.parametrize("value", ["`id`", "a: b: c", "{unclosed", "[1, 2"])
def test_set_values_that_are_not_yaml_elsewhere_are_a_clear_error(api, value):
    answer = api.http.post(
        "/v1/environments/opg-lpa-dev/services",
        json={"file": "civic.service.yaml", "text": HELLO, "set": [f"replicas={value}"]},
        headers=api.as_(api.admin),
    )
    assert answer.status_code in (400, 422), answer.text
    message = answer.json()["message"]
    assert f"--set 'replicas={value}'" in message
    assert "is not a valid YAML value" in message


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("2024-02-30", "day is out of range"),
        ("!!int abc", "invalid literal"),
        ("[&a [1,1,1,1], *a, *a, *a]", "aliases (*name) are not allowed"),
        ("[" * 2000, "not a valid YAML value"),
    ],
)
def test_set_values_that_fail_as_yaml_in_other_ways_are_a_clear_error_too(api, value, why):
    answer = api.http.post(
        "/v1/environments/opg-lpa-dev/services",
        json={"file": "civic.service.yaml", "text": HELLO, "set": [f"replicas={value}"]},
        headers=api.as_(api.admin),
    )
    assert answer.status_code == 400, answer.text
    assert why in answer.json()["message"]


def test_civic_token_list_and_revoke(api, cli, monkeypatch):
    monkeypatch.setenv("CIVIC_API_URL", str(api.http.base_url).rstrip("/"))
    monkeypatch.setenv("CIVIC_TOKEN", api.admin)
    made = cli("token", "create", "--team", "opg-lpa")
    assert made.code == 0, made.err
    team_token = made.out.strip()
    listed = cli("token", "list", "-o", "json")
    assert listed.code == 0, listed.err
    rows = json.loads(listed.out)
    assert [r["team"] for r in rows] == [None, "opg-lpa"]
    assert team_token not in listed.out and api.admin not in listed.out
    human = cli("token", "list")
    assert "(admin)" in human.out and rows[1]["id"] in human.out and team_token not in human.out
    revoked = cli("token", "revoke", rows[1]["id"])
    assert revoked.code == 0, revoked.err
    assert f"Revoked {rows[1]['id']} (team opg-lpa)." in revoked.out
    assert api.http.get("/v1/services", headers=api.as_(team_token)).status_code == 401
    again = cli("token", "revoke", rows[1]["id"])
    assert again.code == 4
    assert f"error: there is no token '{rows[1]['id']}'" in again.err
    monkeypatch.setenv("CIVIC_TOKEN", team_token)
    refused = cli("token", "list")
    assert refused.code == 1 and "error:" in refused.err
