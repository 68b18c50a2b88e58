"""One replica: a supervised OS process on its own port, and how it is started.

The supervisor (:mod:`civic.backends.local.supervision`) holds :class:`Replica` values and
calls :func:`start` to make one. Where Civic runs as root, a replica runs as its
service's own user (:mod:`civic.backends.local.tenancy`), from its revision's release
(:mod:`civic.backends.local.releases`): the code it was built from and its virtualenv (or a
read-only copy of the working folder). Its environment is small and explicit: PATH (the
runtime's ``bin`` first, so ``python`` in a ``run.command`` is the runtime's, then a built
release's ``node_modules/.bin``; a command that names the Python that runs Civic gets the
runtime's too, which its user can execute), HOME and TMPDIR (its
private folders), LANG, the service's resolved variables, ``PORT``, and the marks by
which adoption knows it again: ``CIVIC_INSTANCE`` (its Civic) and ``CIVIC_REPLICA_ID``.
``$PORT`` in the command's arguments is replaced too.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import re
import secrets
import signal
import socket
import sys
import time

from civic.backends import base
from civic.backends.local import limits as limits_mod
from civic.backends.local import processes, releases, tenancy
from civic.errors import BackendError

_PORT_VAR = re.compile(r"\$\{PORT\}|\$PORT\b")


@dataclasses.dataclass(eq=False)
class Replica:
    id: str
    environment: str
    service: str
    revision: int
    generation: int
    port: int
    handle: processes.Handle
    started_at: float  # wall clock, for display
    log_dir: str
    slot: int | None = None
    phase: str = "starting"  # starting, ready, draining, stopping
    readiness_failures: int = 0
    liveness_failures: int = 0
    next_probe: float = 0.0  # monotonic
    probing: asyncio.Task | None = None
    reason: str = ""  # the last probe failure
    ready_at: float = 0.0  # monotonic; 0 until first ready
    adopted: bool = False
    cpu: tuple[float, float] = (0.0, 0.0)  # (monotonic, CPU seconds used) at the last sample
    limited: bool = False  # in a control group with the spec's cpu and memory limits
    isolated: bool = False  # runs as its service's own user

    @property
    def live(self) -> bool:
        return self.phase in ("starting", "ready")

    @property
    def stderr(self) -> str:
        return os.path.join(self.log_dir, f"{self.id}.err")

    def last_error_line(self) -> str:
        """The last non-empty line the replica wrote to stderr, for a crash's reason."""
        try:
            with open(self.stderr, "rb") as f:
                f.seek(max(0, os.path.getsize(self.stderr) - 4096))
                lines = [ln for ln in f.read().decode(errors="replace").splitlines() if ln.strip()]
        except OSError:
            return ""
        return lines[-1].strip()[:300] if lines else ""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def environ_for(
    revision: base.ServiceRevision,
    port: int,
    *,
    replica_id: str,
    instance: tenancy.Instance,
    tenant: tenancy.Tenant,
    release: releases.Release,
) -> dict[str, str]:
    path = os.pathsep.join([*release.path, os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin")])
    env = {
        "PATH": path,
        "HOME": tenant.home,
        "TMPDIR": tenant.tmp,
        "LANG": "C.UTF-8",
        "PYTHONUNBUFFERED": "1",
        "VIRTUAL_ENV": release.runtime,
    }
    if tenant.uid is not None:
        env["USER"] = env["LOGNAME"] = f"civic-{tenant.uid}"  # no passwd entry: getpass still answers
    env.update(revision.environ)
    env.update(
        {
            "PORT": str(port),
            "CIVIC_SERVICE": revision.name,
            "CIVIC_ENVIRONMENT": revision.environment,
            "CIVIC_REVISION": str(revision.revision),
            processes.INSTANCE_VAR: instance.id,
            processes.REPLICA_VAR: replica_id,
        }
    )
    return env


def command_for(revision: base.ServiceRevision, port: int, release: releases.Release) -> list[str]:
    """The run command, ``$PORT`` replaced, and Civic's own Python named as the runtime's."""
    assert revision.spec.run is not None  # start refuses a spec without one
    command = [_PORT_VAR.sub(str(port), arg) for arg in revision.spec.run.command]
    if command[0] in {sys.executable, os.path.realpath(sys.executable)}:
        command[0] = release.python
    return command


def start(
    revision: base.ServiceRevision,
    *,
    generation: int,
    run_dir: str,
    limiter: limits_mod.Limiter | None = None,
    instance: tenancy.Instance | None = None,
) -> Replica:
    """Start one replica of ``revision`` on a free port, as its service's user where this
    machine allows, inside its cpu and memory limits when ``limiter`` can enforce them;
    raises RuntimeFailure."""
    spec = revision.spec
    if spec.run is None:
        raise processes.RuntimeFailure(
            f"service '{revision.name}' has no run.command, and this runtime runs processes; "
            "add spec.run.command to civic.service.yaml."
        )
    instance = instance or tenancy.of(run_dir)
    try:
        release = releases.prepare(instance, revision)
        tenant = instance.tenant(revision.environment, revision.name)
    except BackendError as e:
        raise processes.RuntimeFailure(e.message) from e
    port = free_port()
    replica_id = f"{revision.name}-{revision.revision}-{secrets.token_hex(3)}"
    log_dir = os.path.join(run_dir, "logs", revision.environment, revision.name)
    user = None
    if tenant.uid is not None and tenant.gid is not None:
        user = processes.User(tenant.uid, tenant.gid, hide_processes=processes.can_hide_processes())
    handle = processes.spawn(
        command_for(revision, port, release),
        environ=environ_for(revision, port, replica_id=replica_id, instance=instance, tenant=tenant, release=release),
        cwd=release.cwd,
        stdout=os.path.join(log_dir, f"{replica_id}.out"),
        stderr=os.path.join(log_dir, f"{replica_id}.err"),
        user=user,
    )
    wanted = limits_mod.Limits.of(spec.resources.cpu, spec.resources.memory)
    limited = False
    if wanted and limiter is not None:
        try:
            limiter.apply(replica_id, handle.pid, wanted)
            limited = True
        except OSError as e:
            processes.signal_group(handle, signal.SIGKILL)
            raise processes.RuntimeFailure(
                f"cannot apply the cpu and memory limits of replica {replica_id}: {e.strerror or e}"
            ) from e
    return Replica(
        id=replica_id,
        environment=revision.environment,
        service=revision.name,
        revision=revision.revision,
        generation=generation,
        port=port,
        handle=handle,
        started_at=time.time(),
        log_dir=log_dir,
        limited=limited,
        isolated=user is not None,
    )
