"""The replicas a previous control plane left running, found again from their records.

A control plane that stops or dies leaves its replicas and HAProxy serving (static
stability). Each replica was recorded when it started, with its pid and its process's
start time (:class:`~civic.store.deployments.ReplicaRecord`), so a recycled pid is never
mistaken for it. :meth:`Supervisor.adopt <civic.backends.local.supervision.Supervisor.adopt>`
calls :func:`running` for the replicas still alive, then
:meth:`Router.adopt <civic.backends.local.slots.Router.adopt>` for HAProxy and their slots.
"""

from __future__ import annotations

import os

from civic.backends import base
from civic.backends.local import limits, processes
from civic.backends.local.replicas import Replica
from civic.store.deployments import ReplicaRecord


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


def _replica(
    record: ReplicaRecord, handle: processes.Handle, *, run_dir: str, limiter: limits.Limiter | None
) -> Replica:
    """A replica with a slot was serving: ready. One without is probed again from the start."""
    log_dir = os.path.join(run_dir, "logs", record.environment, record.service)
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
    )
