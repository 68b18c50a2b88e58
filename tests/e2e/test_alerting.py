"""A bad release alerts the team that owns it, in its own channel, with nobody filing a ticket.

`civic up` with the real Prometheus and Alertmanager; the service is a real process behind
the real HAProxy. The team's Slack incoming webhook is a real HTTP server on loopback (the
only stand-in: Slack itself is not reachable from here). Its URL is a team secret.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading

import httpx

from civic import deadlines

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


def test_a_bad_release_reaches_the_owning_team_channel_then_resolves(civic, tmp_path, webhook_receiver):
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
    spec = tmp_path / "civic.service.yaml"
    spec.write_text(SERVICE)
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
