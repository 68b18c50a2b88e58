"""The first moments of an isolated replica: from root to its service's user, then its command.

:func:`civic.backends.local.processes.spawn` runs this file with the Python that runs Civic
(``python -I -S launcher.py FD``), as root, in a fresh single-threaded process, with an
environment of its own making: the service's variables are set by a team, and a root
process must never see ``LD_PRELOAD`` and the like. It reads what to do as JSON from the
pipe ``FD`` (the user and group, the command and its environment), then:

1. where asked, gives the process a mount namespace of its own with a private ``/proc``
   mounted ``hidepid=invisible``: the replica sees no process but its service's own;
2. drops every supplementary group, then sets the group and the user;
3. sets ``no_new_privs``, so no setuid program gives the privileges back
   (Kubernetes' ``allowPrivilegeEscalation: false``);
4. executes the command with the service's environment, under the same pid, which Civic
   has recorded with its start time.

It imports nothing from Civic, so it starts in a few milliseconds, and everything it
needs before it executes the command: as the service's user it may not be able to
read the Python it runs on. A failure is written
to stderr (the replica's log) and ends the process with code 126 (setting up) or 127
(the command could not be executed).
"""

from __future__ import annotations

import ctypes
import json
import os
import sys
import warnings  # noqa: F401 - os.execvpe imports it, and once this process is the replica's user it may not read Civic's Python

CLONE_NEWNS = 0x00020000
MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REC, MS_PRIVATE = 0x2, 0x4, 0x8, 0x4000, 0x40000
PR_SET_NO_NEW_PRIVS = 38


def hide_processes() -> None:
    """A mount namespace of this process's own, in which /proc shows only its user's processes."""
    libc = ctypes.CDLL(None, use_errno=True)
    steps = [
        ("unshare", lambda: libc.unshare(CLONE_NEWNS)),
        ("making / private", lambda: libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None)),
        (
            "mounting /proc",
            lambda: libc.mount(b"proc", b"/proc", b"proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, b"hidepid=invisible"),
        ),
    ]
    for what, step in steps:
        if step() != 0:
            raise OSError(ctypes.get_errno(), f"{what}: {os.strerror(ctypes.get_errno())}")


def become(uid: int, gid: int) -> None:
    os.setgroups([])
    os.setresgid(gid, gid, gid)
    os.setresuid(uid, uid, uid)
    if sys.platform == "linux":
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS)")
    if os.getuid() != uid or os.geteuid() != uid or os.getgroups():
        raise OSError(f"still uid {os.geteuid()} with groups {os.getgroups()} after setting uid {uid}")


def read(fd: int) -> dict:
    chunks = []
    while chunk := os.read(fd, 65536):
        chunks.append(chunk)
    os.close(fd)
    return json.loads(b"".join(chunks))


def main(argv: list[str]) -> int:
    try:
        order = read(int(argv[1]))
        if order.get("probe"):
            hide_processes()
            return 0
        if order["hide_processes"]:
            hide_processes()
        become(order["uid"], order["gid"])
    except Exception as e:  # noqa: BLE001 - reported to the replica's log, never a traceback
        print(f"civic: cannot start the replica as its own user: {e}", file=sys.stderr)
        return 126
    command = order["command"]
    try:
        os.execvpe(command[0], command, order["environ"])
    except OSError as e:
        print(f"civic: cannot start {command[0]!r}: {e.strerror or e}", file=sys.stderr)
    return 127


if __name__ == "__main__":
    sys.exit(main(sys.argv))
