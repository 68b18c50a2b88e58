"""How many replicas a service needs, from its measured request rate and CPU.

The supervisor samples each autoscaled service about once a second (requests from
HAProxy's ``req_tot`` counter, CPU from ``/proc``) and asks :class:`Stabiliser` for the
count. As Kubernetes' HPA does: the count for a metric is ``ceil(measured / target)``,
the larger of the two metrics wins, it stays between min and max, and the result is
the *largest* recommendation of the stabilisation window, so a service scales up at
once but scales down only after load has stayed low for the whole window. Pure.
"""

from __future__ import annotations

import collections
import math

from civic.spec import models


def recommend(spec: models.Autoscaling, *, ready: int, rate: float, cpu_percent: float) -> int:
    """The replicas the measurements call for, between ``spec.min`` and ``spec.max``.

    ``rate`` is the service's requests per second; ``cpu_percent`` the mean CPU use of
    its ready replicas, in percent of one core.
    """
    wanted = spec.min
    if spec.target_requests_per_second:
        wanted = max(wanted, math.ceil(rate / spec.target_requests_per_second - 1e-9))
    if spec.target_cpu_percent and ready:
        wanted = max(wanted, math.ceil(ready * cpu_percent / spec.target_cpu_percent - 1e-9))
    return max(spec.min, min(spec.max, wanted))


class Stabiliser:
    """Remembers recommendations for the window; the count is the largest of them."""

    def __init__(self, window: float) -> None:
        self.window = window
        self.history: collections.deque[tuple[float, int]] = collections.deque()

    def __repr__(self) -> str:
        return f"Stabiliser(window={self.window}, history={list(self.history)})"

    def add(self, now: float, recommendation: int) -> int:
        self.history.append((now, recommendation))
        while self.history and self.history[0][0] < now - self.window:
            self.history.popleft()
        return max(r for _, r in self.history)
