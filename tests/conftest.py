"""Fixtures shared by every test: a copy of the example estate and a CLI runner."""

from __future__ import annotations

import dataclasses
import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from civic.cli import main

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLE_ESTATE = os.path.join(ROOT, "examples", "estate")
SHARED = os.path.join(os.path.dirname(ROOT), "shared")


@pytest.fixture(autouse=True)
def own_cache_folder(tmp_path_factory, monkeypatch) -> None:
    """Each test keeps Civic's user cache (the policy-verdict memo) in a folder of its own."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("cache")))


@pytest.fixture
def estate_dir(tmp_path) -> str:
    """A writable copy of examples/estate."""
    dest = tmp_path / "estate"
    shutil.copytree(EXAMPLE_ESTATE, dest, ignore=shutil.ignore_patterns(".civic"))
    return str(dest)


@dataclasses.dataclass
class Result:
    code: int
    out: str
    err: str


@pytest.fixture
def cli(capsys, monkeypatch):
    """Run ``civic ARGS`` in-process; returns exit code, stdout and stderr."""
    monkeypatch.setenv("COLUMNS", "200")

    def invoke(*args: str, stdin: str | None = None) -> Result:
        if stdin is not None:
            import io

            monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
        code = main.run(list(args))
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return invoke


def _postgres_available() -> bool:
    try:
        import psycopg

        with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", connect_timeout=3):
            return True
    except Exception:  # noqa: BLE001 - any failure means "not available"
        return False


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A new, empty database on the PostgreSQL server on this machine; dropped afterwards.

    In CI the server must be there: a missing server fails the test rather than skipping it.
    """
    import psycopg

    if not _postgres_available():
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL is not reachable on 127.0.0.1:5432, and CI needs it")
        pytest.skip("PostgreSQL is not reachable on 127.0.0.1:5432")
    name = f"civic_test_{uuid.uuid4().hex[:10]}"
    admin = "postgresql://postgres@127.0.0.1:5432/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield f"postgresql://postgres@127.0.0.1:5432/{name}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class WebhookReceiver:
    """A real HTTP server on loopback that records every JSON body posted to it (a team's
    Slack-compatible incoming webhook, in the alerting tests)."""

    def __init__(self) -> None:
        import json
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.bodies: list[dict] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                outer.bodies.append(json.loads(self.rfile.read(length)))
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/services/T000/B000/slack"

    def titles(self) -> list[str]:
        return [a["title"] for b in list(self.bodies) for a in b.get("attachments", [])]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def webhook_receiver() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver()
    yield receiver
    receiver.close()


@pytest.fixture
def monitoring_http() -> Iterator[Callable[..., httpx.Client]]:
    """HTTP clients that authenticate to the Prometheus, Alertmanager and Pushgateway Civic runs.

    ``monitoring_http(workdir)``: ``workdir`` is the monitoring folder (``<estate>/.civic/run/monitoring``
    under ``civic up``), where Civic keeps the password it made; every test or benchmark that
    queries the servers directly goes through this, as Civic itself does.
    """
    from civic.observability import stack

    clients: list[httpx.Client] = []

    def make(workdir: str, **options: Any) -> httpx.Client:
        client = httpx.Client(auth=stack.credentials(workdir).auth(), timeout=10, **options)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()
