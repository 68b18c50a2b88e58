"""Reading a file of a service's folder, bounded, and only if it is a regular file.

:mod:`civic.releases.packing` and :mod:`civic.releases.detection` read what a person
left in a folder: a FIFO named ``app.py`` must not hang them, a 2 GiB ``package.json``
must not fill memory, and a file they may not read must give an error that names it.
"""

from __future__ import annotations

import os
import stat

from civic.errors import UsageError

MAX_READ = 1024 * 1024
"""The most bytes read of any one file to detect or check something (not to pack it)."""


def real_folder(folder: str) -> str:
    """The real path of ``folder``; a UsageError naming it if it does not exist or is no folder."""
    root = os.path.realpath(folder)
    if not os.path.exists(root):
        raise UsageError(f"'{folder}' does not exist; give the folder that holds the service's code.")
    if not os.path.isdir(root):
        raise UsageError(f"'{folder}' is not a folder; give the folder that holds the service's code.")
    return root


def open_regular(path: str, *, shown: str, follow: bool = True, advice: str = "") -> int:
    """A descriptor for reading the regular file at ``path`` (``shown`` in messages).

    O_NONBLOCK so that opening a FIFO returns at once (fstat then refuses it); with
    ``follow=False`` a symlink put in the file's place since it was listed is refused too.
    """
    flags = os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | (0 if follow else os.O_NOFOLLOW)
    try:
        fd = os.open(path, flags)
    except OSError as e:
        raise UsageError(f"cannot read '{shown}': {e.strerror or e}.{advice}") from e
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise UsageError(f"'{shown}' is not a regular file; it cannot be read.{advice}")
    return fd


def read_head(path: str, *, shown: str, most: int = MAX_READ, whole: bool = False, follow: bool = True) -> bytes:
    """At most ``most`` bytes from the start of the file; with ``whole``, a UsageError if it holds more."""
    fd = open_regular(path, shown=shown, follow=follow)
    try:
        with os.fdopen(fd, "rb") as f:
            data = f.read(most + 1)
    except OSError as e:
        raise UsageError(f"cannot read '{shown}': {e.strerror or e}.") from e
    if len(data) > most:
        if whole:
            raise UsageError(f"'{shown}' is larger than {most // 1024:,} KiB; Civic reads no more of it.")
        data = data[:most]
    return data
