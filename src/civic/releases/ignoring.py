"""Which paths of a service's folder stay behind when it is packed: git's rules and Civic's.

Three sets of rules, in git's gitignore syntax and read with pathspec's ``GitIgnoreSpec``
(git's own wildmatch semantics, ``!`` negation included), decide for each path:

1. :data:`ALWAYS`: version control, Civic's own state, caches and folders the build makes
   again (``node_modules``, ``.venv``); nothing re-includes these.
2. ``.civicignore`` at the folder's root: applied after ``.gitignore``, so it can leave out
   what git keeps, or bring back with ``!`` what git leaves out (a built ``dist/``).
3. ``.gitignore`` files, the root's and nested ones: as in git, a deeper file's patterns
   override a shallower one's, and a pattern is relative to the folder its file is in.

As in git, a left-out folder is not entered, so nothing under it can be brought back
without bringing the folder back too (``!dist/``). ``.git/info/exclude`` and a user's
global excludes are not read: they belong to one person's checkout, not to the service.
:class:`Rules` is immutable; :meth:`Rules.within` gives the rules for a sub-folder.
"""

from __future__ import annotations

import dataclasses
import os
import re
import stat

import pathspec

from civic.errors import UsageError
from civic.releases import files

ALWAYS = (".git", ".civic", "__pycache__", ".venv", "node_modules", "*.pyc")
"""Left out whatever the ignore files say: as files, folders or links (a ``.venv`` link too)."""

GITIGNORE = ".gitignore"
CIVICIGNORE = ".civicignore"


def compile_lines(lines: list[str]) -> pathspec.GitIgnoreSpec:
    """The spec of ``lines``, each pattern git would use; git skips a pattern it cannot read
    (``!`` alone, ``[z-a]``), and so does this, rather than refuse the whole file."""
    valid = []
    for line in lines:
        try:
            pathspec.GitIgnoreSpec.from_lines([line])
        except (ValueError, re.error):
            continue
        valid.append(line)
    return pathspec.GitIgnoreSpec.from_lines(valid)


_ALWAYS_SPEC = compile_lines(list(ALWAYS))


@dataclasses.dataclass(frozen=True)
class Rules:
    """The rules in force in one folder of the tree being packed."""

    civic: pathspec.GitIgnoreSpec | None = None
    levels: tuple[tuple[str, pathspec.GitIgnoreSpec], ...] = ()
    """(folder prefix such as ``'a/b/'``, that folder's .gitignore), deepest last."""

    @classmethod
    def at_root(cls, root: str) -> Rules:
        """The rules of the folder ``root``: its .civicignore and .gitignore."""
        top = cls(civic=_read_spec(os.path.join(root, CIVICIGNORE), shown=CIVICIGNORE))
        return top.within("", root)

    def within(self, prefix: str, folder: str) -> Rules:
        """The rules inside ``folder`` (``prefix`` is its relative path with a trailing ``/``,
        or ``''`` for the root): these plus the folder's own .gitignore, if it has one."""
        spec = _read_spec(os.path.join(folder, GITIGNORE), shown=prefix + GITIGNORE)
        if spec is None:
            return self
        return dataclasses.replace(self, levels=(*self.levels, (prefix, spec)))

    def ignored(self, rel: str, *, is_dir: bool) -> bool:
        """Whether the path ``rel`` (relative to the root, ``/``-separated) stays behind."""
        suffix = "/" if is_dir else ""
        if _ALWAYS_SPEC.match_file(rel + suffix):
            return True
        if self.civic is not None:
            verdict = self.civic.check_file(rel + suffix).include
            if verdict is not None:
                return verdict
        for prefix, spec in reversed(self.levels):
            verdict = spec.check_file(rel[len(prefix) :] + suffix).include
            if verdict is not None:
                return verdict
        return False


def _read_spec(path: str, *, shown: str) -> pathspec.GitIgnoreSpec | None:
    """The patterns of the ignore file at ``path``, or None if there is no regular file there
    (git, too, reads no ignore file through a symlink). Read up to 1 MiB."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return None
    except OSError as e:
        raise UsageError(f"cannot read '{shown}': {e.strerror or e}.") from e
    if not stat.S_ISREG(mode):
        return None
    text = files.read_head(path, shown=shown, follow=False).decode("utf-8", errors="replace")
    return compile_lines(text.splitlines())
