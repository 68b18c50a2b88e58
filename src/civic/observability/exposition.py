"""Civic's own ``/metrics``: what the default alert rules read about every service.

Built from what a backend observes (the control plane copies each
:class:`civic.backends.base.ServiceStatus` into a :class:`ServiceSample`), so it says the
same for the local runtime and for Kubernetes. Pure: values in, the Prometheus
text format out. Served by the API; scraped by the Prometheus Civic runs.
"""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class ServiceSample:
    environment: str
    team: str
    service: str
    desired: int
    ready: int
    crash_looping: bool
    revision: int | None


@dataclasses.dataclass(frozen=True)
class QuotaSample:
    environment: str
    team: str
    resource: str  # replicas | services
    used: float
    limit: float


def _labels(**values: str) -> str:
    def escape(v: str) -> str:
        return v.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')

    return "{" + ",".join(f'{k}="{escape(v)}"' for k, v in values.items()) + "}"


def render(services: list[ServiceSample], quotas: list[QuotaSample]) -> str:
    lines = [
        "# HELP civic_service_replicas_desired Replicas the spec, scale or autoscaler asks for.",
        "# TYPE civic_service_replicas_desired gauge",
        "# HELP civic_service_replicas_ready Replicas passing their readiness check.",
        "# TYPE civic_service_replicas_ready gauge",
        "# HELP civic_service_crashlooping 1 while a replica of the service is crash-looping.",
        "# TYPE civic_service_crashlooping gauge",
        "# HELP civic_service_revision The revision running.",
        "# TYPE civic_service_revision gauge",
    ]
    for s in sorted(services, key=lambda x: (x.environment, x.service)):
        labels = _labels(environment=s.environment, service=s.service, team=s.team)
        lines.append(f"civic_service_replicas_desired{labels} {s.desired}")
        lines.append(f"civic_service_replicas_ready{labels} {s.ready}")
        lines.append(f"civic_service_crashlooping{labels} {int(s.crash_looping)}")
        if s.revision is not None:
            lines.append(f"civic_service_revision{labels} {s.revision}")
    lines += [
        "# HELP civic_environment_quota_used_ratio Share of the environment's quota in use (0..1).",
        "# TYPE civic_environment_quota_used_ratio gauge",
    ]
    for q in sorted(quotas, key=lambda x: (x.environment, x.resource)):
        ratio = q.used / q.limit if q.limit else 0.0
        labels = _labels(environment=q.environment, team=q.team, resource=q.resource)
        lines.append(f"civic_environment_quota_used_ratio{labels} {ratio:g}")
    return "\n".join(lines) + "\n"
