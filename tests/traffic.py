"""Continuous HTTP traffic from a thread, for tests that must fail no request."""

from __future__ import annotations

import threading

import httpx

from civic import deadlines


class Traffic:
    """Requests in a loop from a thread, counting answers and failures, until stopped."""

    def __init__(self, client: httpx.Client, path: str = "/") -> None:
        self.client, self.path = client, path
        self.ok = 0
        self.failures: list[str] = []
        self.bodies: set[str] = set()
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                response = self.client.get(self.path)
                if response.status_code == 200:
                    self.ok += 1
                    self.bodies.add(response.text.split()[0])
                else:
                    self.failures.append(f"{response.status_code} {response.text[:80]}")
            except httpx.HTTPError as e:
                self.failures.append(repr(e))

    def wait_for(self, count: int, timeout: float = 30.0) -> None:
        """Until ``count`` requests have been answered (fails after ``timeout`` seconds)."""
        try:
            deadlines.poll(lambda: self.ok >= count, timeout=timeout, interval=0.01, what=f"{count} requests answered")
        except deadlines.Timeout as e:
            raise AssertionError(f"only {self.ok} of {count} requests answered") from e

    def __enter__(self) -> Traffic:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self.thread.join(10)
