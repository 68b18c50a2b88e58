"""Every error Civic raises on purpose, in one tree.

Callers catch these and nothing else: backends and stores chain the library's own
exception (``raise StoreError(...) from e``) so no third-party type escapes.

    CivicError                      exit code 1 unless said otherwise
    ├── SpecError                   one or more problems in estate or service files
    ├── PlanError                   a plan that must not be applied (e.g. deleting production)
    ├── PolicyDenied                a change or a deploy denied by policy
    ├── StoreError                  the state store could not be read or written
    │   └── LockTimeout             another apply holds the lock (exit code 3)
    ├── SecretError                 a secret could not be stored, read or decrypted
    ├── BackendError                a backend (a cluster, the local runtime) failed or refused
    ├── NotFound                    a named object does not exist (exit code 4)
    ├── Unauthorized                no valid token came with the request (HTTP 401)
    ├── Forbidden                   the token may not act there (HTTP 403)
    └── UsageError                  the command's words are wrong (exit code 2)

The CLI prints ``error: <message>`` and exits with ``exit_code``; the API maps the same
classes to HTTP statuses.
"""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True, order=True)
class Problem:
    """One thing wrong in a file: where it is, which field, and what to do.

    Ordered by file, line, column and message so a list of them sorts stably.
    """

    file: str
    line: int
    column: int
    path: str
    message: str

    def __str__(self) -> str:
        where = self.file
        if self.line:
            where += f":{self.line}:{self.column}"
        field = f" {self.path}:" if self.path else ""
        return f"{where}:{field} {self.message}"

    def as_dict(self) -> dict[str, object]:
        return dataclasses.asdict(self)


class CivicError(Exception):
    """The root of the tree; carries the message the user reads."""

    exit_code = 1

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __repr__(self) -> str:
        return f"{type(self).__name__}(message={self.message!r})"


class SpecError(CivicError):
    """Problems found while loading or validating files; all of them, sorted."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = sorted(problems)
        count = len(self.problems)
        head = f"{count} problem{'s' if count != 1 else ''} found"
        super().__init__(head + ":\n" + "\n".join(f"  {p}" for p in self.problems))

    def __repr__(self) -> str:
        return f"SpecError(problems={self.problems!r})"


class PlanError(CivicError):
    """The plan is valid but must not be applied as it stands."""


class PolicyDenied(CivicError):
    """A policy in deny mode rejected the change."""


class StoreError(CivicError):
    """The state store failed; the message names the store and what to check."""


class LockTimeout(StoreError):
    """Another apply holds the estate's lock."""

    exit_code = 3


class SecretError(CivicError):
    """A secret could not be stored or read."""


class BackendError(CivicError):
    """A backend could not do what was asked; the message says what and what to check."""


class NotFound(CivicError):
    """The named object does not exist."""

    exit_code = 4


class Unauthorized(CivicError):
    """The request carried no token the control plane knows."""


class Forbidden(CivicError):
    """The token is known but may not act on this object (a team token, another team's)."""


class UsageError(CivicError):
    """The command was called wrongly."""

    exit_code = 2
