"""A hostile service file deployed through the API is refused with 422 and a placed problem, never 500.

Issue 12's drills sent these to ``POST /v1/environments/ENV/services``: a NUL byte in an
environment variable's name (recorded, then crash-looping the supervisor), a 340-byte
alias bomb (the control plane blocked for 9.7 s), invalid dates, ``!!int abc``, a
4,301-digit number and deep nesting (HTTP 500). Each case boots the real app over a real
store (the example estate applied, the local backend unstarted) in a forked child with a
deadline and a memory limit (tests/spec/bounded.py) and posts the file, as the CLI would.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
from typing import Any

import httpx
import pytest
from tests.spec import bounded

from civic import policy
from civic.api import app as app_mod
from civic.backends.local import replicas
from civic.control import plane
from civic.spec import estate as estate_mod
from civic.store import crypto
from civic.store.state import StateStore

SERVICE = """\
apiVersion: civic/v1
kind: Service
metadata:
  name: web
spec:
  run: {command: python -m http.server $PORT}
  replicas: 1
"""


@dataclasses.dataclass(frozen=True)
class Booted:
    estate: str
    state: str
    key: str
    token: str


@pytest.fixture
def booted(estate_dir, tmp_path) -> Booted:
    """The example estate applied to a new store, as ``civic up`` starts; the admin token."""
    state, key = str(tmp_path / "state.db"), str(tmp_path / "secret.key")
    store = StateStore(state)
    try:
        done = plane.boot(
            estate_mod.load(estate_dir), store, crypto.SecretBox.load(key), root=estate_dir, saved_token=None
        )
    finally:
        store.close()
    return Booted(estate_dir, state, key, done.admin_token)


def deploy(
    booted: Booted, text: str, *, env: str = "opg-lpa-dev", overrides: tuple[str, ...] = ()
) -> tuple[int, dict[str, Any]]:
    """POST the service file to the API in a bounded child: (status, body)."""

    def post() -> tuple[int, dict[str, Any]]:
        store = StateStore(booted.state)
        try:
            ctx = plane.context(
                store, crypto.SecretBox.load(booted.key), policies=policy.policy_set(estate_mod.load(booted.estate))
            )
            settings = plane.Settings(
                run_dir=os.path.join(os.path.dirname(booted.state), "run"),
                port=replicas.free_port(),
                stats_port=replicas.free_port(),
                monitoring=False,
            )
            app = app_mod.create(plane.ControlPlane(ctx, settings))
            return asyncio.run(_post(app, booted.token, env, text, list(overrides)))
        finally:
            store.close()

    outcome = bounded.run(post)
    assert outcome.value is not None, f"the deploy did not finish: {outcome}"
    result: tuple[int, dict[str, Any]] = outcome.value
    return result


async def _post(app: Any, token: str, env: str, text: str, overrides: list[str]) -> tuple[int, dict[str, Any]]:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)  # an unexpected error is a 500
    async with httpx.AsyncClient(transport=transport, base_url="http://civic", timeout=60) as client:
        answer = await client.post(
            f"/v1/environments/{env}/services",
            json={"file": "civic.service.yaml", "text": text, "set": overrides},
            headers={"Authorization": f"Bearer {token}"},
        )
    try:
        return answer.status_code, answer.json()
    except ValueError:
        return answer.status_code, {"text": answer.text}


def _problems(body: dict[str, Any]) -> list[str]:
    return [f"{p['file']}:{p['line']}:{p['column']}: {p['path']}: {p['message']}" for p in body.get("problems", [])]


def _bomb() -> str:
    lines = ['    a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for previous, name in zip("abcdefgh", "bcdefghi", strict=True):
        lines.append(f"    {name}: &{name} [{','.join([f'*{previous}'] * 9)}]")
    return "\n".join(lines) + "\n"


CASES = [
    ("nul-in-a-name", '  env: {"A\\0B": x}\n', "8:9: spec.env.A\\x00B: the name 'A\\x00B' is not valid"),
    ("nul-in-a-value", '  env: {GREETING: "a\\0b"}\n', "8:9: spec.env.GREETING: a value cannot hold a NUL character"),
    ("alias-bomb", "  env:\n" + _bomb(), "14:12: spec.env.f[0]: aliases expand to more than 100,000 values"),
    ("deep-nesting", "  env: " + "[" * 600 + "]" * 600 + "\n", "8:70: spec.env[0][0]"),
    (
        "invalid-date",
        "  policyExceptions: [{policy: p, reason: r, expires: 2024-02-30}]\n",
        "8:54: spec.policyExceptions[0].expires: '2024-02-30' is not a valid date (YYYY-MM-DD)",
    ),
    (
        "timestamp-nope",
        "  policyExceptions: [{policy: p, reason: r, expires: !!timestamp nope}]\n",
        "8:54: spec.policyExceptions[0].expires: 'nope' is not a valid date (YYYY-MM-DD)",
    ),
    ("int-abc", "  port: !!int abc\n", "8:9: spec.port: 'abc' is not a whole number"),
    ("4301-digits", "  port: " + "9" * 4301 + "\n", "8:9: spec.port: the whole number '99999999999999999999"),
    (
        "long-string",
        "  env: {BIG: " + "x" * 300_000 + "}\n",
        "8:14: spec.env.BIG: this string is 300,000 characters long",
    ),
]


@pytest.mark.parametrize(("added", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_a_hostile_service_file_is_refused_with_422_and_a_placed_problem(booted, added, expected):
    status, body = deploy(booted, SERVICE + added)
    assert status == 422, body
    assert any(p.startswith(f"civic.service.yaml:{expected}") for p in _problems(body)), body


def test_a_service_file_larger_than_the_bound_is_refused_unread(booted):
    text = SERVICE + "# " * 3 * 1024 * 1024
    status, body = deploy(booted, text)
    assert status == 422, body
    assert _problems(body) == [
        f"civic.service.yaml:1:1: : the file holds {len(text):,} characters, more than the 5,242,880 Civic reads; "
        "split it."
    ]


def test_a_policy_that_divides_by_zero_denies_the_deploy_with_its_reason(booted):
    with open(os.path.join(booted.estate, "policies", "drill.yaml"), "w", encoding="utf-8") as f:
        f.write(
            "apiVersion: civic/v1\nkind: Policy\nmetadata: {name: drill}\nspec:\n  description: d\n"
            '  appliesTo: [Service]\n  expression: "1 / 0 == 1"\n  message: m\n'
        )
    status, body = deploy(booted, SERVICE)
    assert status == 403, body
    assert "policy 'drill' could not be evaluated on this object: division by zero" in body["message"]


@pytest.mark.parametrize("spec", ["[run, replicas]", "just words", "null"])
def test_a_set_on_a_file_whose_spec_is_not_a_mapping_is_refused_at_the_spec(booted, spec):
    # found by benchmarks/fuzz_estate.py: --set walked into a list and the API answered 500
    text = SERVICE.split("spec:")[0] + f"spec: {spec}\n"
    status, body = deploy(booted, text, overrides=("replicas=2", "env.A=b"))
    assert status == 422, body
    assert _problems(body) == [f"civic.service.yaml:5:1: spec: must be a mapping of fields, got {_shown(spec)}."], body


def _shown(spec: str) -> str:
    return {"[run, replicas]": "a list", "just words": "the string 'just words'", "null": "nothing (null)"}[spec]
