"""Only Civic talks to its Prometheus, Alertmanager and Pushgateway, and they give no team secret away.

The real servers, started by the :class:`~civic.reconcile.monitoring.Monitor` that ``civic up``
runs, with their files written from a store that holds the example estate and two team
webhooks: laa-apply's Slack webhook and opg-lpa's plain webhook (both secrets).
"""

from __future__ import annotations

import asyncio
import datetime
import os
import socket
import stat
import threading

import httpx
import pytest

from civic import errors
from civic.control import applying
from civic.observability import relay, stack
from civic.reconcile import desired, monitoring
from civic.spec import estate
from civic.store import crypto, deployments, state

SLACK_URL = "http://127.0.0.1:9/services/T000/B000/slack-secret-url"
PAGER_URL = "http://127.0.0.1:9/pager/oncall-secret-url"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def monitor(estate_dir, tmp_path, monkeypatch):
    """A Monitor started as ``civic up`` starts it, its loop on an event loop of its own."""
    assert not stack.missing(), f"install {stack.missing()} (scripts/system-deps does)"
    monkeypatch.delenv(crypto.KEY_ENV, raising=False)
    store = state.StateStore(str(tmp_path / "state.db"))
    applying.apply(estate.load(estate_dir), store)
    box = crypto.SecretBox.load(str(tmp_path / "secret.key"))
    for team, name, url in (
        ("laa-apply", "apply-slack-webhook", SLACK_URL),
        ("opg-lpa", "lpa-oncall-webhook", PAGER_URL),
    ):
        store.put_secret(state.team_scope(team), name, ciphertext=box.encrypt(url), fingerprint=box.fingerprint(url))
    m = monitoring.Monitor(
        desired.Context(store, deployments.Deployments(store), box),
        workdir=str(tmp_path / "monitoring"),
        ports=stack.Ports(prometheus=free_port(), alertmanager=free_port(), pushgateway=free_port()),
        api_port=free_port(),
        stats_port=free_port(),
        replicas=list,
        service_url=lambda env, service: f"http://{service}.{env}.localhost/",
    )
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        asyncio.run_coroutine_threadsafe(m.start(), loop).result(60)
        assert m.on, m.off_reason
        yield m
    finally:
        asyncio.run_coroutine_threadsafe(m.stop(), loop).result(60)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()
        store.close()


SILENCE = {
    "matchers": [{"name": "environment", "value": "opg-lpa-production", "isRegex": False, "isEqual": True}],
    "startsAt": datetime.datetime.now(datetime.UTC).isoformat(),
    "endsAt": (datetime.datetime.now(datetime.UTC) + datetime.timedelta(hours=1)).isoformat(),
    "createdBy": "nobody",
    "comment": "silenced without a token",
}


def test_alertmanager_refuses_a_silence_without_credentials(monitor):
    url = monitor.stack.alertmanager_url
    refused = httpx.post(f"{url}/api/v2/silences", json=SILENCE, timeout=5)
    assert refused.status_code == 401, refused.text
    assert httpx.get(f"{url}/api/v2/silences", timeout=5).status_code == 401
    assert httpx.get(f"{url}/api/v2/alerts", timeout=5).status_code == 401
    wrong = httpx.post(f"{url}/api/v2/silences", json=SILENCE, auth=("civic", "guessed"), timeout=5)
    assert wrong.status_code == 401, wrong.text


def test_alertmanager_takes_civic_s_own_credentials(monitor, monitoring_http):
    with monitor.stack.alertmanager() as am:
        silence_id = am.silence(
            matchers={"environment": "opg-lpa-production"},
            duration=datetime.timedelta(hours=1),
            reason="planned upgrade",
            author="admin",
        )
        assert [s["id"] for s in am.silences()] == [silence_id]
    listed = monitoring_http(monitor.workdir).get(f"{monitor.stack.alertmanager_url}/api/v2/silences")
    assert listed.status_code == 200 and listed.json()[0]["id"] == silence_id


@pytest.mark.parametrize("authenticated", [False, True], ids=["anonymous", "with-credentials"])
def test_alertmanager_status_holds_no_team_webhook_url(monitor, monitoring_http, authenticated):
    client = monitoring_http(monitor.workdir) if authenticated else httpx.Client(timeout=5)
    with client:
        response = client.get(f"{monitor.stack.alertmanager_url}/api/v2/status")
    if authenticated:
        assert response.status_code == 200, response.text
        assert "receivers" in response.json()["config"]["original"]
    for url in (SLACK_URL, PAGER_URL, "secret-url"):
        assert url not in response.text
    with open(os.path.join(monitor.workdir, "alertmanager.yml")) as f:
        assert "secret-url" not in f.read(), "team webhook URLs are read from files or relayed, never inline"


def test_prometheus_and_the_pushgateway_refuse_requests_without_credentials(monitor, monitoring_http):
    prometheus, pushgateway = monitor.stack.prometheus_url, monitor.stack.pushgateway_url
    for url in (
        f"{prometheus}/api/v1/query?query=up",
        f"{prometheus}/api/v1/status/config",
        f"{prometheus}/api/v1/rules",
        f"{pushgateway}/api/v1/metrics",
        f"{pushgateway}/metrics",
    ):
        assert httpx.get(url, timeout=5).status_code == 401, url
    pushed = httpx.put(f"{pushgateway}/metrics/job/forged", content=b'civic_service_replicas_ready{team="x"} 0\n')
    assert pushed.status_code == 401, pushed.text
    assert httpx.post(f"{prometheus}/-/reload", timeout=5).status_code == 401

    client = monitoring_http(monitor.workdir)
    assert client.get(f"{prometheus}/api/v1/query", params={"query": "up"}).json()["status"] == "success"
    assert client.put(f"{pushgateway}/metrics/job/batch", content=b"batch_rows 1\n").status_code == 200


def test_every_file_holding_a_secret_is_readable_by_civic_only(monitor):
    commands = monitor.stack.commands()
    web_configs = set()
    for name, command in commands.items():
        flags = [arg.split("=", 1)[1] for arg in command if arg.startswith("--web.config.file=")]
        assert flags, f"{name} runs without --web.config.file"
        web_configs.add(flags[0])
    secrets = [SLACK_URL, PAGER_URL, monitor.webhook_token, stack.credentials(monitor.workdir).password]
    holding = set(web_configs) | {os.path.join(monitor.workdir, "alertmanager.yml")}
    for folder, dirs, files in os.walk(monitor.workdir):
        dirs[:] = [d for d in dirs if d != "data"]
        for name in files:
            path = os.path.join(folder, name)
            with open(path, errors="replace") as f:
                text = f.read()
            if any(secret in text for secret in secrets):
                holding.add(path)
    assert len(holding) >= 5, holding  # web config, password, alertmanager.yml, webhook token, Slack URL
    for path in sorted(holding):
        mode = stat.S_IMODE(os.stat(path).st_mode)
        assert mode == 0o600, f"{path} is {mode:o}"
    for folder in ("secrets", "auth"):
        mode = stat.S_IMODE(os.stat(os.path.join(monitor.workdir, folder)).st_mode)
        assert mode == 0o700, f"{folder}/ is {mode:o}"


def test_only_alertmanager_s_token_may_post_to_civic(monitor):
    token = monitor.webhook_token
    monitor.check_webhook_token(token)
    for wrong in (None, "", token[:-1], token + "x", "é"):
        with pytest.raises(errors.Unauthorized):
            monitor.check_webhook_token(wrong)


def test_a_relayed_webhook_that_fails_is_an_error_that_does_not_show_its_url(monitor):
    with pytest.raises(relay.RelayError) as e:
        monitor.relay("opg-lpa", "lpa-oncall", b'{"status": "firing"}')  # PAGER_URL: nothing listens on port 9
    assert "team opg-lpa's webhook 'lpa-oncall' did not answer" in e.value.message
    assert "secret-url" not in e.value.message and "127.0.0.1:9" not in e.value.message
    with pytest.raises(errors.NotFound) as e:
        monitor.relay("laa-apply", "apply-alerts", b"{}")  # a Slack channel: Alertmanager reads its URL file
    assert "team 'laa-apply' has no webhook channel 'apply-alerts'" in e.value.message
