"""One way to wait: a check polled until it is true, or a Timeout that names what was awaited."""

from __future__ import annotations

import asyncio
import time

import pytest

from civic import deadlines
from civic.errors import CivicError


def test_poll_returns_the_first_truthy_value():
    answers = iter([None, 0, "", ["found"]])
    assert deadlines.poll(lambda: next(answers), timeout=5, interval=0.001, what="an answer") == ["found"]


def test_poll_checks_once_even_with_no_time_and_a_last_time_at_the_deadline():
    assert deadlines.poll(lambda: "at once", timeout=0, what="anything") == "at once"
    calls = []
    started = time.monotonic()

    def late() -> bool:
        calls.append(time.monotonic() - started)
        return calls[-1] >= 0.3

    assert deadlines.poll(late, timeout=0.3, interval=10, what="the deadline")
    assert len(calls) == 2, "one check at once, one at the deadline, none in a 10 s sleep"


def test_a_timeout_names_what_was_awaited_and_for_how_long():
    with pytest.raises(deadlines.Timeout) as caught:
        deadlines.poll(lambda: False, timeout=0.05, interval=0.01, what="the replica to be ready")
    assert isinstance(caught.value, CivicError)
    assert str(caught.value) == "timed out after 0.05 s waiting for the replica to be ready"
    assert repr(caught.value) == "Timeout(what='the replica to be ready', timeout=0.05)"


def test_an_error_from_the_check_ends_the_wait():
    def broken() -> bool:
        raise CivicError("revision 2 failed")

    with pytest.raises(CivicError, match="revision 2 failed"):
        deadlines.poll(broken, timeout=5, what="a revision")


def test_apoll_awaits_the_check_and_lets_the_loop_run_between_checks():
    async def main() -> str:
        ready = asyncio.Event()
        asyncio.get_running_loop().call_later(0.05, ready.set)

        async def is_ready() -> str:
            return "ready" if ready.is_set() else ""

        return await deadlines.apoll(is_ready, timeout=5, interval=0.01, what="the event")

    assert asyncio.run(main()) == "ready"
    with pytest.raises(deadlines.Timeout, match="waiting for nothing"):
        asyncio.run(deadlines.apoll(lambda: asyncio.sleep(0), timeout=0.05, interval=0.01, what="nothing"))
