"""One namespace folder of cloud-platform-environments, read into a Civic environment.

:func:`read_namespace` takes the texts of a folder's files (``00-namespace.yaml`` ...
``resources/*.tf``) and returns a :class:`Namespace`: the environment's fields, the
teams it names, and an :class:`~civic.importers.report.Entry` for every object read,
mapped or skipped. What depends on the other namespaces (``allowFrom`` targets,
hostnames claimed twice, business-unit spellings) is left in ``pending`` for
:mod:`civic.importers.assembly`. Pure: texts in, values out.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from civic.importers import documents, normalise, terraform
from civic.importers.report import DEFAULT, MAPPED, SKIPPED, Entry, Normalisation
from civic.spec import quantities

MOJ = "cloud-platform.justice.gov.uk/"
SKIP_MARKER = "APPLY_PIPELINE_SKIP_THIS_NAMESPACE"
GRANT_ROLES = ("admin", "edit", "view")
WORKLOADS = (
    "Deployment",
    "CronJob",
    "Job",
    "StatefulSet",
    "DaemonSet",
    "Pod",
    "Service",
    "Ingress",
    "HorizontalPodAutoscaler",
    "PodDisruptionBudget",
)
NAMESPACE_LABELS = ("kubernetes.io/metadata.name", MOJ + "namespace", "name")
# Namespace labels and annotations the importer maps to fields; the rest are kept as annotations.
_MAPPED_META = {
    MOJ + k
    for k in (
        "is-production",
        "environment-name",
        "business-unit",
        "application",
        "owner",
        "source-code",
        "slack-channel",
        "team-name",
        "review-after",
        "service-area",
    )
}


@dataclasses.dataclass(frozen=True)
class Claim:
    """Something only the whole import can settle: a host or an allowFrom namespace."""

    value: str
    file: str
    line: int
    kind: str
    name: str
    note: str = ""


@dataclasses.dataclass
class Namespace:
    """What one folder gave; ``failed`` says why no environment can come of it."""

    name: str
    cluster: str
    spec: dict[str, Any] = dataclasses.field(default_factory=dict)
    annotations: dict[str, str] = dataclasses.field(default_factory=dict)
    teams: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)
    hosts: list[Claim] = dataclasses.field(default_factory=list)
    allow_from: list[Claim] = dataclasses.field(default_factory=list)
    entries: list[Entry] = dataclasses.field(default_factory=list)
    normalisations: list[Normalisation] = dataclasses.field(default_factory=list)
    failed: str = ""
    business_unit_line: tuple[str, int] = ("", 0)

    def entry(
        self,
        file: str,
        line: int,
        kind: str,
        name: str,
        outcome: str,
        *,
        target: str = "",
        reason: str = "",
        detail: str = "",
    ) -> None:
        self.entries.append(Entry(self.name, file, line, kind, name, outcome, target, reason, detail))

    def skip(self, file: str, line: int, kind: str, name: str, reason: str, detail: str) -> None:
        self.entry(file, line, kind, name, SKIPPED, reason=reason, detail=detail)

    def normalised(
        self, file: str, line: int, field: str, kind: str, original: Any, value: Any, note: str | None
    ) -> None:
        if note:
            self.normalisations.append(Normalisation(self.name, file, line, field, kind, original, value, note))


def read_namespace(*, cluster: str, folder: str, files: Mapping[str, str]) -> Namespace:
    """Read one namespace folder; ``files`` maps paths relative to it to their texts."""
    name = normalise.to_name(folder)
    if not normalise.is_name(name):
        ns = Namespace(folder, cluster)
        ns.failed = f"the folder name '{folder}' cannot be made a Civic name; rename the folder"
        return ns
    ns = Namespace(name, cluster)
    if name != folder:
        ns.normalised(
            "", 0, "metadata.name", "environment-id", folder, name, f"the folder name '{folder}' is not a Civic name"
        )
    parts: list[tuple[str, documents.Part]] = []
    for rel, text in sorted(files.items()):
        if "\x00" in text:
            ns.skip(rel, 1, "File", rel, "parse-error", f"{rel}: is not UTF-8 text")
        elif rel.endswith((".yaml", ".yml")) and "/" not in rel:
            parts += [(rel, part) for part in documents.split(text, file=rel)]
        elif rel.startswith("resources/") and rel.endswith(".tf"):
            _terraform(ns, rel, text)
        elif rel == SKIP_MARKER:
            ns.skip(
                rel,
                1,
                "File",
                rel,
                "no-equivalent",
                "the MoJ pipeline skips this namespace; "
                "it was imported anyway: delete the environment if it is retired",
            )
    namespace = [(rel, p) for rel, p in parts if p.document and _kind(p) == "Namespace"]
    if not namespace:
        bad = [f"{pr}" for _, p in parts for pr in p.problems if pr.file.startswith("00-")]
        ns.failed = "no Namespace object could be read" + (f": {bad[0]}" if bad else " (00-namespace.yaml is missing)")
        _record_unreadable(ns, parts)
        return ns
    _namespace(ns, *namespace[0])
    for rel, part in parts:
        if part.document is None or part is namespace[0][1]:
            continue
        _object(ns, rel, part)
    _record_unreadable(ns, parts)
    _owning_team(ns)
    return ns


def _record_unreadable(ns: Namespace, parts: list[tuple[str, documents.Part]]) -> None:
    for rel, part in parts:
        for problem in part.problems:
            ns.skip(rel, problem.line, "Document", f"line {problem.line}", "parse-error", str(problem))


def _kind(part: documents.Part) -> str:
    data = part.document.data if part.document else None
    return str(data.get("kind", "")) if isinstance(data, dict) else ""


def _name(data: dict[str, Any]) -> str:
    meta = data.get("metadata")
    return str(meta.get("name", "")) if isinstance(meta, dict) else ""


def _object(ns: Namespace, rel: str, part: documents.Part) -> None:
    data = part.document.data if part.document else None
    if not isinstance(data, dict):
        ns.skip(rel, part.line(), "Document", "", "invalid-value", "the document is not a mapping")
        return
    kind, name = _kind(part), _name(data)
    handler = _HANDLERS.get(kind)
    if handler is not None:
        handler(ns, rel, part, data, name)
    elif kind == "Namespace":
        ns.skip(rel, part.line(), kind, name, "duplicate", "a second Namespace object in the folder")
    elif kind in WORKLOADS:
        ns.skip(
            rel,
            part.line(),
            kind,
            name,
            "workload",
            f"a {kind} is a workload; describe the service in its repository's civic.service.yaml",
        )
    elif kind == "ConfigMap" and "grafana_dashboard" in ((data.get("metadata") or {}).get("labels") or {}):
        ns.skip(
            rel,
            part.line(),
            kind,
            name,
            "dashboard",
            "a Grafana dashboard ConfigMap; Civic keeps no dashboards in the estate: keep the JSON with the service",
        )
    elif kind in ("Role", "ClusterRole"):
        ns.skip(rel, part.line(), kind, name, "custom-role", "a custom role; Civic grants admin, edit or view only")
    elif kind in ("ConfigMap", "Secret", "ServiceAccount"):
        ns.skip(
            rel,
            part.line(),
            kind,
            name,
            "no-equivalent",
            f"a {kind}; use spec.variables or spec.secrets (names only) for configuration",
        )
    else:
        ns.skip(
            rel, part.line(), kind or "(no kind)", name, "unknown-kind", f"the importer does not know kind '{kind}'"
        )


# --- the Namespace object ---------------------------------------------------------------


def _namespace(ns: Namespace, rel: str, part: documents.Part) -> None:
    data = part.document.data  # type: ignore[union-attr]  # only parts with a document reach here
    meta = data.get("metadata") if isinstance(data.get("metadata"), dict) else {}
    labels = {str(k): v for k, v in (meta.get("labels") or {}).items()}
    annotations = {str(k): v for k, v in (meta.get("annotations") or {}).items()}
    values = {**annotations, **labels}

    def at(key: str) -> int:
        where = "labels" if key in labels else "annotations"
        return part.line(("metadata", where, key))

    if meta.get("name") and meta["name"] != ns.name:
        ns.normalised(
            rel,
            part.line(("metadata", "name")),
            "metadata.name",
            "environment-id",
            meta["name"],
            ns.name,
            "the folder's name is used, as the MoJ pipeline does",
        )
    spec = ns.spec
    env_raw = values.get(MOJ + "environment-name")
    spec["environmentName"], note = normalise.environment_name(env_raw, namespace=ns.name)
    ns.normalised(
        rel,
        at(MOJ + "environment-name"),
        "spec.environmentName",
        "environment-name",
        env_raw,
        spec["environmentName"],
        note,
    )
    prod_raw = values.get(MOJ + "is-production")
    spec["production"], note = normalise.production(prod_raw, environment=spec["environmentName"])
    ns.normalised(rel, at(MOJ + "is-production"), "spec.production", "production", prod_raw, spec["production"], note)
    unit = str(values.get(MOJ + "business-unit") or "").strip()
    if not unit:
        unit = "Unassigned"
        ns.normalised(rel, part.line(), "spec.businessUnit", "business-unit", "", unit, "no business-unit annotation")
    spec["businessUnit"] = unit
    ns.business_unit_line = (rel, at(MOJ + "business-unit"))
    application = str(values.get(MOJ + "application") or "").strip()
    if not application:
        application = ns.name
        ns.normalised(
            rel,
            part.line(),
            "spec.application",
            "application",
            "",
            application,
            "no application annotation; the namespace's name is used",
        )
    spec["application"] = application
    for key, field in (("owner", "owner"), ("service-area", "serviceArea")):
        if str(values.get(MOJ + key) or "").strip():
            spec[field] = str(values[MOJ + key]).strip()
    _source_code(ns, rel, at(MOJ + "source-code"), values.get(MOJ + "source-code"))
    _channel(ns, rel, at, values)
    review_raw = values.get(MOJ + "review-after")
    if review_raw is not None:
        date, note = normalise.review_after(review_raw)
        if date:
            spec["reviewAfter"] = date
        ns.normalised(
            rel,
            at(MOJ + "review-after"),
            "spec.reviewAfter",
            "review-after",
            review_raw,
            date.isoformat() if date else None,
            note,
        )
    team = str(values.get(MOJ + "team-name") or "").strip()
    if team:
        ns.annotations["civic.import/team-name"] = team
    for key, value in sorted(values.items()):
        if key not in _MAPPED_META:
            ns.annotations[key] = str(value)
    ns.entry(rel, part.line(), "Namespace", ns.name, MAPPED, target="spec")


def _source_code(ns: Namespace, rel: str, line: int, raw: Any) -> None:
    text = str(raw or "").strip()
    if not text:
        return
    urls = [u.strip() for u in text.replace(";", ",").split(",") if u.strip()]
    ns.spec["sourceCode"] = urls[0]
    if len(urls) > 1:
        ns.annotations["civic.import/source-code"] = text
        ns.normalised(
            rel,
            line,
            "spec.sourceCode",
            "source-code",
            text,
            urls[0],
            f"{len(urls)} repositories listed; the first is sourceCode, all are kept in "
            "the annotation civic.import/source-code",
        )


def _channel(ns: Namespace, rel: str, at: Any, values: dict[str, Any]) -> None:
    key = MOJ + "slack-channel"
    raw = values.get(key)
    if not str(raw or "").strip() and str(values.get(MOJ + "slack-alert-channel") or "").strip():
        key = MOJ + "slack-alert-channel"
        raw = values[key]
        note = "no slack-channel; the slack-alert-channel is used"
    else:
        note = ""
    channel, why = normalise.slack_channel(raw)
    if channel:
        ns.spec["teamChannel"] = channel
        ns.normalised(
            rel, at(key), "spec.teamChannel", "slack-channel", raw, channel, "; ".join(n for n in (note, why) if n)
        )


# --- access ----------------------------------------------------------------------------


def _rolebinding(ns: Namespace, rel: str, part: documents.Part, data: dict[str, Any], name: str) -> None:
    role = str((data.get("roleRef") or {}).get("name", ""))
    subjects = data.get("subjects") or []
    if not isinstance(subjects, list) or not subjects:
        ns.skip(rel, part.line(), "RoleBinding", name, "invalid-value", "a RoleBinding with no subjects")
        return
    for i, subject in enumerate(subjects):
        line = part.line(("subjects", i))
        subject = subject if isinstance(subject, dict) else {}
        who = str(subject.get("name", ""))
        label = f"{name}: {subject.get('kind', '?')} {who}"
        if subject.get("kind") != "Group" or not who.startswith("github:"):
            ns.skip(
                rel,
                line,
                "RoleBinding",
                label,
                "non-team-subject",
                f"{subject.get('kind', 'a subject')} '{who}' is not a GitHub team; Civic grants "
                "access to teams (or named users, added by hand)",
            )
            continue
        slug = who.removeprefix("github:")
        team = normalise.to_name(slug)
        ns.normalised(
            rel,
            line,
            f"subjects[{i}].name",
            "team-name",
            slug,
            team,
            None if team == slug else f"the GitHub team '{slug}' is not a Civic name",
        )
        if not normalise.is_name(team):
            ns.skip(rel, line, "RoleBinding", label, "invalid-value", f"'{slug}' cannot be a team name")
            continue
        info = ns.teams.setdefault(team, {"github": set(), "roles": []})
        info["github"].add(slug)
        if role not in GRANT_ROLES:
            ns.skip(
                rel,
                line,
                "RoleBinding",
                label,
                "custom-role",
                f"role '{role}' is not admin, edit or view; the team exists, grant the rest by hand",
            )
            continue
        grants = ns.spec.setdefault("access", [])
        grant = {"team": team} if role == "admin" else {"team": team, "role": role}
        if grant not in grants:
            grants.append(grant)
        info["roles"].append(role)
        ns.entry(rel, line, "RoleBinding", label, MAPPED, target="spec.access")


def _owning_team(ns: Namespace) -> None:
    named = ns.annotations.pop("civic.import/team-name", "")
    team = normalise.to_name(named) if named else ""
    if team and normalise.is_name(team):
        ns.teams.setdefault(team, {"github": set(), "roles": []})
        if team != named:
            ns.normalised(
                "00-namespace.yaml",
                0,
                "spec.team",
                "team-name",
                named,
                team,
                f"the team-name '{named}' is not a Civic name",
            )
    else:
        admins = [g["team"] for g in ns.spec.get("access", []) if "role" not in g]
        team = admins[0] if admins else ""
        if not team:
            team = "unassigned"
            ns.teams.setdefault(team, {"github": set(), "roles": []})
        ns.normalised(
            "00-namespace.yaml",
            0,
            "spec.team",
            "team",
            named or None,
            team,
            "no team-name annotation; "
            + ("the first admin GitHub team owns it" if admins else "no GitHub team either: team 'unassigned'"),
        )
    ns.spec["team"] = team


# --- quota, limits, network -----------------------------------------------------------

_QUOTA_KEYS = {
    "pods": "replicas",
    "count/pods": "replicas",
    "limits.cpu": "cpu",
    "cpu": "cpu",
    "requests.cpu": "cpu",
    "limits.memory": "memory",
    "memory": "memory",
    "requests.memory": "memory",
}


def _quota(ns: Namespace, rel: str, part: documents.Part, data: dict[str, Any], name: str) -> None:
    hard = (data.get("spec") or {}).get("hard") or {}
    quota = ns.spec.setdefault("quota", {})
    for key, value in hard.items():
        line = part.line(("spec", "hard", key))
        field = _QUOTA_KEYS.get(key)
        if field is None:
            ns.skip(
                rel,
                line,
                "ResourceQuota",
                f"{name}: {key}",
                "no-equivalent",
                f"Civic quotas count replicas, CPU and memory; '{key}' has no equivalent",
            )
            continue
        try:
            converted = int(str(value)) if field == "replicas" else str(value)
            if field == "cpu":
                quantities.millicores(converted)
            elif field == "memory":
                quantities.bytes_(converted)
        except ValueError as e:
            ns.skip(rel, line, "ResourceQuota", f"{name}: {key}", "invalid-value", str(e))
            continue
        if field in quota and key.startswith("requests."):
            continue  # limits.* wins over requests.* for the same field
        quota[field] = converted
        ns.entry(rel, line, "ResourceQuota", f"{name}: {key}", MAPPED, target=f"spec.quota.{field}")
    if not quota:
        ns.spec.pop("quota")


_LIMIT_FIELDS = {
    ("default", "cpu"): "defaultCpu",
    ("default", "memory"): "defaultMemory",
    ("defaultRequest", "cpu"): "defaultRequestCpu",
    ("defaultRequest", "memory"): "defaultRequestMemory",
}


def _limitrange(ns: Namespace, rel: str, part: documents.Part, data: dict[str, Any], name: str) -> None:
    limits = ns.spec.setdefault("limits", {})
    for i, item in enumerate((data.get("spec") or {}).get("limits") or []):
        kind = item.get("type", "Container")
        for section, values in item.items():
            if section == "type":
                continue
            for resource, value in values.items() if isinstance(values, dict) else []:
                line = part.line(("spec", "limits", i, section, resource))
                field = _LIMIT_FIELDS.get((section, resource)) if kind == "Container" else None
                label = f"{name}: {kind} {section}.{resource}"
                if field is None:
                    ns.skip(
                        rel,
                        line,
                        "LimitRange",
                        label,
                        "no-equivalent",
                        "Civic limits set per-replica defaults only (Container default and defaultRequest)",
                    )
                    continue
                limits[field] = str(value)
                ns.entry(rel, line, "LimitRange", label, MAPPED, target=f"spec.limits.{field}")
    if not limits:
        ns.spec.pop("limits")


def _networkpolicy(ns: Namespace, rel: str, part: documents.Part, data: dict[str, Any], name: str) -> None:
    spec = data.get("spec") or {}
    if "Egress" in (spec.get("policyTypes") or []) or spec.get("egress"):
        ns.skip(
            rel,
            part.line(("spec",)),
            "NetworkPolicy",
            name,
            "no-equivalent",
            "egress rules; Civic's network rules cover ingress only",
        )
    narrowed = bool(spec.get("podSelector") or {})
    for i, rule in enumerate(spec.get("ingress") or []):
        ports = bool(rule.get("ports"))
        for j, peer in enumerate(rule.get("from") or [{}]):
            line = part.line(("spec", "ingress", i, "from", j))
            _peer(ns, rel, line, name, peer if isinstance(peer, dict) else {}, narrowed=narrowed or ports)


def _peer(ns: Namespace, rel: str, line: int, policy: str, peer: dict[str, Any], *, narrowed: bool) -> None:
    selector = peer.get("namespaceSelector")
    labels = (selector or {}).get("matchLabels") or {}
    label = f"{policy} (from {_describe_peer(peer)})"
    if "ipBlock" in peer:
        ns.skip(
            rel,
            line,
            "NetworkPolicy",
            label,
            "selector-policy",
            "an ipBlock; Civic allows callers by environment, not by address",
        )
    elif selector is None and peer.get("podSelector") == {}:
        ns.entry(
            rel,
            line,
            "NetworkPolicy",
            label,
            DEFAULT,
            target="(same environment)",
            detail="traffic within the environment is Civic's default",
        )
    elif labels == {"component": "ingress-controllers"}:
        ns.spec.setdefault("network", {})["allowIngress"] = True
        ns.entry(
            rel,
            line,
            "NetworkPolicy",
            label,
            DEFAULT,
            target="spec.network.allowIngress",
            detail="routes from the platform's router are Civic's default",
        )
    elif labels == {"component": "monitoring"}:
        ns.entry(
            rel,
            line,
            "NetworkPolicy",
            label,
            DEFAULT,
            target="(monitoring)",
            detail="scraping by the platform's Prometheus is Civic's default",
        )
    elif len(labels) == 1 and next(iter(labels)) in NAMESPACE_LABELS and not peer.get("podSelector"):
        note = "narrowed to some pods or ports; Civic allows the whole environment" if narrowed else ""
        ns.allow_from.append(Claim(str(next(iter(labels.values()))), rel, line, "NetworkPolicy", label, note))
    else:
        ns.skip(
            rel,
            line,
            "NetworkPolicy",
            label,
            "selector-policy",
            f"selects callers by "
            f"{_describe_peer(peer)}; Civic allows callers by environment name: add them to "
            "spec.network.allowFrom by hand",
        )


def _describe_peer(peer: dict[str, Any]) -> str:
    if "ipBlock" in peer:
        return f"ipBlock {peer['ipBlock'].get('cidr', '?')}"
    labels = (peer.get("namespaceSelector") or {}).get("matchLabels") or {}
    if labels:
        return ", ".join(f"{k}={v}" for k, v in labels.items())
    return "pods of this namespace" if peer.get("podSelector") == {} else "a selector"


# --- monitoring, alerts, hosts -----------------------------------------------------------


def _prometheusrule(ns: Namespace, rel: str, part: documents.Part, data: dict[str, Any], name: str) -> None:
    rules = ns.spec.setdefault("alertRules", [])
    for g, group in enumerate((data.get("spec") or {}).get("groups") or []):
        for r, rule in enumerate(group.get("rules") or []):
            path = ("spec", "groups", g, "rules", r)
            line = part.line(path)
            if "alert" not in rule:
                ns.skip(
                    rel,
                    line,
                    "PrometheusRule",
                    f"{name}: {rule.get('record', '?')}",
                    "recording-rule",
                    "a recording rule; Civic's alert rules are alerts only",
                )
                continue
            rules.append(_alert(ns, rel, part, path, rule))
            ns.entry(rel, line, "PrometheusRule", f"{name}: {rule['alert']}", MAPPED, target="spec.alertRules")
    if not rules:
        ns.spec.pop("alertRules")


def _alert(ns: Namespace, rel: str, part: documents.Part, path: tuple, rule: dict[str, Any]) -> dict[str, Any]:
    labels = {str(k): str(v) for k, v in (rule.get("labels") or {}).items()}
    notes = {str(k): str(v) for k, v in (rule.get("annotations") or {}).items()}
    raw = labels.pop("severity", None)
    severity, note = normalise.severity(raw)
    ns.normalised(
        rel, part.line(path + ("labels", "severity")), "alertRules.severity", "alert-severity", raw, severity, note
    )
    if raw and note and "routing key" in note:
        labels["receiver"] = str(raw)
    out: dict[str, Any] = {"alert": str(rule["alert"]), "expr": str(rule.get("expr", "")).strip()}
    if rule.get("for"):
        out["for"] = str(rule["for"])
    out["severity"] = severity
    summary = notes.pop("summary", None) or notes.pop("message", None)
    if summary:
        out["summary"] = summary
    if notes.get("description"):
        out["description"] = notes.pop("description")
    if labels:
        out["labels"] = labels
    if notes:
        out["annotations"] = notes
    return out


def _servicemonitor(ns: Namespace, rel: str, part: documents.Part, data: dict[str, Any], name: str) -> None:
    spec = data.get("spec") or {}
    selector = {str(k): str(v) for k, v in ((spec.get("selector") or {}).get("matchLabels") or {}).items()}
    endpoints = spec.get("endpoints") or []
    for i, endpoint in enumerate(endpoints):
        line = part.line(("spec", "endpoints", i))
        port = endpoint.get("port") or endpoint.get("targetPort")
        target_name = normalise.to_name(name if len(endpoints) == 1 else f"{name}-{i + 1}")
        if port is None or not normalise.is_name(target_name):
            ns.skip(rel, line, "ServiceMonitor", name, "invalid-value", "an endpoint with no port")
            continue
        target: dict[str, Any] = {"name": target_name, "port": str(port)}
        if selector:
            target["selector"] = selector
        if endpoint.get("path"):
            target["path"] = str(endpoint["path"])
        if endpoint.get("interval"):
            target["interval"] = str(endpoint["interval"])
        ns.spec.setdefault("scrape", []).append(target)
        ns.entry(rel, line, "ServiceMonitor", name, MAPPED, target="spec.scrape")


def _certificate(ns: Namespace, rel: str, part: documents.Part, data: dict[str, Any], name: str) -> None:
    spec = data.get("spec") or {}
    names = list(spec.get("dnsNames") or [])
    if spec.get("commonName") and spec["commonName"] not in names:
        names.insert(0, spec["commonName"])
    if not names:
        ns.skip(rel, part.line(), "Certificate", name, "invalid-value", "a Certificate with no DNS names")
    for i, raw in enumerate(names):
        line = part.line(("spec", "dnsNames", i))
        host, note = normalise.hostname(raw)
        if host is None:
            ns.skip(rel, line, "Certificate", f"{name}: {raw}", "invalid-value", note or "")
            continue
        ns.normalised(rel, line, "spec.hosts", "hostname", raw, host, note)
        if any(c.value == host for c in ns.hosts):
            ns.entry(
                rel,
                line,
                "Certificate",
                f"{name}: {host}",
                DEFAULT,
                target="spec.hosts",
                detail="already listed by another certificate of this namespace",
            )
            continue
        ns.hosts.append(Claim(host, rel, line, "Certificate", f"{name}: {host}"))


# --- Terraform ------------------------------------------------------------------------


def _terraform(ns: Namespace, rel: str, text: str) -> None:
    try:
        blocks = terraform.parse(text, file=rel)
    except terraform.ParseError as e:
        ns.skip(rel, e.line, "TerraformFile", rel, "parse-error", f"{rel}:{e.line}:{e.column}: {e}")
        return
    services = ns.spec.setdefault("backingServices", {})
    for block in blocks:
        if block.block == "resource":
            ns.skip(
                rel,
                block.line,
                "TerraformResource",
                block.name,
                "terraform-resource",
                f"a plain Terraform resource ({block.name.split('.')[0]}); only Cloud Platform modules are read",
            )
            continue
        _module(ns, rel, block, services)
    if not services:
        ns.spec.pop("backingServices")


def _module(ns: Namespace, rel: str, block: terraform.Block, services: dict[str, Any]) -> None:
    kind = terraform.classify(block.source)
    label = f"{block.name} ({kind.module})"
    if kind.backing is None:
        ns.skip(rel, block.line, "TerraformModule", label, "unmapped-module", kind.why)
        return
    value, notes, why = terraform.backing_service(block, kind)
    if value is None:
        ns.skip(rel, block.line, "TerraformModule", label, "unsupported-engine", why)
        return
    service = normalise.to_name(block.name) or kind.backing
    base, n = service, 2
    while service in services:
        service, n = f"{base[:60]}-{n}", n + 1
    if service != block.name:
        ns.normalised(
            rel,
            block.line,
            "spec.backingServices",
            "service-name",
            block.name,
            service,
            f"the module name '{block.name}' is not a Civic name"
            if service == normalise.to_name(block.name)
            else "another backing service has that name",
        )
    for note in notes:
        ns.normalised(
            rel,
            block.line,
            f"spec.backingServices.{service}",
            "backing-service",
            kind.module,
            value.get("class", "small"),
            note,
        )
    services[service] = value
    ns.entry(
        rel,
        block.line,
        "TerraformModule",
        label,
        MAPPED,
        target=f"spec.backingServices.{service}",
        detail=f"{kind.backing}, {kind.module} {kind.ref}".strip(),
    )


_HANDLERS = {
    "RoleBinding": _rolebinding,
    "ResourceQuota": _quota,
    "LimitRange": _limitrange,
    "NetworkPolicy": _networkpolicy,
    "PrometheusRule": _prometheusrule,
    "ServiceMonitor": _servicemonitor,
    "Certificate": _certificate,
}
