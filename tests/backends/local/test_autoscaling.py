"""Autoscaling: the pure recommendation and stabilisation, then a real service under load."""

from __future__ import annotations

from civic.backends.local import autoscaling
from civic.spec import models
from traffic import Traffic

SPEC = models.Autoscaling(min=1, max=4, target_requests_per_second=10, target_cpu_percent=50)


def test_the_larger_metric_wins_between_min_and_max():
    assert autoscaling.recommend(SPEC, ready=2, rate=25, cpu_percent=10) == 3
    assert autoscaling.recommend(SPEC, ready=2, rate=5, cpu_percent=90) == 4
    assert autoscaling.recommend(SPEC, ready=2, rate=0, cpu_percent=0) == 1
    assert autoscaling.recommend(SPEC, ready=2, rate=1000, cpu_percent=0) == 4


def test_scaling_down_waits_for_the_whole_window_but_scaling_up_does_not():
    s = autoscaling.Stabiliser(window=30)
    assert s.add(0, 1) == 1
    assert s.add(1, 4) == 4  # up at once
    assert s.add(10, 1) == 4  # still within the window of the 4
    assert s.add(31.5, 1) == 1  # the 4 has left the window


def test_a_service_under_load_scales_out_and_back_in(harness):
    harness.deploy(autoscaling={"min": 1, "max": 3, "targetRequestsPerSecond": 5, "stabilizationSeconds": 1})
    harness.wait_for("min replicas", lambda: harness.status().ready == 1)
    with harness.client() as client, Traffic(client):
        harness.wait_for("scaled out to max", lambda: harness.status().ready == 3)
    harness.wait_for("scaled back to min", lambda: harness.status().desired == 1 and len(harness.replicas()) == 1)
