"""The replicas a previous control plane left running, found again: from their records, and by their marks.

A control plane that stops or dies leaves its replicas and HAProxy serving (static
stability). Each replica was recorded when it started, with its pid and its process's
start time (:class:`~civic.store.deployments.ReplicaRecord`), so a recycled pid is never
mistaken for it. :meth:`Supervisor.adopt <civic.backends.local.supervision.Supervisor.adopt>`
calls :func:`running` for the replicas still alive, then
:meth:`Router.adopt <civic.backends.local.slots.Router.adopt>` for HAProxy and their slots.

A replica is recorded just after it is spawned, so a control plane killed in between
leaves one that no record names: unrouted, and out of reach of ``civic down``. Every
replica carries its Civic's identity and its own id in its environment
(:func:`civic.backends.local.processes.marked`), so before that :func:`stop_orphans`
finds each process of this Civic that no live record accounts for, and stops it.
"""

from __future__ import annotations

import logging
import os

import psutil

from civic.backends import base
from civic.backends.local import identities, limits, processes, tenancy
from civic.backends.local.replicas import Replica
from civic.store.deployments import ReplicaRecord

log = logging.getLogger("civic.backends.local")

ORPHAN_GRACE = 5.0
"""Seconds an orphan has to exit after SIGTERM before SIGKILL; it never served a request."""


def running(records: base.ReplicaRecords, *, run_dir: str, limiter: limits.Limiter | None) -> list[Replica]:
    """The recorded replicas whose very process still runs; the others' records are forgotten."""
    found = []
    for record in records.replica_records():
        handle = processes.Handle(record.pid, record.start_time)
        if not processes.alive(handle):
            records.forget_replica(record.id)
            continue
        found.append(_replica(record, handle, run_dir=run_dir, limiter=limiter))
    return found


def orphans(records: base.ReplicaRecords, instance: tenancy.Instance) -> list[tuple[psutil.Process, str]]:
    """The processes of ``instance``'s replicas that no live record accounts for, with their ids.

    A process marked with a recorded replica's id is that replica, or one it started, while
    the recorded process lives; once it has gone, what it left behind is an orphan too.
    """
    live = {
        record.id
        for record in records.replica_records()
        if processes.alive(processes.Handle(record.pid, record.start_time))
    }
    return [(process, replica_id) for process, replica_id in processes.marked(instance.id) if replica_id not in live]


def stop_orphans(records: base.ReplicaRecords, instance: tenancy.Instance, *, grace: float = ORPHAN_GRACE) -> int:
    """Stop every orphan of ``instance`` (SIGTERM, then SIGKILL after ``grace``); how many."""
    found = orphans(records, instance)
    if not found:
        return 0
    log.warning(
        "stopping %d process(es) of replicas that an earlier control plane started but never recorded: %s",
        len(found),
        ", ".join(f"{replica_id} (pid {process.pid})" for process, replica_id in found),
    )
    procs = [process for process, _ in found]
    for process in procs:
        _signal(process, "terminate")
    _gone, alive = psutil.wait_procs(procs, timeout=grace)
    for process in alive:
        _signal(process, "kill")
    psutil.wait_procs(alive, timeout=grace)  # reaps them too, where this process started them
    return len(found)


def _signal(process: psutil.Process, how: str) -> None:
    try:
        getattr(process, how)()
    except psutil.Error:
        pass


def _replica(
    record: ReplicaRecord, handle: processes.Handle, *, run_dir: str, limiter: limits.Limiter | None
) -> Replica:
    """A replica with a slot was serving: ready. One without is probed again from the start."""
    log_dir = os.path.join(run_dir, "logs", record.environment, record.service)
    uid = processes.uid_of(handle.pid)
    return Replica(
        id=record.id,
        environment=record.environment,
        service=record.service,
        revision=record.revision,
        generation=record.generation,
        port=record.port,
        handle=handle,
        started_at=record.started_at,
        log_dir=log_dir,
        slot=record.slot,
        adopted=True,
        phase="ready" if record.slot else "starting",
        limited=limiter is not None and limiter.holds(record.id),
        isolated=uid is not None and identities.FIRST <= uid <= identities.LAST,
    )
