"""The alert rules every service gets from its first deploy, as Prometheus rule files.

Called by the control plane when it writes Prometheus's configuration, and by tests
that run the real ``promtool check rules`` and ``promtool test rules`` on the output.
Pure: specs in, rule groups (plain dicts) and YAML text out.

Series the rules read (labels ``environment``, ``service`` and ``team`` are attached to
every target at scrape time; see :mod:`civic.observability.scrape`):

    civic_service_replicas_desired / civic_service_replicas_ready   (Civic's own /metrics)
    civic_service_crashlooping                                      1 while a replica crash-loops
    civic_environment_quota_used_ratio{resource}                    used / quota, 0..1
    haproxy_backend_http_responses_total{code}                      HAProxy's exporter, per service
    http_request_duration_seconds_bucket                            the service's own histogram,
                                                                    where its spec declares metricsPath
    haproxy_backend_response_time_average_seconds                   otherwise (an average, not a p95)
"""

from __future__ import annotations

from typing import Any

import yaml

from civic.spec import models

SERVICE_DOWN = "CivicServiceDown"
HIGH_ERROR_RATE = "CivicServiceHighErrorRate"
HIGH_LATENCY = "CivicServiceHighLatency"
CRASH_LOOPING = "CivicServiceCrashLooping"
REPLICAS_MISSING = "CivicServiceReplicasMissing"
QUOTA_NEARLY_USED = "CivicEnvironmentQuotaNearlyUsed"
DEFAULT_ALERTS = (SERVICE_DOWN, HIGH_ERROR_RATE, HIGH_LATENCY, CRASH_LOOPING, REPLICAS_MISSING)

QUOTA_RATIO = 0.9


def _selector(**labels: str) -> str:
    return "{" + ",".join(f'{k}="{v}"' for k, v in labels.items()) + "}"


def _rule(
    alert: str,
    expr: str,
    *,
    for_: str,
    severity: str,
    labels: dict[str, str],
    summary: str,
    description: str,
    link: str | None,
) -> dict[str, Any]:
    annotations = {"summary": summary, "description": description}
    if link:
        annotations["link"] = link
    return {
        "alert": alert,
        "expr": expr,
        "for": for_,
        "labels": {**labels, "severity": severity},
        "annotations": annotations,
    }


def service_rules(
    *, environment: models.Environment, service: str, spec: models.ServiceSpec | None = None, link: str | None = None
) -> list[dict[str, Any]]:
    """The default rules for one service, with the thresholds of its spec, plus its own rules."""
    spec = spec or models.ServiceSpec()
    env = environment.metadata.name
    settings = spec.alerts
    labels = {
        "environment": env,
        "service": service,
        "team": environment.spec.team,
        "production": str(environment.spec.production).lower(),
    }
    sel = _selector(environment=env, service=service)
    where = f"{service} in {env}"
    ratio = settings.error_rate_percent / 100
    responses = f"haproxy_backend_http_responses_total{sel[:-1]}"
    if spec.metrics_path:
        latency = (
            f"histogram_quantile(0.95, sum by (le) (rate(http_request_duration_seconds_bucket{sel}[5m])))"
            f" > {settings.latency_p95_seconds:g}"
        )
        latency_words = "p95 response time"
    else:
        latency = f"max(haproxy_backend_response_time_average_seconds{sel}) > {settings.latency_p95_seconds:g}"
        latency_words = "average response time (the service exports no histogram)"
    rules = [
        _rule(
            SERVICE_DOWN,
            f"max(civic_service_replicas_desired{sel}) > 0 and max(civic_service_replicas_ready{sel}) == 0",
            for_=settings.down_for,
            severity="critical",
            labels=labels,
            link=link,
            summary=f"{where} is down: no replica is ready",
            description="No replica passes its readiness check, so every request fails. "
            "Look at 'civic status' and the replicas' logs.",
        ),
        _rule(
            HIGH_ERROR_RATE,
            f'sum(rate({responses},code="5xx"}}[1m])) / sum(rate({responses}}}[1m])) > {ratio:g}',
            for_="5s",
            severity="warning",
            labels=labels,
            link=link,
            summary=f"{where} answers more than {settings.error_rate_percent:g}% of requests with 5xx",
            description="{{ $value | humanizePercentage }} of responses over the last minute were server errors.",
        ),
        _rule(
            HIGH_LATENCY,
            latency,
            for_="2m",
            severity="warning",
            labels=labels,
            link=link,
            summary=f"{where} is slow: {latency_words} over {settings.latency_p95_seconds:g}s",
            description="{{ $value | humanizeDuration }} over the last five minutes.",
        ),
        _rule(
            CRASH_LOOPING,
            f"max(civic_service_crashlooping{sel}) > 0",
            for_="0s",
            severity="critical",
            labels=labels,
            link=link,
            summary=f"{where} is crash-looping",
            description="A replica keeps exiting and is being restarted with back-off.",
        ),
        _rule(
            REPLICAS_MISSING,
            f"max(civic_service_replicas_ready{sel}) < max(civic_service_replicas_desired{sel})",
            for_="2m",
            severity="warning",
            labels=labels,
            link=link,
            summary=f"{where} has fewer ready replicas than desired",
            description="{{ $value }} replicas are ready; the spec or the autoscaler asks for more.",
        ),
    ]
    rules = [r for r in rules if r["alert"] not in settings.disabled]
    return rules + [own_rule(r, labels) for r in spec.alert_rules]


def environment_rules(environment: models.Environment) -> list[dict[str, Any]]:
    """Rules for the environment as a whole: its quota, and the team's own rules."""
    env = environment.metadata.name
    labels = {"environment": env, "team": environment.spec.team, "production": str(environment.spec.production).lower()}
    quota = _rule(
        QUOTA_NEARLY_USED,
        f"max by (resource) (civic_environment_quota_used_ratio{_selector(environment=env)}) > {QUOTA_RATIO:g}",
        for_="5m",
        severity="warning",
        labels=labels,
        link=None,
        summary=f"{env} has used over {QUOTA_RATIO:.0%} of its {{{{ $labels.resource }}}} quota",
        description="Deploys and scale-outs will be refused when it is used up; raise spec.quota.",
    )
    return [quota] + [own_rule(r, labels) for r in environment.spec.alert_rules]


def own_rule(rule: models.AlertRule, labels: dict[str, str]) -> dict[str, Any]:
    """A team's own rule, with the ownership labels that route it.

    The ownership labels win over the rule's own: a rule may not claim another team's
    ``team`` or ``environment``, which would route its alerts to that team's channels and
    show them in that team's ``civic alerts``.
    """
    out: dict[str, Any] = {
        "alert": rule.alert,
        "expr": rule.expr,
        "labels": {**rule.labels, **labels, "severity": rule.severity},
        # Other annotations (runbook_url, dashboard_url ...) are passed on as written.
        "annotations": {**(rule.annotations or {}), "summary": rule.summary or rule.alert},
    }
    if rule.for_:
        out["for"] = rule.for_
    if rule.description:
        out["annotations"]["description"] = rule.description
    return out


def rule_file(groups: dict[str, list[dict[str, Any]]], *, interval: str | None = None) -> str:
    """A Prometheus rule file: one group per name, in name order."""
    out = []
    for name in sorted(groups):
        group: dict[str, Any] = {"name": name, "rules": groups[name]}
        if interval:
            group["interval"] = interval
        out.append(group)
    return yaml.safe_dump({"groups": out}, sort_keys=False, width=1000)
