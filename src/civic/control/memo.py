"""What one command learnt about an estate, kept for the next, so a change costs in
proportion to its size even in a new process.

``civic validate``, ``plan`` and ``apply`` each read every file of the estate and judge
every object by every policy. The memo keeps, between commands:

- ``documents``: each file's parsed YAML (values and positions) and its model's
  fingerprint, keyed by the file's path and text digest (:data:`civic.spec.estate.Known`),
  so YAML is parsed again only for the files whose text changed;
- ``verdicts``: the policy verdicts of each file, keyed as :func:`civic.policy.estate.check`
  keys them (path, text digest, and a digest of everything else a verdict depends on).

It lives in the user's cache folder (platformdirs: on Linux ``$XDG_CACHE_HOME/civic``,
else ``~/.cache/civic``), one file per estate path, readable by its owner only, never in
the estate repository: a pull request must not be able to ship a memo of its own. A file that another user owns
is ignored. The memo is stamped with a digest of Civic's own code, so an upgrade (or an
edit of Civic) starts afresh. It is disposable: anything unreadable is treated as empty,
and one that cannot be written only makes the next command slower. Called by the CLI
(:func:`civic.cli.common.load_estate`), which saves it as the command ends.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import pickle
import tempfile
from typing import Any

import platformdirs

VERSION = 2


def path_for(root: str) -> str:
    digest = hashlib.sha256(os.path.abspath(root).encode()).hexdigest()[:20]
    return os.path.join(platformdirs.user_cache_dir("civic", appauthor=False), f"memo-{digest}.pickle")


@functools.cache
def code_stamp() -> str:
    """A digest of every Python file of the installed Civic (path, size, modification time)."""
    package = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    h = hashlib.sha256(str(VERSION).encode())
    for folder, dirs, names in os.walk(package):
        dirs.sort()
        for name in sorted(n for n in names if n.endswith(".py")):
            st = os.stat(os.path.join(folder, name))
            h.update(f"{os.path.relpath(os.path.join(folder, name), package)}:{st.st_size}:{st.st_mtime_ns}\n".encode())
    return h.hexdigest()


class Kept(dict[Any, Any]):
    """One part of the memo: remembers which keys this run used, so :meth:`Memo.save` keeps
    only those (files that changed or went away are forgotten)."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.used: set[Any] = set()
        self.added = False

    def get(self, key: Any, default: Any = None) -> Any:
        found = super().get(key, default)
        if found is not default:
            self.used.add(key)
        return found

    def __contains__(self, key: object) -> bool:
        found = super().__contains__(key)
        if found:
            self.used.add(key)
        return found

    def __setitem__(self, key: Any, value: Any) -> None:
        self.used.add(key)
        self.added = True
        super().__setitem__(key, value)

    @property
    def dirty(self) -> bool:
        return self.added or len(self.used) != len(self)

    def kept(self) -> dict[Any, Any]:
        return {key: dict.__getitem__(self, key) for key in self.used if dict.__contains__(self, key)}


class Verdicts(Kept):
    """The verdicts part, held as plain rows (ten times quicker to unpickle than the
    dataclasses) and made into :class:`~civic.policy.verdicts.Verdict` values when read."""

    def __getitem__(self, key: Any) -> tuple[Any, ...]:
        from civic.policy.verdicts import Verdict

        return tuple(Verdict(*row) for row in super().__getitem__(key))

    def __setitem__(self, key: Any, value: Any) -> None:
        super().__setitem__(key, tuple(tuple(v.__dict__.values()) for v in value))  # shallow: fields in order


class Memo:
    """The documents and verdicts of one estate (see the module's docstring)."""

    def __init__(
        self, root: str, documents: dict[Any, Any] | None = None, verdicts: dict[Any, Any] | None = None
    ) -> None:
        self.root = root
        self.documents = Kept(documents or {})
        self.verdicts = Verdicts(verdicts or {})

    def __repr__(self) -> str:
        return f"Memo(root={self.root!r}, documents={len(self.documents)}, verdicts={len(self.verdicts)})"

    def save(self) -> None:
        """Write what this run used, if anything changed (quietly: see the module's docstring)."""
        if not (self.documents.dirty or self.verdicts.dirty):
            return
        doc = {
            "version": VERSION,
            "stamp": code_stamp(),
            "documents": self.documents.kept(),
            "verdicts": self.verdicts.kept(),
        }
        path = path_for(self.root)
        with contextlib.suppress(OSError, pickle.PicklingError):
            os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".memo-")
            try:
                with os.fdopen(fd, "wb") as f:
                    pickle.dump(doc, f, protocol=pickle.HIGHEST_PROTOCOL)
                os.replace(tmp, path)
            finally:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)


def load(root: str) -> Memo:
    """The memo of the estate at ``root``; empty if there is none, or it is not usable."""
    path = path_for(root)
    try:
        if os.stat(path).st_uid != os.getuid():
            return Memo(root)
        with open(path, "rb") as f:
            doc = pickle.load(f)
        if doc.get("version") != VERSION or doc.get("stamp") != code_stamp():
            return Memo(root)
        return Memo(root, doc["documents"], doc["verdicts"])
    except (OSError, EOFError, pickle.UnpicklingError, AttributeError, ImportError, ValueError, KeyError, TypeError):
        return Memo(root)
