"""What every command group shares: options, where the estate and store are, output.

Commands stay thin: parse options, call a core function or the store, print.
"""

from __future__ import annotations

import contextlib
import enum
import json
import os
import sys
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from civic.spec import estate as estate_mod

if TYPE_CHECKING:
    from civic.control.memo import Memo
    from civic.store.crypto import SecretBox
    from civic.store.state import StateStore


out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


class Output(str, enum.Enum):
    human = "human"
    json = "json"


class PlanOutput(str, enum.Enum):
    human = "human"
    json = "json"
    markdown = "markdown"


EstateOption = typer.Option(
    None,
    "--estate",
    "-e",
    envvar="CIVIC_ESTATE",
    show_default=False,
    help="The estate repository [default: the current directory].",
)
StateOption = typer.Option(
    None,
    "--state",
    envvar="CIVIC_STATE",
    show_default=False,
    help="The state store: a SQLite path or a postgresql:// URL [default: ESTATE/.civic/state.db].",
)
OutputOption = typer.Option(Output.human, "--output", "-o", help="human or json.")


def estate_root(estate: str | None) -> str:
    return os.path.abspath(estate or ".")


def civic_dir(root: str) -> str:
    return os.path.join(root, ".civic")


def open_store(root: str, state: str | None) -> StateStore:
    from civic.store.state import StateStore  # SQLAlchemy costs 0.25 s to import: only when needed

    return StateStore(state or os.path.join(civic_dir(root), "state.db"))


def secret_box(root: str) -> SecretBox:
    from civic.store.crypto import SecretBox

    return SecretBox.load(os.path.join(civic_dir(root), "secret.key"))


_memos: dict[str, Memo] = {}


def memo_for(root: str) -> Memo:
    """What earlier commands learnt about the estate at ``root`` (civic.control.memo); saved
    by :func:`save_memos` when the command ends."""
    if root not in _memos:
        from civic.control import memo

        _memos[root] = memo.load(root)
    return _memos[root]


def save_memos() -> None:
    for kept in _memos.values():
        kept.save()
    _memos.clear()


def load_estate(root: str) -> estate_mod.Estate:
    """The estate at ``root``, parsing YAML only for the files changed since the last command."""
    return estate_mod.load(root, known=memo_for(root).documents)


@contextlib.contextmanager
def progress(what: str) -> Iterator[Callable[[int, int], None]]:
    """A progress bar on the terminal (none when output is redirected); yields a callback."""
    if not err.is_terminal:
        yield lambda done, total: None
        return
    with Progress(
        TextColumn(what), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=err, transient=True
    ) as bar:
        task = bar.add_task(what, total=None)
        yield lambda done, total: bar.update(task, completed=done, total=total)


def print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, indent=2, default=str) + "\n")
