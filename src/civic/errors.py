"""Every error Civic raises on purpose, in one tree.

Callers catch these and nothing else: backends and stores chain the library's own
exception (``raise StoreError(...) from e``) so no third-party type escapes.

    CivicError                      exit code 1 unless said otherwise
    ├── TemporaryError              try again later (after ``delay`` s, when given)
    │   ├── StoreError              the state store could not be read or written (busy, unreachable)
    │   │   └── LockTimeout         another apply holds the lock (exit code 3)
    │   ├── Timeout                 deadlines.py: a condition did not come true in time
    │   └── BackendUnavailable      a backend did not answer (also a BackendError, below)
    ├── PermanentError              asking again fails the same way: stop retrying, report
    │   ├── SpecError               one or more problems in estate or service files
    │   ├── PlanError               a plan that must not be applied (e.g. deleting production)
    │   ├── PolicyDenied            a change or a deploy denied by policy
    │   ├── SecretError             a secret could not be stored, read or decrypted
    │   ├── BuildFailed             a release's build failed (its file and line); nothing recorded
    │   ├── NotFound                a named object does not exist (exit code 4)
    │   ├── Unauthorized            no valid token came with the request (HTTP 401)
    │   ├── Forbidden               the token may not act there (HTTP 403)
    │   ├── UsageError              the command's words are wrong (exit code 2)
    │   └── BackendConflict         what a backend holds conflicts (also a BackendError, below)
    └── BackendError                a backend, or a server Civic runs, failed or refused
        ├── BackendUnavailable      temporary (above)
        ├── BackendConflict         permanent (above)
        │   └── Conflict            backends/kubernetes/client.py: fields another manager owns
        ├── RuntimeFailure          backends/local/processes.py: a process or HAProxy failed
        ├── HAProxyMissing          backends/local/haproxy.py: not installed (also permanent)
        ├── AlertmanagerError       observability/alertmanager.py: no answer, or a refusal
        ├── MonitoringError         observability/stack.py: a monitoring server failed
        └── RelayError              observability/relay.py: a team's webhook refused a relayed alert

The two retry kinds follow kopf's: a reconciler retries a TemporaryError after its delay,
reports a PermanentError and waits for the desired state to change, and retries anything
else with exponential back-off (:mod:`civic.reconcile.loops`). The CLI prints
``error: <message>`` and exits with ``exit_code``; the API maps the same classes to HTTP
statuses (:mod:`civic.api.problems`).
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
        fields = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if not k.startswith("_"))
        return f"{type(self).__name__}({fields})"


class TemporaryError(CivicError):
    """Try again later: after ``delay`` seconds, or (None) at the caller's own pace."""

    def __init__(self, message: str, *, delay: float | None = None) -> None:
        super().__init__(message)
        self.delay = delay


class PermanentError(CivicError):
    """What was asked, or what is stored, is wrong: retrying it unchanged cannot help."""


class SpecError(PermanentError):
    """Problems found while loading or validating files; all of them, sorted."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = sorted(problems)
        count = len(self.problems)
        head = f"{count} problem{'s' if count != 1 else ''} found"
        super().__init__(head + ":\n" + "\n".join(f"  {p}" for p in self.problems))

    def __repr__(self) -> str:
        return f"SpecError(problems={self.problems!r})"


class PlanError(PermanentError):
    """The plan is valid but must not be applied as it stands."""


class PolicyDenied(PermanentError):
    """A policy in deny mode rejected the change."""


class StoreError(TemporaryError):
    """The state store failed; the message names the store and what to check."""


class LockTimeout(StoreError):
    """Another apply holds the estate's lock."""

    exit_code = 3


class SecretError(PermanentError):
    """A secret could not be stored or read."""


class BackendError(CivicError):
    """A backend could not do what was asked; the message says what and what to check.

    Neither temporary nor permanent unless a subclass says so: a reconciler retries it
    with back-off.
    """


class BackendUnavailable(BackendError, TemporaryError):
    """The backend did not answer (unreachable, timed out, busy): try again later."""


class BackendConflict(BackendError, PermanentError):
    """The backend holds something that conflicts with the request (HTTP 409)."""


class BuildFailed(PermanentError):
    """A release's build failed: its dependencies or build command. The running revision stays;
    the message names the file and line that failed, and ``civic builds ENV/SERVICE --logs`` shows all."""


class NotFound(PermanentError):
    """The named object does not exist."""

    exit_code = 4


class Unauthorized(PermanentError):
    """The request carried no token the control plane knows."""


class Forbidden(PermanentError):
    """The token is known but may not act on this object (a team token, another team's)."""


class UsageError(PermanentError):
    """The command was called wrongly."""

    exit_code = 2
