"""A bad release alerts the team that owns it, in its own channel, with nobody filing a ticket.

`civic up` with the real Prometheus and Alertmanager; the service is a real process behind
the real HAProxy. The team's Slack incoming webhook is a real HTTP server on loopback (the
only stand-in: Slack itself is not reachable from here). Its URL is a team secret.
"""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator

import httpx
import pytest

from civic import deadlines

pytestmark = pytest.mark.e2e

WEBAPP = os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "backends", "local", "apps", "webapp.py"
)
ENV = "laa-apply-production"
SERVICE = f"""apiVersion: civic/v1
kind: Service
metadata:
  name: web
spec:
  run: {{command: {sys.executable} {WEBAPP}}}
  replicas: 2
  readiness: {{path: /healthz, intervalSeconds: 0.5, timeoutSeconds: 1, failureThreshold: 2}}
  resources: {{cpu: 500m, memory: 256Mi, requestCpu: 100m, requestMemory: 128Mi}}
  env: {{FAIL: "0"}}
"""


def _traffic(civic, stop: threading.Event) -> None:
    with civic.client("web", ENV) as client:
        while not stop.wait(0.05):
            try:
                client.get("/")
            except httpx.HTTPError:
                pass


@pytest.fixture
def service_folder() -> Iterator[pathlib.Path]:
    """The service's own folder, which its replicas get a copy of as their own user: readable by
    every user, and apart from the test's files (the client config holds the admin token)."""
    folder = tempfile.mkdtemp(prefix="civic-service-")
    os.chmod(folder, 0o755)
    try:
        yield pathlib.Path(folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def test_a_bad_release_reaches_the_owning_team_channel_then_resolves(civic, service_folder, webhook_receiver):
    secret = subprocess.run(
        [
            sys.executable,
            "-m",
            "civic",
            "secret",
            "set",
            "laa-apply",
            "apply-slack-webhook",
            "--team",
            "--estate",
            civic.estate,
        ],
        input=webhook_receiver.url,
        text=True,
        capture_output=True,
        env=civic.env,
    )
    assert secret.returncode == 0, secret.stderr
    civic.up(monitoring=True)
    assert "Monitoring: Prometheus http://127.0.0.1:" in civic.output()
    spec = service_folder / "civic.service.yaml"
    spec.write_text(SERVICE)
    spec.chmod(0o644)
    deployed = civic.civic("deploy", ENV, "-f", str(spec))
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr
    civic.wait_ready("web", 2, env=ENV)

    stop = threading.Event()
    load = threading.Thread(target=_traffic, args=(civic, stop), daemon=True)
    load.start()
    try:
        bad = civic.civic("deploy", ENV, "-f", str(spec), "--set", "env.FAIL=1")
        assert bad.returncode == 0, bad.stdout + bad.stderr
        firing = "[FIRING:1] CivicServiceHighErrorRate: web in laa-apply-production"
        deadlines.poll(lambda: firing in webhook_receiver.titles(), timeout=120, what="the firing message")
        message = next(b for b in webhook_receiver.bodies if b["attachments"][0]["title"] == firing)
        assert message["channel"] == "#apply-alerts"
        text = message["attachments"][0]["text"]
        assert "*web in laa-apply-production answers more than 5% of requests with 5xx*" in text
        assert "environment: laa-apply-production, service: web, severity: warning" in text
        assert "|Open in Civic>" in text and "web.laa-apply-production.localhost" in text

        listed = json.loads(civic.civic("alerts", "--team", "laa-apply", "-o", "json").stdout)
        assert "CivicServiceHighErrorRate" in [a["labels"]["alertname"] for a in listed]
        history = json.loads(civic.civic("alerts", "--history", "-o", "json").stdout)
        assert any(h["alertname"] == "CivicServiceHighErrorRate" and h["status"] == "firing" for h in history)

        fixed = civic.civic("deploy", ENV, "-f", str(spec), "--set", "env.FAIL=0")
        assert fixed.returncode == 0, fixed.stdout + fixed.stderr
        resolved = "[RESOLVED] CivicServiceHighErrorRate: web in laa-apply-production"
        deadlines.poll(lambda: resolved in webhook_receiver.titles(), timeout=180, what="the resolved message")
    finally:
        stop.set()
        load.join(5)
    status = civic.civic("status", ENV)
    assert "monitoring: on" in status.stdout


def test_silence_and_monitoring_off(civic):
    civic.up()
    status = civic.civic("status")
    assert "monitoring: off (turned off with --no-monitoring)" in status.stdout
    refused = civic.civic("silence", "opg-lpa-dev/hello", "--for", "2h", "--reason", "upgrade")
    assert refused.returncode == 2
    assert "monitoring is off: turned off with --no-monitoring" in refused.stderr
    bad = civic.civic("silence", "opg-lpa-dev", "--for", "soon", "--reason", "x")
    assert bad.returncode == 2 and "--for 'soon' is not a duration" in bad.stderr


ONCALL_PROBE = """  alertRules:
    - alert: OncallProbe
      expr: vector(1)
      severity: critical
      summary: always firing, for the relay test
"""


def test_a_plain_team_webhook_gets_alertmanager_s_message_through_civic(civic, webhook_receiver, monitoring_http):
    """opg-lpa's on-call channel is a plain webhook, whose URL Alertmanager 0.25 would show in
    /api/v2/status: Alertmanager posts to Civic, which relays to the team's URL."""
    secret = subprocess.run(
        [sys.executable, "-m", "civic", "secret", "set", "opg-lpa", "lpa-oncall-webhook", "--team"]
        + ["--estate", civic.estate],
        input=webhook_receiver.url,
        text=True,
        capture_output=True,
        env=civic.env,
    )
    assert secret.returncode == 0, secret.stderr
    with open(os.path.join(civic.estate, "environments", "opg-lpa-production", "environment.yaml"), "a") as f:
        f.write(ONCALL_PROBE)
    civic.up(monitoring=True)

    def relayed() -> list[dict]:
        return [b for b in list(webhook_receiver.bodies) if b.get("receiver") == "opg-lpa/lpa-oncall"]

    # Prometheus drops what fires before it has found Alertmanager, and sends it again a minute later.
    message = deadlines.poll(relayed, timeout=150, interval=0.5, what="the relayed on-call message")[0]
    assert message["status"] == "firing"
    assert [a["labels"]["alertname"] for a in message["alerts"]] == ["OncallProbe"]
    assert message["alerts"][0]["labels"]["environment"] == "opg-lpa-production"

    workdir = os.path.join(civic.estate, ".civic", "run", "monitoring")
    status = monitoring_http(workdir).get(f"http://127.0.0.1:{civic.monitoring_ports[1]}/api/v2/status")
    assert status.status_code == 200 and webhook_receiver.url not in status.text
    relay = f"http://127.0.0.1:{civic.api_port}/v1/alerts/relay/opg-lpa/lpa-oncall"
    assert httpx.post(relay, json=message, timeout=10).status_code == 401, "only Alertmanager may post here"
    with open(os.path.join(workdir, "secrets", "webhook-token")) as f:
        token = f.read().strip()
    unknown = httpx.post(
        relay.replace("lpa-oncall", "nope"), json=message, headers={"Authorization": f"Bearer {token}"}, timeout=10
    )
    assert unknown.status_code == 404 and "no webhook channel 'nope'" in unknown.text
