"""Plain team webhooks, relayed by Civic, because Alertmanager 0.25 cannot read their URL from a file.

A team's webhook URL is a secret. Alertmanager 0.25 takes a Slack URL from a file
(``api_url_file``) but a plain webhook's only inline (``url_file`` came in 0.26), and then
shows it to anyone who reads ``/api/v2/status``. So :mod:`civic.observability.routing` points
a plain webhook channel at Civic's API (``routing.relay_path``), with the bearer token only
Alertmanager holds; the API decrypts the team's URL from the store and calls :func:`forward`
with Alertmanager's message as it came. A failure is an error (the API answers 502), so
Alertmanager retries as it would have done with the team's endpoint itself. No message
names the URL.
"""

from __future__ import annotations

import httpx

from civic.errors import BackendError

TIMEOUT = 10.0  # seconds; Alertmanager retries a message that failed


class RelayError(BackendError):
    """A team's webhook did not take a message Civic relayed to it."""


def forward(url: str, body: bytes, *, what: str, timeout: float = TIMEOUT) -> None:
    """POST Alertmanager's JSON ``body`` to ``url``; RelayError unless it answers 2xx.

    ``what`` names the webhook in messages (the URL itself is a secret).
    """
    try:
        response = httpx.post(
            url,
            content=body,
            headers={"Content-Type": "application/json", "User-Agent": "Civic (relaying Alertmanager)"},
            timeout=timeout,
        )
    except (httpx.HTTPError, httpx.InvalidURL) as e:
        raise RelayError(f"{what} did not answer ({type(e).__name__}); Alertmanager will try again.") from e
    if not 200 <= response.status_code < 300:
        raise RelayError(f"{what} answered HTTP {response.status_code}; Alertmanager will try again.")
