"""The ``civic`` command: registers the command groups and turns errors into exit codes.

No traceback reaches a user: a :class:`~civic.errors.CivicError` prints ``error:
<message>`` and exits with its code; anything unexpected prints a short internal-error
line (the traceback only with ``CIVIC_DEBUG=1``).
"""

from __future__ import annotations

import contextlib
import os
import sys
import traceback
from typing import Any, TextIO

import typer

from civic.cli import (
    alerts,
    common,
    deploy,
    estate,
    importer,
    kube,
    migrate,
    policy,
    scaffold,
    schema,
    secret,
    services,
    up,
)
from civic.errors import CivicError, SpecError

EXIT_CODES = """Exit codes: 0 success; 1 problems found, policy denied or apply failed;
2 usage error; 3 another apply holds the lock; 4 not found; 70 internal error."""

app = typer.Typer(
    name="civic",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    help=f"Civic: self-service hosting for a public body's services.\n\n{EXIT_CODES}",
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.command()(scaffold.init)
app.command()(estate.validate)
app.command()(estate.plan)
app.command()(estate.apply)
app.command()(estate.history)
app.command()(migrate.migrate)
app.command()(schema.schema)
app.add_typer(scaffold.env_app, name="env")
app.add_typer(scaffold.team_app, name="team")
app.add_typer(secret.app, name="secret")
app.add_typer(importer.app, name="import")
app.add_typer(policy.app, name="policy")
kube.register(app)
for command in (
    up.up,
    up.down,
    deploy.deploy,
    deploy.builds,
    deploy.rollback,
    services.services,
    services.status,
    deploy.scale,
    deploy.restart,
):
    app.command()(command)
app.add_typer(up.token_app, name="token")
for alert_command in (alerts.alerts, alerts.silence, alerts.silences):  # another name: other signatures
    app.command()(alert_command)


def report(e: CivicError) -> None:
    if isinstance(e, SpecError):
        common.err.print(f"[bold red]error:[/] {e.message.splitlines()[0]}")
        for problem in e.problems:
            common.err.print(f"  {problem}", markup=False)
    else:
        common.err.print("[bold red]error:[/] ", end="")
        common.err.print(e.message, markup=False)


class _Tolerant:
    """Standard output that, once its reader has gone (``civic plan | head``), drops what
    follows instead of raising: the command still does all its work (an import still writes
    its estate, an apply still applies) and exits with its own code."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self.gone = False

    def write(self, text: str) -> int:
        if not self.gone:
            try:
                return self._stream.write(text)
            except BrokenPipeError:
                self.gone = True
        return len(text)

    def flush(self) -> None:
        if not self.gone:
            try:
                self._stream.flush()
            except BrokenPipeError:
                self.gone = True

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def run(argv: list[str] | None = None) -> int:
    """The console script; returns (and exits with) the exit code."""
    stdout = sys.stdout
    tolerant = sys.stdout = _Tolerant(stdout)  # type: ignore[assignment]  # a TextIO stand-in that drops writes to a closed pipe
    try:
        return _run(argv)
    finally:
        sys.stdout = stdout
        if tolerant.gone:  # nothing more may reach the closed pipe, not even Python's last flush
            with contextlib.suppress(OSError):
                os.dup2(os.open(os.devnull, os.O_WRONLY), stdout.fileno())


def _run(argv: list[str] | None) -> int:
    try:
        code = app(args=argv, standalone_mode=False)
    except typer.Abort:
        common.err.print("aborted.")
        code = 130
    except typer.Exit as e:
        code = e.exit_code
    except CivicError as e:
        report(e)
        code = e.exit_code
    except KeyboardInterrupt:
        code = 130
    except Exception as e:  # noqa: BLE001 - the last line of defence against tracebacks
        if _is_usage_error(e):
            e.show()  # type: ignore[attr-defined]  # click's UsageError, told apart by _is_usage_error
            return _finish(e.exit_code, argv)  # type: ignore[attr-defined]  # likewise
        if os.environ.get("CIVIC_DEBUG"):
            traceback.print_exc()
        common.err.print("[bold red]internal error:[/] ", end="")
        common.err.print(
            f"{type(e).__name__}: {e}. This is a bug in Civic; run again with "
            "CIVIC_DEBUG=1 for the details and report it.",
            markup=False,
        )
        code = 70
    finally:
        common.save_memos()
    return _finish(code, argv)


def _is_usage_error(e: Exception) -> bool:
    """Click's usage errors (Typer vendors Click in newer releases: match by shape)."""
    return hasattr(e, "show") and isinstance(getattr(e, "exit_code", None), int)


def _finish(code: object, argv: list[str] | None) -> int:
    code = code if isinstance(code, int) else 0
    if argv is None:
        sys.exit(code)
    return code
