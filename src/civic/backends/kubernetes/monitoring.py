"""A service's ServiceMonitor and PrometheusRule (the prometheus-operator's CRDs).

The default alert rules are the same five the local runtime raises: the service is
down, a high share of 5xx responses, a high p95 latency, crash-looping, fewer ready
replicas than desired. On a cluster they are written over kube-state-metrics (for
replicas and restarts) and the service's own ``http_requests_total`` /
``http_request_duration_seconds`` metrics (scraped through the ServiceMonitor, only
when the spec names a ``metricsPath``). The spec's own ``alertRules`` follow. Called
by :mod:`.rendering`. Pure.
"""

from __future__ import annotations

from civic.backends import base
from civic.backends.kubernetes import manifests, ownership, workloads
from civic.backends.kubernetes.manifests import Obj
from civic.spec import models

ERROR_SHARE = 0.05
P95_SECONDS = 1.0


def service_monitor(revision: base.ServiceRevision) -> Obj | None:
    path = revision.spec.metrics_path
    if not path:
        return None
    env, name = revision.environment, revision.name
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "ServiceMonitor",
        "metadata": manifests.meta(name, env, ownership.labels(env, name)),
        "spec": {
            "selector": {"matchLabels": workloads.selector(name)},
            "endpoints": [{"port": workloads.HTTP, "path": path, "interval": "30s"}],
        },
    }


def _rule(alert: str, expr: str, for_: str, severity: str, summary: str) -> Obj:
    return {
        "alert": alert,
        "expr": expr,
        "for": for_,
        "labels": {"severity": severity},
        "annotations": {"summary": summary},
    }


def default_rules(revision: base.ServiceRevision) -> list[Obj]:
    env, name = revision.environment, revision.name
    dep = f'namespace="{env}",deployment="{name}"'
    http = f'namespace="{env}",service="{name}"'
    out = [
        _rule(
            "ServiceDown",
            f"kube_deployment_spec_replicas{{{dep}}} > 0 and kube_deployment_status_replicas_available{{{dep}}} == 0",
            "2m",
            "critical",
            f"{name} in {env} has no available replicas.",
        ),
        _rule(
            "CrashLooping",
            f'max_over_time(kube_pod_container_status_waiting_reason{{namespace="{env}",'
            f'container="{name}",reason="CrashLoopBackOff"}}[5m]) >= 1',
            "5m",
            "critical",
            f"{name} in {env} is crash-looping.",
        ),
        _rule(
            "ReplicasNotReady",
            f"kube_deployment_status_replicas_ready{{{dep}}} < kube_deployment_spec_replicas{{{dep}}}",
            "15m",
            "warning",
            f"{name} in {env} has fewer ready replicas than desired.",
        ),
    ]
    if revision.spec.metrics_path:
        out += [
            _rule(
                "HighErrorRate",
                f'sum(rate(http_requests_total{{{http},code=~"5.."}}[5m])) / '
                f"sum(rate(http_requests_total{{{http}}}[5m])) > {ERROR_SHARE}",
                "5m",
                "warning",
                f"More than {ERROR_SHARE:.0%} of {name}'s responses in {env} are 5xx.",
            ),
            _rule(
                "HighLatency",
                "histogram_quantile(0.95, sum by (le) (rate("
                f"http_request_duration_seconds_bucket{{{http}}}[5m]))) > {P95_SECONDS:g}",
                "10m",
                "warning",
                f"{name}'s p95 latency in {env} is above {P95_SECONDS:g}s.",
            ),
        ]
    return out


def own_rule(rule: models.AlertRule) -> Obj:
    out: Obj = {"alert": rule.alert, "expr": rule.expr}
    if rule.for_:
        out["for"] = rule.for_
    out["labels"] = dict(rule.labels) | {"severity": rule.severity}
    annotations = dict(rule.annotations or {})  # runbook_url, dashboard_url ...: passed on as written
    annotations |= {k: v for k, v in (("summary", rule.summary), ("description", rule.description)) if v}
    if annotations:
        out["annotations"] = annotations
    return out


def prometheus_rule(*, env: str, name: str, service: str | None, rules: list[Obj]) -> Obj:
    labels = {"team_environment": env} | ({"service": service} if service else {})
    for rule in rules:
        rule["labels"] = labels | rule.get("labels", {})
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": manifests.meta(name, env, ownership.labels(env, service)),
        "spec": {"groups": [{"name": f"{env}.{name}", "rules": rules}]},
    }


def service_rules(revision: base.ServiceRevision) -> Obj:
    rules = default_rules(revision) + [own_rule(r) for r in revision.spec.alert_rules]
    return prometheus_rule(env=revision.environment, name=revision.name, service=revision.name, rules=rules)


def environment_rules(env: models.Environment) -> Obj | None:
    if not env.spec.alert_rules:
        return None
    return prometheus_rule(
        env=env.metadata.name, name="civic-environment", service=None, rules=[own_rule(r) for r in env.spec.alert_rules]
    )
