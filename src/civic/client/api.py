"""The API client the CLI (and later the web console) uses: one method per endpoint.

Errors come back as the same :mod:`civic.errors` classes the API raised, so the CLI
prints them as it prints its own; a control plane that is not running is a
:class:`~civic.errors.UsageError` that says to start it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import IO, Any

import httpx

from civic.api import problems
from civic.client import config as config_mod
from civic.errors import Forbidden, UsageError

BUILD_WAIT = 1200.0
"""Seconds a deploy of uploaded code may take to answer: its build (at most 15 minutes) and checks."""


def _chunks(f: IO[bytes], size: int = 1 << 16) -> Iterator[bytes]:
    while chunk := f.read(size):
        yield chunk


class Client:
    def __init__(self, cfg: config_mod.Config | None = None, *, timeout: float = 30.0) -> None:
        self.config = cfg or config_mod.load()
        self.http = httpx.Client(
            base_url=self.config.url, timeout=timeout, headers={"Authorization": f"Bearer {self.config.token}"}
        )

    def __repr__(self) -> str:
        return f"Client(url={self.config.url!r})"

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = self.http.request(method, path, **kwargs)
        except httpx.TransportError as e:
            raise UsageError(f"Civic's API at {self.config.url} does not answer ({e}); is 'civic up' running?") from e
        if response.status_code < 400:
            return response.json()
        try:
            body = response.json()
        except ValueError:
            body = {"message": response.text}
        if response.status_code in (401, 403) and "kind" not in body:
            raise Forbidden(str(body.get("detail", body)))
        raise problems.error_from(body)

    def deploy(
        self, environment: str, *, file: str, text: str, overrides: list[str], artifact: str | None = None
    ) -> dict[str, Any]:
        """Deploy; with ``artifact`` (uploaded first) the control plane builds it before recording the
        revision, so this waits for the build as long as a build may take."""
        return self._call(
            "POST",
            f"/v1/environments/{environment}/services",
            json={"file": file, "text": text, "set": overrides, "artifact": artifact},
            timeout=httpx.Timeout(30.0, read=BUILD_WAIT),
        )

    def has_artifact(self, environment: str, digest: str) -> bool:
        return bool(self._call("GET", f"/v1/environments/{environment}/artifacts/{digest}")["present"])

    def upload(self, environment: str, digest: str, path: str) -> dict[str, Any]:
        """Upload the archive at ``path`` (streamed, never read whole into memory)."""
        with open(path, "rb") as f:
            return self._call(
                "PUT",
                f"/v1/environments/{environment}/artifacts/{digest}",
                content=_chunks(f),
                headers={"Content-Type": "application/gzip", "Content-Length": str(os.fstat(f.fileno()).st_size)},
                timeout=httpx.Timeout(30.0, write=300.0),
            )

    def builds(self, environment: str, name: str) -> list[dict[str, Any]]:
        return self._call("GET", f"/v1/environments/{environment}/services/{name}/builds")

    def build_log(self, build_id: str) -> dict[str, Any]:
        return self._call("GET", f"/v1/builds/{build_id}")

    def service(self, environment: str, name: str) -> dict[str, Any]:
        return self._call("GET", f"/v1/environments/{environment}/services/{name}")

    def services(self, environment: str | None = None) -> list[dict[str, Any]]:
        return self._call("GET", "/v1/services", params={"environment": environment} if environment else {})

    def replicas(self, environment: str | None = None) -> list[dict[str, Any]]:
        return self._call("GET", "/v1/replicas", params={"environment": environment} if environment else {})

    def rollback(self, environment: str, name: str, *, to: int | None) -> dict[str, Any]:
        return self._call("POST", f"/v1/environments/{environment}/services/{name}/rollback", json={"to": to})

    def scale(self, environment: str, name: str, replicas: int) -> dict[str, Any]:
        return self._call("POST", f"/v1/environments/{environment}/services/{name}/scale", json={"replicas": replicas})

    def restart(self, environment: str, name: str) -> dict[str, Any]:
        return self._call("POST", f"/v1/environments/{environment}/services/{name}/restart")

    def create_token(self, team: str | None) -> dict[str, Any]:
        return self._call("POST", "/v1/tokens", json={"team": team})

    def tokens(self) -> list[dict[str, Any]]:
        """Every valid token: id, team, created (never the secret; the admin token only)."""
        return self._call("GET", "/v1/tokens")

    def revoke_token(self, token_id: str) -> dict[str, Any]:
        return self._call("DELETE", f"/v1/tokens/{token_id}")

    def monitoring(self) -> dict[str, Any]:
        return self._call("GET", "/v1/monitoring")

    def estate(self) -> dict[str, Any]:
        """What the estate sync last did (the admin token only)."""
        return self._call("GET", "/v1/estate")

    def alerts(self, *, team: str | None = None) -> list[dict[str, Any]]:
        return self._call("GET", "/v1/alerts", params={"team": team} if team else {})

    def alert_history(self, *, team: str | None = None) -> list[dict[str, Any]]:
        return self._call("GET", "/v1/alerts/history", params={"team": team} if team else {})

    def silence(self, *, environment: str, service: str | None, hours: float, reason: str) -> dict[str, Any]:
        return self._call(
            "POST",
            "/v1/silences",
            json={"environment": environment, "service": service, "hours": hours, "reason": reason},
        )

    def silences(self) -> list[dict[str, Any]]:
        return self._call("GET", "/v1/silences")

    def shutdown(self) -> dict[str, Any]:
        return self._call("POST", "/v1/shutdown")

    def healthy(self) -> bool:
        try:
            return self.http.get("/v1/health", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False
