"""Fixtures shared by every test: a copy of the example estate and a CLI runner."""

from __future__ import annotations

import dataclasses
import os
import shutil
import uuid
from collections.abc import Iterator

import pytest

from civic.cli import main

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLE_ESTATE = os.path.join(ROOT, "examples", "estate")
SHARED = os.path.join(os.path.dirname(ROOT), "shared")


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
