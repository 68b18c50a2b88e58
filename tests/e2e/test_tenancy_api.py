"""Tenancy through the API: with two teams' tokens, every route of the API, aimed at the other
team's environment, service and token, is refused and never answers with the other team's data.

The routes are read from the app itself, so a route added later is called here too; one that
needs a request body this file does not know fails the test until it is given one (a 422 hides
whether the route checks who is asking). ``civic up`` runs as a subprocess, as a user runs it.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
from typing import Any, cast

import fastapi
import httpx
import pytest

from civic.api import app as app_mod
from civic.releases import packing

pytestmark = pytest.mark.e2e

PUBLIC = {
    ("GET", "/v1/health"): "liveness, for 'civic down' and scripts: answers {ok: true} only",
    ("GET", "/metrics"): "Civic's own metrics, scraped by its Prometheus without a token",
}
"""Routes that need no token, by design, and why."""

BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("POST", "/v1/environments/{env}/services"): {"file": "civic.service.yaml", "text": "{service_text}", "set": []},
    ("POST", "/v1/environments/{env}/services/{name}/rollback"): {"to": 1},
    ("POST", "/v1/environments/{env}/services/{name}/scale"): {"replicas": 0},
    ("POST", "/v1/environments/{env}/services/{name}/restart"): {},
    ("POST", "/v1/tokens"): {"team": "{team}"},
    ("POST", "/v1/silences"): {"environment": "{env}", "service": "{name}", "hours": 1, "reason": "tenancy test"},
    ("POST", "/v1/alerts/webhook"): {"alerts": [{"status": "firing", "labels": {"alertname": "Forged"}}]},
    ("POST", "/v1/alerts/relay/{team}/{channel}"): {"text": "forged"},
    ("POST", "/v1/shutdown"): {},
}
"""A valid body for each route that takes one, so that only who is asking can refuse it."""


@dataclasses.dataclass(frozen=True)
class Tenant:
    team: str
    env: str
    service: str
    token: str
    token_id: str
    url: str
    replicas: tuple[dict[str, Any], ...]
    build_id: str
    digest: str
    archive: bytes

    def secrets(self, *, named: bool) -> list[str]:
        """What of this tenant must never reach the other: its token, its service's address,
        and its replicas' processes and ports; and, unless the request ``named`` them, its
        environment and team."""
        found = [self.token, self.token_id, self.url, self.build_id, self.digest]
        for r in self.replicas:
            found += [f'"pid":{r["pid"]}', f'"port":{r["port"]}', r["id"]]
        return found if named else [*found, self.env, self.team]


AIMING = {"environment", "team"}
"""Query parameters and body fields by which a request names whose data it is after."""


def _routes() -> list[tuple[str, str, bool]]:
    """(method, path, aimed) of every route of the app; aimed: it names an environment, a
    service, a team or a token (in its path, its query or its body), so the other team's
    name there must be refused; a route that names none must not show the other's data."""
    app = app_mod.create(cast(Any, None))  # the routes only: no handler runs here
    out = []
    for route in app.routes:
        if not isinstance(route, fastapi.routing.APIRoute):
            continue
        for method in sorted(route.methods - {"HEAD"}):
            query = {p.name for p in route.dependant.query_params}
            body = set(BODIES.get((method, route.path), {}))
            aimed = bool(route.dependant.path_params) or bool((query | body) & AIMING)
            out.append((method, route.path, aimed))
    return sorted(out)


def _fill(value: Any, victim: Tenant, service_text: str) -> Any:
    if isinstance(value, dict):
        return {k: _fill(v, victim, service_text) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, victim, service_text) for v in value]
    if isinstance(value, str):
        return value.format(env=victim.env, name=victim.service, team=victim.team, service_text=service_text)
    return value


def _request(method: str, path: str, victim: Tenant, service_text: str) -> dict[str, Any]:
    params = {
        "env": victim.env,
        "name": victim.service,
        "token_id": victim.token_id,
        "team": victim.team,
        "channel": "alerts",
        "build_id": victim.build_id,
        "digest": victim.digest,
    }
    unknown = set(re.findall(r"{(\w+)}", path)) - set(params)
    assert not unknown, f"{method} {path}: this test does not know what to put in {unknown}; add it"
    request: dict[str, Any] = {
        "method": method,
        "url": re.sub(r"{(\w+)}", lambda m: params[m.group(1)], path),
        "params": {"environment": victim.env, "team": victim.team},
    }
    if (method, path) == ("PUT", "/v1/environments/{env}/artifacts/{digest}"):
        request["content"] = victim.archive  # the victim's own archive, valid: only who asks may refuse it
    elif method in ("POST", "PUT", "PATCH"):
        assert (method, path) in BODIES, f"{method} {path}: give this test a valid body for it in BODIES"
        request["json"] = _fill(BODIES[(method, path)], victim, service_text)
    return request


SERVICE = """apiVersion: civic/v1
kind: Service
metadata: {name: site}
spec:
  run: {command: python3 -m http.server $PORT --bind 127.0.0.1}
  replicas: 1
  readiness: {path: /, intervalSeconds: 1}
  resources: {cpu: 250m, memory: 128Mi}
"""
"""A service with no files of its own, deployed with the team's token straight to the API."""


def _tenant(civic, http: httpx.Client, team: str, env: str) -> Tenant:
    made = civic.civic("token", "create", "--team", team)
    assert made.returncode == 0, made.stderr
    token = made.stdout.strip()
    folder = os.path.join(civic.estate, os.pardir, f"site-{team}")
    os.makedirs(folder)
    with open(os.path.join(folder, "index.html"), "w") as f:
        f.write(f"{team}\n")
    packed = packing.pack(folder, dest_dir=os.path.dirname(folder))
    with open(packed.path, "rb") as f:
        archive = f.read()
    auth = {"Authorization": f"Bearer {token}"}
    uploaded = http.put(f"/v1/environments/{env}/artifacts/{packed.digest}", content=archive, headers=auth)
    assert uploaded.status_code == 200, uploaded.text
    deployed = http.post(
        f"/v1/environments/{env}/services",
        json={"file": "civic.service.yaml", "text": SERVICE, "set": [], "artifact": packed.digest},
        headers=auth,
        timeout=300,
    )
    assert deployed.status_code == 200, deployed.text
    civic.wait_ready("site", 1, env)
    listed = json.loads(civic.civic("token", "list", "-o", "json").stdout)
    token_id = next(r["id"] for r in listed if r["team"] == team)
    status = json.loads(civic.civic("status", env, "-o", "json", token=token).stdout)
    replicas = tuple(r for r in status["replicas"] if r["environment"] == env)
    assert replicas, status
    build_id = deployed.json()["build"]["id"]
    return Tenant(
        team, env, "site", token, token_id, status["services"][0]["url"], replicas, build_id, packed.digest, archive
    )


def test_every_route_refuses_the_other_teams_environment_service_and_token(civic):
    civic.up()
    routes = _routes()
    assert ("DELETE", "/v1/tokens/{token_id}", True) in routes
    assert ("POST", "/v1/environments/{env}/services", True) in routes
    assert ("GET", "/v1/services", True) in routes and ("POST", "/v1/silences", True) in routes
    service_text = SERVICE.replace("replicas: 1", "replicas: 3")
    answered: list[str] = []
    with httpx.Client(base_url=f"http://127.0.0.1:{civic.api_port}", timeout=30) as http:
        opg = _tenant(civic, http, "opg-lpa", "opg-lpa-dev")
        laa = _tenant(civic, http, "laa-apply", "laa-apply-dev")
        for attacker, victim in ((opg, laa), (laa, opg)):
            for method, path, aimed in routes:
                if (method, path) in PUBLIC:
                    continue
                request = _request(method, path, victim, service_text)
                answer = http.request(**request, headers={"Authorization": f"Bearer {attacker.token}"})
                where = f"{attacker.team} → {method} {request['url']}: {answer.status_code} {answer.text[:300]}"
                answered.append(where)
                if aimed:
                    assert answer.status_code in (401, 403, 404), where
                assert answer.status_code != 500, where
                assert answer.headers["content-type"].startswith("application/json"), where
                for secret in victim.secrets(named=aimed):
                    assert secret not in answer.text, f"{where}: shows {secret!r}"
    assert len(answered) == 2 * len([r for r in routes if r[:2] not in PUBLIC])

    for tenant in (opg, laa):  # nothing the other team asked for happened
        assert civic.civic("services", tenant.env, token=tenant.token).returncode == 0
        row = json.loads(civic.civic("services", tenant.env, "-o", "json", token=tenant.token).stdout)[0]
        assert (row["revision"], row["desired"], row["ready"]) == (1, 1, 1), row
        assert civic.civic("token", "list").stdout.count(tenant.token_id) == 1
    assert civic.proc.poll() is None, "a team token shut Civic down"


def test_the_admin_only_routes_refuse_a_team_token(civic):
    civic.up()
    made = civic.civic("token", "create", "--team", "opg-lpa")
    token = made.stdout.strip()
    admin_only = [
        ("GET", "/v1/tokens", None),
        ("POST", "/v1/tokens", {"team": "opg-lpa"}),
        ("POST", "/v1/tokens", {"team": None}),
        ("DELETE", "/v1/tokens/tok_0000000000", None),
        ("GET", "/v1/estate", None),
        ("POST", "/v1/shutdown", {}),
    ]
    with httpx.Client(base_url=f"http://127.0.0.1:{civic.api_port}", timeout=30) as http:
        for method, path, body in admin_only:
            answer = http.request(method, path, json=body, headers={"Authorization": f"Bearer {token}"})
            assert answer.status_code == 403, f"{method} {path}: {answer.status_code} {answer.text}"
            assert "this needs the admin token" in answer.json()["message"]
        for method, path, body in admin_only:  # and without the Bearer scheme, nothing at all
            answer = http.request(method, path, json=body, headers={"Authorization": token})
            assert answer.status_code == 401, f"{method} {path}: {answer.status_code} {answer.text}"
            assert answer.headers["WWW-Authenticate"].startswith("Bearer")
    assert civic.proc.poll() is None
    assert [r["team"] for r in json.loads(civic.civic("token", "list", "-o", "json").stdout)] == [None, "opg-lpa"]


def test_a_team_token_dies_with_its_team(civic):
    """Deleting the team from the estate (``civic apply``) revokes its token at once; a team of
    the same name created again does not bring the token back."""
    civic.up("--sync-interval", "0")
    token = civic.civic("token", "create", "--team", "opg-lpa").stdout.strip()
    assert civic.civic("services", "opg-lpa-dev", token=token).returncode == 0
    kept = os.path.join(os.path.dirname(civic.estate), "kept")
    os.makedirs(kept)
    moved = ("teams/opg-lpa.yaml", "environments/opg-lpa-dev", "environments/opg-lpa-production")
    for rel in moved:
        shutil.move(os.path.join(civic.estate, rel), os.path.join(kept, os.path.basename(rel)))
    applied = civic.civic("apply", "--estate", civic.estate, "--allow-delete-production")
    assert applied.returncode == 0, applied.stderr
    refused = civic.civic("services", token=token)
    assert refused.returncode == 1
    assert "this token is not valid (unknown, revoked, or its team was deleted)" in refused.stderr
    assert "opg-lpa" not in civic.civic("token", "list").stdout

    for rel in moved:
        shutil.move(os.path.join(kept, os.path.basename(rel)), os.path.join(civic.estate, rel))
    applied = civic.civic("apply", "--estate", civic.estate)
    assert applied.returncode == 0, applied.stderr
    assert civic.civic("services", "opg-lpa-dev", token=token).returncode == 1
    fresh = civic.civic("token", "create", "--team", "opg-lpa").stdout.strip()
    assert civic.civic("services", "opg-lpa-dev", token=fresh).returncode == 0
