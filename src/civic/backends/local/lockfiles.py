"""What uploaded code asks of its build: its lock files, their digest, and a failure traced to its line.

:mod:`civic.backends.local.builds` reads the lock files at the root of the unpacked code
(:func:`read`) before any step runs, as root, while no one else has reached the folder:
only regular files count, so a link named ``requirements.txt`` never makes root read
another file. :class:`Inputs` says which install applies and gives the *lock digest* the
build cache is keyed by. When uv cannot install a ``requirements.txt``, :func:`locate`
finds the requirement its error names and says its line; :func:`why` picks the few lines
of any other step's output that say why it failed.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import re
import stat
from collections.abc import Sequence

from civic.errors import BuildFailed

PYTHON = ("uv.lock", "requirements.txt", "pyproject.toml")
"""The Python installs, in the order the first that applies is chosen."""
NPM = ("package-lock.json", "npm-shrinkwrap.json")
READ = {*PYTHON, *NPM, "package.json"}
_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")
_DECORATION = re.compile(r"^(error:|cause:|Caused by:|[×╰├│─▶\s])+")


@dataclasses.dataclass(frozen=True)
class Inputs:
    """The lock files at the code's root, and which installs they call for."""

    files: dict[str, bytes]  # by name
    python: str | None  # one of PYTHON, or None
    npm: str | None  # one of NPM when there is a package.json, else None

    @property
    def kind(self) -> str:
        return self.python or self.npm or "none"

    def digest(self, python_version: str) -> str | None:
        """The lock digest: of the Python version, the kind, and the lock files' bytes (None: no lock file)."""
        if self.python is None and self.npm is None:
            return None
        found = hashlib.sha256(f"{python_version}\0{self.kind}\0".encode())
        for name in (self.python, self.npm):
            if name is not None:
                found.update(f"{name}\0{hashlib.sha256(self.files[name]).hexdigest()}\0".encode())
        return "sha256:" + found.hexdigest()


def read(app: str) -> Inputs:
    """The lock files at the root of ``app`` and what they call for; raises BuildFailed for code
    a build cannot use."""
    files = {}
    for name in sorted(READ):
        try:
            found = os.lstat(os.path.join(app, name))
        except FileNotFoundError:
            continue
        if not stat.S_ISREG(found.st_mode):
            raise BuildFailed(f"{name} is not a regular file (a link or a folder); upload the file itself")
        with open(os.path.join(app, name), "rb") as f:
            files[name] = f.read()
    python = next((name for name in PYTHON if name in files), None)
    if python == "uv.lock" and "pyproject.toml" not in files:
        raise BuildFailed("uv.lock: its pyproject.toml is missing; upload both, or neither")
    if python == "requirements.txt":
        _refuse_editable(files["requirements.txt"])
    npm = next((name for name in NPM if name in files), None)
    if "package.json" in files and npm is None:
        raise BuildFailed(
            "package.json has no package-lock.json: builds install exactly what a lock file says "
            "(npm ci); run 'npm install' and commit package-lock.json"
        )
    return Inputs(files, python, npm if "package.json" in files else None)


def requirement_lines(text: bytes) -> list[tuple[int, str]]:
    """(line number, text) of each line of a requirements file that is not blank or a comment."""
    found = []
    for number, line in enumerate(text.decode(errors="replace").splitlines(), 1):
        spec = line.split(" #", 1)[0].strip()
        if spec and not spec.startswith("#"):
            found.append((number, spec))
    return found


def _refuse_editable(text: bytes) -> None:
    for number, spec in requirement_lines(text):
        if spec.split()[0] in ("-e", "--editable") or spec.startswith("--editable="):
            raise BuildFailed(
                f"requirements.txt:{number}: '{spec[:80]}' is editable, and a release is built in one folder "
                "and run from another; name the project without -e (e.g. '.')"
            )


def locate(requirements: bytes, output: Sequence[str]) -> str | None:
    """``requirements.txt:N: <requirement>: <uv's reason>`` for the requirement uv's error names
    first (names compared as PyPI compares them); None when it names none."""
    lines = [ln.strip() for ln in output if ln.strip() and not ln.strip().startswith(("hint:", "help:"))]
    start = next((i for i, ln in enumerate(lines) if ln.startswith("error:")), None)
    if start is None:
        return None
    error = lines[start:]
    best: tuple[int, int, str] | None = None  # (the error's line that names it, its line, the requirement)
    for number, spec in requirement_lines(requirements):
        name = _NAME.match(spec)
        if name is None or spec.startswith("-"):
            continue
        words = re.split(r"[-_.]+", name.group(1))
        pattern = re.compile(r"(?<![\w.-])" + "[-_.]+".join(map(re.escape, words)) + r"(?![\w-]|\.\w)", re.IGNORECASE)
        index = next((i for i, line in enumerate(error) if pattern.search(line)), None)
        if index is not None and (best is None or index < best[0]):
            best = (index, number, spec)
    if best is None:
        return None
    return f"requirements.txt:{best[1]}: {best[2]}: {_reason(error, best[0])}"


def _reason(error: list[str], index: int) -> str:
    """uv's reason on one line: the line that names the requirement, without uv's decorations."""
    line = _DECORATION.sub("", error[index]).strip()
    because = re.match(r"^Because (.+?) and you require ", line)
    if because:
        line = because.group(1)
    if index == 0 and len(error) > 1:  # "error: Failed to build `x`": the cause is on the last line
        line += ": " + _DECORATION.sub("", error[-1]).strip()
    return line.rstrip(".")[:300]


def why(output: Sequence[str]) -> str:
    """The few lines that say why a step failed: from its first error line, else its last lines."""
    lines = [ln.strip() for ln in output if ln.strip() and not ln.strip().startswith(("hint:", "help:"))]
    start = next(
        (i for i, ln in enumerate(lines) if ln.lower().startswith(("error", "npm error", "npm err!", "×"))), None
    )
    picked = lines[start : start + 4] if start is not None else lines[-3:]
    return (" / ".join(picked)[:600] or "it printed nothing").rstrip(".")
