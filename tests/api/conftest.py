"""The API served by uvicorn in a thread on a free loopback port (as httpx tests itself), over a
real store and the local backend, unstarted: no replica runs, but every route, the store and
the policy work are the real ones."""

from __future__ import annotations

import dataclasses
import os
import threading
from collections.abc import Iterator

import httpx
import pytest
import uvicorn

from civic import deadlines
from civic.api import app as app_mod
from civic.backends.local import replicas
from civic.control import plane
from civic.spec import estate as estate_mod
from civic.store import crypto
from civic.store.state import StateStore


@dataclasses.dataclass
class Api:
    control: plane.ControlPlane
    http: httpx.Client
    admin: str
    estate: str

    def as_(self, token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}

    def token(self, team: str | None) -> str:
        made = self.http.post("/v1/tokens", json={"team": team}, headers=self.as_(self.admin))
        assert made.status_code == 200, made.text
        return made.json()["token"]


@pytest.fixture
def api(estate_dir, tmp_path) -> Iterator[Api]:
    store = StateStore(str(tmp_path / "state.db"))
    booted = plane.boot(
        estate_mod.load(estate_dir),
        store,
        crypto.SecretBox.load(os.path.join(tmp_path, "secret.key")),
        root=estate_dir,
        saved_token=None,
    )
    settings = plane.Settings(
        run_dir=str(tmp_path / "run"), port=replicas.free_port(), stats_port=replicas.free_port(), monitoring=False
    )
    control = plane.ControlPlane(booted.ctx, settings)
    port = replicas.free_port()
    server = uvicorn.Server(
        uvicorn.Config(app_mod.create(control), host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, name="api", daemon=True)
    thread.start()
    try:
        deadlines.poll(lambda: server.started, timeout=10, interval=0.01, what="the API to listen")
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
            yield Api(control, http, booted.admin_token, estate_dir)
    finally:
        server.should_exit = True
        thread.join(10)
        store.close()
