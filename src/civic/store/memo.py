"""Policy verdicts kept between commands, so a change is judged in proportion to its size.

``civic validate``, ``plan`` and ``apply`` each judge every object of the estate by every
policy. :func:`load` and :func:`save` keep the verdicts of the last run, keyed as
:func:`civic.policy.estate.check` keys them (a file's path and text digest, and a digest
of everything else a verdict depends on), so the next command judges only what changed.

The memo lives in the user's cache folder (``$XDG_CACHE_HOME/civic``, else
``~/.cache/civic``), one file per estate path, readable by its owner only, never in the
estate repository: a pull request must not be able to ship verdicts of its own. It is
JSON, and disposable: anything unreadable is treated as empty.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from typing import Any

from civic.policy.definitions import Mode
from civic.policy.verdicts import Status, Verdict

VERSION = 1
FIELDS = ("policy", "mode", "status", "kind", "name", "environment", "messages", "file", "line", "column", "note")


def path_for(root: str) -> str:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    digest = hashlib.sha256(os.path.abspath(root).encode()).hexdigest()[:20]
    return os.path.join(base, "civic", f"verdicts-{digest}.json")


class Memo(dict):
    """Verdicts by key; remembers which keys this run used, so :func:`save` keeps only those."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.used: set[str] = set()
        self.added = False

    def __contains__(self, key: object) -> bool:
        found = super().__contains__(key)
        if found:
            self.used.add(key)  # type: ignore[arg-type]
        return found

    def __setitem__(self, key: str, value: tuple[Verdict, ...]) -> None:
        self.used.add(key)
        self.added = True
        super().__setitem__(key, value)


def load(root: str) -> Memo:
    path = path_for(root)
    try:
        if os.stat(path).st_uid != os.getuid():
            return Memo()
        with open(path, encoding="utf-8") as f:
            doc = json.load(f)
        if doc.get("version") != VERSION:
            return Memo()
        return Memo({key: tuple(_verdict(row) for row in rows) for key, rows in doc["verdicts"].items()})
    except (OSError, ValueError, KeyError, TypeError):
        return Memo()


def save(root: str, memo: Memo) -> None:
    """Write the verdicts this run used (quietly: a memo that cannot be written is only slower)."""
    if not memo.added and len(memo.used) == len(memo):
        return  # every verdict came from the memo, and every one was used: nothing to write
    path = path_for(root)
    kept = {key: [_row(v) for v in memo[key]] for key in sorted(memo.used) if dict.__contains__(memo, key)}
    with contextlib.suppress(OSError):
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".verdicts-")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump({"version": VERSION, "verdicts": kept}, f, separators=(",", ":"))
        os.replace(tmp, path)


def _row(v: Verdict) -> list[Any]:
    return [v.policy, v.mode.value, v.status.value, v.kind, v.name, v.environment, list(v.messages),
            v.file, v.line, v.column, v.note]


def _verdict(row: list[Any]) -> Verdict:
    values = dict(zip(FIELDS, row, strict=True))
    values["mode"], values["status"] = Mode(values["mode"]), Status(values["status"])
    values["messages"] = tuple(values["messages"])
    return Verdict(**values)
