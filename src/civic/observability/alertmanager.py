"""Alertmanager's HTTP API, as ``civic alerts``, ``civic silence`` and ``civic silences`` use it.

A thin client over Alertmanager's v2 API: firing alerts (optionally one team's), and
silences created with an author and a reason. Raises civic.errors types only. Alertmanager
answers Civic only: ``auth`` is Civic's credentials (``Stack.alertmanager()`` gives a client
with them).
"""

from __future__ import annotations

import datetime
from typing import Any

import httpx

from civic.errors import BackendError


class AlertmanagerError(BackendError):
    """Alertmanager did not answer, or refused the request."""


class Alertmanager:
    def __init__(self, url: str, *, auth: httpx.Auth | None = None, timeout: float = 5.0) -> None:
        self.url = url.rstrip("/")
        self.http = httpx.Client(base_url=self.url + "/api/v2", auth=auth, timeout=timeout)

    def __repr__(self) -> str:
        return f"Alertmanager(url={self.url!r})"

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> Alertmanager:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = self.http.request(method, path, **kwargs)
        except httpx.HTTPError as e:
            raise AlertmanagerError(
                f"Alertmanager at {self.url} did not answer ({e}); is monitoring running? 'civic status' says."
            ) from e
        if response.status_code == 401:
            raise AlertmanagerError(
                f"Alertmanager at {self.url} refused Civic's credentials; restart 'civic up' to start it "
                "with the password in its run/monitoring/auth folder."
            )
        if response.status_code >= 400:
            raise AlertmanagerError(f"Alertmanager refused {method} {path}: {response.text.strip()}")
        return response.json() if response.content else None

    def alerts(self, *, team: str | None = None, active: bool = True) -> list[dict[str, Any]]:
        params: dict[str, Any] = {"active": str(active).lower(), "silenced": "false", "inhibited": "false"}
        if team:
            params["filter"] = f'team="{team}"'
        return list(self._call("GET", "/alerts", params=params))

    def silence(self, *, matchers: dict[str, str], duration: datetime.timedelta, reason: str, author: str) -> str:
        """Create a silence; returns its id."""
        now = datetime.datetime.now(datetime.UTC)
        body = {
            "matchers": [{"name": k, "value": v, "isRegex": False, "isEqual": True} for k, v in matchers.items()],
            "startsAt": now.isoformat(),
            "endsAt": (now + duration).isoformat(),
            "createdBy": author,
            "comment": reason,
        }
        return str(self._call("POST", "/silences", json=body)["silenceID"])

    def silences(self) -> list[dict[str, Any]]:
        return [s for s in self._call("GET", "/silences") if s["status"]["state"] != "expired"]
