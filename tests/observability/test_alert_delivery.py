"""From a breach to the owning team's channel, with the real Prometheus, Alertmanager and Pushgateway.

A service's replicas-ready series drops to zero (pushed through the Pushgateway, as a batch
job would push its own); Civic's default rule fires; Alertmanager, configured from the team
file alone, posts a Slack-format message to the team's webhook (a real HTTP server on
loopback standing in for Slack); then the resolved message follows. The servers answer
Civic's credentials only: every request here carries them (the ``monitoring_http`` fixture).
"""

from __future__ import annotations

import datetime
import json
import os
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from civic import deadlines
from civic.errors import UsageError
from civic.observability import alertmanager, routing, rules, scrape, stack
from civic.spec import estate as estate_mod
from civic.spec import models

EXAMPLE = os.path.join(os.path.dirname(__file__), "..", "..", "examples", "estate")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Receiver(ThreadingHTTPServer):
    """Records every JSON body posted to it."""

    def __init__(self) -> None:
        self.bodies: list[dict] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                outer.bodies.append(json.loads(self.rfile.read(length)))
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/hooks/slack"


@pytest.fixture
def monitoring(tmp_path):
    assert not stack.missing(), f"install {stack.missing()} (scripts/system-deps does)"
    receiver = Receiver()
    loaded = estate_mod.load(EXAMPLE)
    env = loaded.environments["laa-apply-production"]
    workdir = str(tmp_path)
    os.makedirs(os.path.join(workdir, "rules"))
    os.makedirs(os.path.join(workdir, "targets"))
    os.makedirs(os.path.join(workdir, "secrets"), mode=0o700)
    spec = models.ServiceSpec.model_validate({"alerts": {"downFor": "2s"}})
    with open(os.path.join(workdir, "rules", "laa-apply-production.yml"), "w") as f:
        f.write(
            rules.rule_file(
                {
                    "laa-apply-production": rules.service_rules(
                        environment=env,
                        service="web",
                        spec=spec,
                        link="http://127.0.0.1:8000/ui/laa-apply-production/web",
                    )
                }
            )
        )
    ports = stack.Ports(prometheus=free_port(), alertmanager=free_port(), pushgateway=free_port())
    s = stack.Stack(workdir=workdir, ports=ports, retention="36h")
    stack.ensure_credentials(workdir)
    with open(os.path.join(workdir, "prometheus.yml"), "w") as f:
        f.write(
            scrape.config_text(
                scrape.prometheus_config(
                    rules_glob=os.path.join(workdir, "rules", "*.yml"),
                    targets_dir=os.path.join(workdir, "targets"),
                    alertmanager=f"127.0.0.1:{ports.alertmanager}",
                    civic=None,
                    haproxy=None,
                    pushgateway=f"127.0.0.1:{ports.pushgateway}",
                    basic_auth=s.basic_auth(),
                )
            )
        )

    def secret_file(team: str, name: str) -> str:
        path = os.path.join(workdir, "secrets", f"{team}--{name}")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(receiver.url)
        return path

    config = routing.alertmanager_config(
        teams=loaded.teams,
        civic_webhook=f"http://127.0.0.1:{free_port()}/unused",
        relay_url=lambda team, channel: f"http://127.0.0.1:{free_port()}/unused/{team}/{channel}",
        secret_file=secret_file,
        secret_value=lambda team, name: receiver.url if name == "apply-slack-webhook" else None,
        group_interval="2s",
    )
    with open(os.path.join(workdir, "alertmanager.yml"), "w") as f:
        f.write(routing.config_text(config))
    s.start()
    yield s, receiver
    s.stop()
    receiver.shutdown()
    receiver.server_close()


def push(http: httpx.Client, s: stack.Stack, *, ready: int) -> None:
    labels = 'environment="laa-apply-production",service="web"'
    body = f"civic_service_replicas_desired{{{labels}}} 2\ncivic_service_replicas_ready{{{labels}}} {ready}\n"
    response = http.put(f"{s.pushgateway_url}/metrics/job/civic", content=body)
    assert response.status_code == 200, response.text


def test_a_service_down_reaches_the_team_channel_then_resolves(monitoring, monitoring_http):
    s, receiver = monitoring
    http = monitoring_http(s.workdir)
    push(http, s, ready=2)
    push(http, s, ready=0)

    def firing():
        return [b for b in receiver.bodies if b["attachments"][0]["title"].startswith("[FIRING")]

    (message,) = deadlines.poll(firing, timeout=90, interval=0.2, what="the firing Slack message")[:1]
    assert message["channel"] == "#apply-alerts"
    attachment = message["attachments"][0]
    assert attachment["title"] == "[FIRING:1] CivicServiceDown: web in laa-apply-production"
    assert "*web in laa-apply-production is down: no replica is ready*" in attachment["text"]
    assert "environment: laa-apply-production, service: web, severity: critical" in attachment["text"]
    assert "<http://127.0.0.1:8000/ui/laa-apply-production/web|Open in Civic>" in attachment["text"]

    am = s.alertmanager()
    assert [a["labels"]["alertname"] for a in am.alerts(team="laa-apply")] == ["CivicServiceDown"]
    assert am.alerts(team="opg-lpa") == []

    push(http, s, ready=2)
    resolved = deadlines.poll(
        lambda: [b for b in receiver.bodies if b["attachments"][0]["title"].startswith("[RESOLVED")],
        timeout=90,
        interval=0.2,
        what="the resolved Slack message",
    )
    assert resolved[0]["attachments"][0]["title"] == "[RESOLVED] CivicServiceDown: web in laa-apply-production"
    am.close()


def test_silences_are_created_with_a_reason_and_listed(monitoring):
    s, _ = monitoring
    am = s.alertmanager()
    silence_id = am.silence(
        matchers={"environment": "laa-apply-production", "service": "web"},
        duration=datetime.timedelta(hours=2),
        reason="planned database upgrade",
        author="asha.patel",
    )
    (listed,) = am.silences()
    assert listed["id"] == silence_id
    assert listed["comment"] == "planned database upgrade" and listed["createdBy"] == "asha.patel"
    assert {m["name"]: m["value"] for m in listed["matchers"]} == {
        "environment": "laa-apply-production",
        "service": "web",
    }
    am.close()


def test_prometheus_keeps_samples_for_the_configured_retention(monitoring, monitoring_http):
    s, _ = monitoring
    flags = monitoring_http(s.workdir).get(f"{s.prometheus_url}/api/v1/status/flags").json()["data"]
    assert flags["storage.tsdb.retention.time"] == "1d12h"  # Prometheus normalises 36h


@pytest.mark.parametrize("value", ["15d", "36h", "8w", "1y", "1d12h", "90m"])
def test_retention_durations_prometheus_takes(value):
    assert stack.check_retention(value) == value


@pytest.mark.parametrize("value", ["15 days", "15", "d", "0d", "-1d", "1.5d", ""])
def test_a_bad_retention_is_a_usage_error_that_says_how(value):
    with pytest.raises(UsageError) as e:
        stack.check_retention(value)
    assert f"'{value}'" in e.value.message and "12h, 15d, 8w or 1y" in e.value.message


def test_a_stopped_alertmanager_is_a_clear_error():
    am = alertmanager.Alertmanager(f"http://127.0.0.1:{free_port()}")
    with pytest.raises(alertmanager.AlertmanagerError) as e:
        am.alerts()
    assert "did not answer" in e.value.message and "is monitoring running?" in e.value.message
    am.close()
