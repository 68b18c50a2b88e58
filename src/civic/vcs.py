"""What git says about the estate repository: its revision and what a change touched.

Used by the CLI and the API to stamp applies with the revision they came from and to
scope a plan to a pull request (``--changed-since REF``). Runs the ``git`` command.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable

from civic.errors import UsageError
from civic.plan.actions import Key
from civic.spec import estate, yamlpos


def _git(root: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", "-C", root, *args], capture_output=True, text=True, check=False)


def revision(root: str) -> str | None:
    """HEAD's commit, with '-dirty' if the estate's files differ from it; None outside git."""
    commit = head(root)
    if commit is None:
        return None
    dirty = _git(root, "status", "--porcelain", "--", ".").stdout.strip()
    return commit + ("-dirty" if dirty else "")


def head(root: str) -> str | None:
    """HEAD's commit (whatever the working tree holds); None outside git."""
    try:
        found = _git(root, "rev-parse", "HEAD")
    except FileNotFoundError:
        return None
    return found.stdout.strip() if found.returncode == 0 else None


def files_at(root: str, commit: str, *, pick: Callable[[list[str]], list[str]]) -> dict[str, bytes | None]:
    """The files ``pick`` chooses among those under ``root`` in ``commit`` (paths relative
    to ``root``), read in one ``git cat-file --batch``; None for a path the commit lacks.

    Only regular files are read, as :func:`civic.spec.estate.read` reads only regular files
    on disk: a symbolic link, and a file larger than ``yamlpos.MAX_CHARS``, is given as the
    text :data:`civic.spec.estate.REFUSED` and the reason, which the estate's parse reports
    at its path (a link's target is never followed, nor shown)."""
    listing = subprocess.run(
        ["git", "-C", root, "ls-tree", "-r", "-z", "-l", commit, "--", "."], capture_output=True, check=False
    )
    if listing.returncode != 0:
        raise UsageError(
            f"git cannot list commit {commit[:12]} of {root}: {listing.stderr.decode(errors='replace').strip()}"
        )
    blobs: dict[str, tuple[bytes, str, int]] = {}
    for item in listing.stdout.split(b"\0"):
        if item:
            meta, _, name = item.partition(b"\t")
            mode, kind, blob, listed_size = meta.split()
            if kind == b"blob":
                blobs[name.decode()] = (mode, blob.decode(), int(listed_size))
    wanted = pick(list(blobs))
    out: dict[str, bytes | None] = dict.fromkeys(wanted)
    entries = []
    for path in wanted:
        if path not in blobs:
            continue
        git_mode, object_id, length = blobs[path]
        if git_mode == _SYMLINK:
            out[path] = _refused(
                "is a symbolic link in the commit; Civic reads only regular files: commit the file itself."
            )
        elif length > yamlpos.MAX_CHARS:
            out[path] = _refused(
                f"the file is {length:,} bytes, more than the {yamlpos.MAX_CHARS:,} Civic reads; split it."
            )
        else:
            entries.append((path, object_id))
    batch = subprocess.run(
        ["git", "-C", root, "cat-file", "--batch"],
        capture_output=True,
        check=False,
        input=b"".join(blob.encode() + b"\n" for _, blob in entries),
    )
    data, at = batch.stdout, 0
    for path, _ in entries:
        header_end = data.index(b"\n", at)
        size = int(data[at:header_end].split()[2])
        out[path] = data[header_end + 1 : header_end + 1 + size]
        at = header_end + 1 + size + 1
    return out


_SYMLINK = b"120000"  # git's mode for a symbolic link


def _refused(reason: str) -> bytes:
    return (estate.REFUSED + reason).encode()


def changed_keys(root: str, ref: str) -> set[Key]:
    """The objects whose files differ between ``ref`` and the working tree."""
    try:
        result = _git(root, "diff", "--name-only", "--relative", ref, "--", ".")
    except FileNotFoundError as e:
        raise UsageError("--changed-since needs git, which is not installed.") from e
    if result.returncode != 0:
        reason = result.stderr.strip().splitlines()[0] if result.stderr.strip() else "unknown"
        raise UsageError(
            f"--changed-since '{ref}': git cannot compare with it ({reason}); give "
            "a commit, branch or tag of the estate repository."
        )
    untracked = _git(root, "ls-files", "--others", "--exclude-standard", "--", ".").stdout
    return {k for k in map(key_for_path, result.stdout.split() + untracked.split()) if k}


def key_for_path(rel: str) -> Key | None:
    parts = rel.split("/")
    if rel == "civic.yaml":
        return ("Platform", "platform")
    if len(parts) == 2 and parts[0] == "teams" and parts[1].endswith(".yaml"):
        return ("Team", parts[1].removesuffix(".yaml"))
    if len(parts) >= 3 and parts[0] == "environments":
        return ("Environment", parts[1])
    return None
