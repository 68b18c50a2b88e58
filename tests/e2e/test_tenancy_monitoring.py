"""The monitoring half of the tenancy test: Alertmanager, Prometheus and the Pushgateway answer
only Civic, and a team token reaches its own team's alerts and silences only.

`civic up` with the real servers. Each of two teams (laa-apply, opg-lpa) has an alert rule of
its own in its dev environment that always fires, and a silence the admin made for it; each
team's token then asks Civic's API for everything it can.
"""

from __future__ import annotations

import datetime
import json
import os

import httpx
import pytest

from civic import deadlines

pytestmark = pytest.mark.e2e

TEAMS = {"laa-apply": "laa-apply-dev", "opg-lpa": "opg-lpa-dev"}
PROBE = """  alertRules:
    - alert: TenancyProbe
      expr: vector(1)
      severity: warning
      summary: always firing, for the tenancy test
"""


def _api(civic, token: str) -> httpx.Client:
    return httpx.Client(
        base_url=f"http://127.0.0.1:{civic.api_port}", headers={"Authorization": f"Bearer {token}"}, timeout=20
    )


def _admin_token(civic) -> str:
    with open(civic.env["CIVIC_CONFIG"]) as f:
        return json.load(f)["token"]


def test_the_monitoring_servers_refuse_anyone_without_civic_s_credentials(civic, monitoring_http):
    civic.up(monitoring=True)
    prometheus, alertmanager, pushgateway = (f"http://127.0.0.1:{p}" for p in civic.monitoring_ports)
    now = datetime.datetime.now(datetime.UTC)
    silence = {
        "matchers": [{"name": "environment", "value": "opg-lpa-dev", "isRegex": False, "isEqual": True}],
        "startsAt": now.isoformat(),
        "endsAt": (now + datetime.timedelta(hours=1)).isoformat(),
        "createdBy": "anyone",
        "comment": "no token",
    }
    assert httpx.post(f"{alertmanager}/api/v2/silences", json=silence, timeout=5).status_code == 401
    for url in (
        f"{alertmanager}/api/v2/status",
        f"{alertmanager}/api/v2/alerts",
        f"{alertmanager}/api/v2/silences",
        f"{prometheus}/api/v1/query?query=up",
        f"{prometheus}/api/v1/status/config",
        f"{pushgateway}/api/v1/metrics",
    ):
        assert httpx.get(url, timeout=5).status_code == 401, url
    assert httpx.put(f"{pushgateway}/metrics/job/forged", content=b"forged 1\n", timeout=5).status_code == 401
    listed = civic.civic("silences", "-o", "json")
    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout) == [], "no silence was made"

    workdir = os.path.join(civic.estate, ".civic", "run", "monitoring")
    client = monitoring_http(workdir)
    answer = client.get(f"{prometheus}/api/v1/query", params={"query": 'up{job="civic"}'}).json()
    assert answer["status"] == "success"
    deadlines.poll(
        lambda: client.get(f"{prometheus}/api/v1/query", params={"query": 'up{job="pushgateway"}'}).json()["data"][
            "result"
        ],
        timeout=30,
        what="Prometheus scraping the Pushgateway with Civic's credentials",
    )
    up = client.get(f"{prometheus}/api/v1/query", params={"query": 'up{job="pushgateway"}'}).json()["data"]["result"]
    assert up[0]["value"][1] == "1", up


def test_a_team_token_reaches_its_own_alerts_and_silences_only(civic):
    for env in TEAMS.values():
        path = os.path.join(civic.estate, "environments", env, "environment.yaml")
        with open(path, "a") as f:
            f.write(PROBE)
    civic.up(monitoring=True)
    admin = _api(civic, _admin_token(civic))
    for env in TEAMS.values():
        made = admin.post("/v1/silences", json={"environment": env, "service": "web", "hours": 1, "reason": env})
        assert made.status_code == 200, made.text

    def probes() -> dict[str, str]:
        answer = admin.get("/v1/alerts")
        assert answer.status_code == 200, answer.text
        return {a["labels"]["team"]: a["labels"]["environment"] for a in answer.json()}

    # Prometheus drops what fires before it has found Alertmanager, and sends it again a minute later.
    deadlines.poll(lambda: len(probes()) == 2, timeout=150, interval=1, what="both teams' probe alerts")
    assert probes() == TEAMS

    tokens = {}
    for team in TEAMS:
        made = civic.civic("token", "create", "--team", team, "-o", "json")
        assert made.returncode == 0, made.stderr
        tokens[team] = json.loads(made.stdout)["token"]
    for team, env in TEAMS.items():
        (other,) = set(TEAMS) - {team}
        with _api(civic, tokens[team]) as api:
            alerts = api.get("/v1/alerts")
            assert alerts.status_code == 200, alerts.text
            assert {(a["labels"]["team"], a["labels"]["environment"]) for a in alerts.json()} == {(team, env)}
            assert api.get("/v1/alerts", params={"team": other}).status_code == 403
            assert api.get("/v1/alerts/history", params={"team": other}).status_code == 403
            history = api.get("/v1/alerts/history")
            assert history.status_code == 200 and {h["team"] for h in history.json()} <= {team}
            silences = api.get("/v1/silences")
            assert silences.status_code == 200, silences.text
            assert [s["comment"] for s in silences.json()] == [env]
            made = api.post("/v1/silences", json={"environment": TEAMS[other], "hours": 1, "reason": "mine now"})
            assert made.status_code == 403, made.text
    final = admin.get("/v1/silences").json()
    assert sorted(s["comment"] for s in final) == sorted(TEAMS.values()), "no team made a silence elsewhere"
    admin.close()
