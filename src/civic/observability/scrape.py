"""Prometheus's configuration, and the file-based service discovery that keeps it current.

Civic writes ``prometheus.yml`` once (:func:`prometheus_config`) and then only rewrites
target files (:func:`targets_file`) as replicas come and go: Prometheus re-reads
``file_sd`` files by itself within seconds, with no reload. Every target carries the
labels ``environment``, ``service``, ``team`` and ``revision``, so every series can be
routed to its owner. Alertmanager and the Pushgateway answer Civic only: Prometheus reaches
them with ``basic_auth`` whose password it reads from a file (never inline). Pure: values
in, YAML/JSON text out.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from typing import Any

import yaml

# Settings Civic ships; together with routing.GROUP_WAIT a breach reaches a team in ~15 s.
SCRAPE_INTERVAL = "2s"
EVALUATION_INTERVAL = "2s"


@dataclasses.dataclass(frozen=True)
class Target:
    """One endpoint to scrape, with the labels that say whose it is."""

    address: str  # host:port
    environment: str
    service: str
    team: str
    revision: str = ""
    replica: str = ""
    metrics_path: str = "/metrics"


def prometheus_config(
    *,
    rules_glob: str,
    targets_dir: str,
    alertmanager: str | None,
    civic: str | None,
    haproxy: str | None,
    pushgateway: str | None,
    haproxy_labels: dict[str, str] | None = None,
    basic_auth: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The whole prometheus.yml.

    ``haproxy_labels`` maps each HAProxy backend name to "environment/service/team", so
    the exporter's per-backend series carry ownership labels like every other target's.
    ``basic_auth`` (``username``, ``password_file``) is how Prometheus authenticates to
    Alertmanager and the Pushgateway.
    """
    auth = {"basic_auth": dict(basic_auth)} if basic_auth else {}
    jobs: list[dict[str, Any]] = []
    if civic:
        jobs.append({"job_name": "civic", "static_configs": [{"targets": [civic]}]})
    if haproxy:
        jobs.append(
            {
                "job_name": "haproxy",
                "static_configs": [{"targets": [haproxy]}],
                "metric_relabel_configs": _haproxy_relabels(haproxy_labels or {}),
            }
        )
    if pushgateway:
        jobs.append(
            {"job_name": "pushgateway", "honor_labels": True, "static_configs": [{"targets": [pushgateway]}], **auth}
        )
    jobs.append(
        {
            "job_name": "services",
            "file_sd_configs": [{"files": [f"{targets_dir}/*.json"], "refresh_interval": "2s"}],
            "relabel_configs": [{"source_labels": ["__metrics_path__"], "target_label": "__metrics_path__"}],
        }
    )
    config: dict[str, Any] = {
        "global": {
            "scrape_interval": SCRAPE_INTERVAL,
            "evaluation_interval": EVALUATION_INTERVAL,
            "scrape_timeout": SCRAPE_INTERVAL,
        },
        "rule_files": [rules_glob],
        "scrape_configs": jobs,
    }
    if alertmanager:
        config["alerting"] = {"alertmanagers": [{"static_configs": [{"targets": [alertmanager]}], **auth}]}
    return config


def _haproxy_relabels(labels: dict[str, str]) -> list[dict[str, Any]]:
    """Per backend: copy the `proxy` label into environment, service and team."""
    out = []
    for backend, owner in sorted(labels.items()):
        environment, service, team = owner.split("/")
        for name, value in (("environment", environment), ("service", service), ("team", team)):
            out.append(
                {"source_labels": ["proxy"], "regex": _escape(backend), "target_label": name, "replacement": value}
            )
    return out


def _escape(text: str) -> str:
    return "".join("\\" + c if c in ".+*?()[]{}|^$\\" else c for c in text)


def targets_file(targets: list[Target]) -> str:
    """A file_sd JSON document for ``targets``, grouped by their labels."""
    groups: dict[tuple[str, ...], list[str]] = {}
    for t in targets:
        key = (t.environment, t.service, t.team, t.revision, t.replica, t.metrics_path)
        groups.setdefault(key, []).append(t.address)
    docs = []
    for (environment, service, team, revision, replica, path), addresses in sorted(groups.items()):
        labels = {"environment": environment, "service": service, "team": team, "__metrics_path__": path}
        if revision:
            labels["revision"] = revision
        if replica:
            labels["replica"] = replica
        docs.append({"targets": sorted(addresses), "labels": labels})
    return json.dumps(docs, indent=2, sort_keys=True) + "\n"


def config_text(config: dict[str, Any]) -> str:
    return yaml.safe_dump(config, sort_keys=False, width=1000)
