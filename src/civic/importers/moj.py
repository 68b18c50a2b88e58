"""One namespace folder of cloud-platform-environments, read into a Civic environment.

:func:`read_namespace` takes the texts of a folder's files (``00-namespace.yaml`` ...
``resources/*.tf``) and returns a :class:`Namespace`: the environment's fields, the
teams it names, and an :class:`~civic.importers.report.Entry` for every object read,
mapped or skipped. What depends on the other namespaces (``allowFrom`` targets,
hostnames claimed twice, business-unit spellings) is left in ``pending`` for
:mod:`civic.importers.assembly`. Pure: texts in, values out.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Mapping
from typing import Any

import pydantic

from civic.importers import documents, normalise, terraform
from civic.importers.report import DEFAULT, KEPT_STRICTER, MAPPED, SKIPPED, Entry, Normalisation
from civic.spec import models, quantities

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
    label: str = ""  # an allowFrom claim: the namespace label its selector names it by


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
    channel_line: tuple[str, int] = ("", 0)  # where the slack-channel annotation is

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
        self.entries.append(
            Entry(self.name, file, line, kind, name, outcome, target, reason, detail, cluster=self.cluster)
        )

    def skip(self, file: str, line: int, kind: str, name: str, reason: str, detail: str) -> None:
        self.entry(file, line, kind, name, SKIPPED, reason=reason, detail=detail)

    def normalised(
        self, file: str, line: int, field: str, kind: str, original: Any, value: Any, note: str | None
    ) -> None:
        if note:
            self.normalisations.append(
                Normalisation(self.name, file, line, field, kind, original, value, note, cluster=self.cluster)
            )


def is_yaml(rel: str) -> bool:
    """Whether ``rel`` (a path in a namespace folder) is read as Kubernetes YAML: any name at the top.

    The MoJ's names vary (04-networkpolicy.yml, 02-limit-range.yaml); scripts/compare-moj reads the same.
    """
    return rel.endswith((".yaml", ".yml")) and "/" not in rel


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
        elif is_yaml(rel):
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
    kept = _namespace_labels(ns, labels)
    for key, value in sorted(values.items()):
        if key not in _MAPPED_META and key not in kept:
            ns.annotations[key] = str(value)
    ns.entry(rel, part.line(), "Namespace", ns.name, MAPPED, target="spec")


_LABELS = pydantic.TypeAdapter(dict[models.LabelKey, models.LabelValue])  # spec.namespaceLabels' own check


def _namespace_labels(ns: Namespace, labels: dict[str, Any]) -> set[str]:
    """The Namespace's own labels, kept as labels (other namespaces' network policies select
    by them); the ones Civic renders itself (Kubernetes' own, Pod Security) stay annotations."""
    out: dict[str, str] = {}
    for key, raw in sorted(labels.items()):
        value = str(raw).lower() if isinstance(raw, bool) else str(raw)
        if key in _MAPPED_META:
            continue
        try:
            _LABELS.validate_python({key: value})
        except pydantic.ValidationError:
            continue  # Kubernetes' own prefixes, or not a label Kubernetes takes: an annotation, as before
        out[key] = value
    if out:
        ns.spec["namespaceLabels"] = out
    return set(out)


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
        ns.channel_line = (rel, at(key))
        ns.normalised(
            rel, at(key), "spec.teamChannel", "slack-channel", raw, channel, "; ".join(n for n in (note, why) if n)
        )


# --- access ----------------------------------------------------------------------------


def _rolebinding(ns: Namespace, rel: str, part: documents.Part, data: dict[str, Any], name: str) -> None:
    ref = data.get("roleRef")
    ref = ref if isinstance(ref, dict) else {}
    role = str(ref.get("name", ""))
    if ref.get("kind") != "ClusterRole" and role in GRANT_ROLES:
        role = f"{ref.get('kind', 'Role')} {role}"  # a namespace's own Role named so is not the ClusterRole
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
        info["roles"].append((slug, role))  # which GitHub team had which role: assembly may keep them apart
        ns.entry(rel, line, "RoleBinding", label, MAPPED, target="spec.access")


def _owning_team(ns: Namespace) -> None:
    named = ns.annotations.pop("civic.import/team-name", "")
    team = _named_team(ns, named) if named else ""
    if not team:
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
    _owner_access(ns, team)


def _named_team(ns: Namespace, named: str) -> str:
    """The team a team-name annotation names: of several ('a,b'), the first one that a
    RoleBinding here makes admin, else the first bound at all, else the first."""
    names = [n for n in (normalise.to_name(p) for p in named.replace(";", ",").split(",")) if normalise.is_name(n)]
    if not names:
        return ""
    admins = {g["team"] for g in ns.spec.get("access", []) if "role" not in g}
    bound = [n for n in names if n in admins] or [n for n in names if ns.teams.get(n, {}).get("github")]
    team = (bound or names)[0]
    info = ns.teams.setdefault(team, {"github": set(), "roles": []})
    if len(names) == 1 and team != named:
        info["display"] = named
    note: str | None = None
    if len(names) > 1:
        why = "which a RoleBinding here names" if bound else "none is bound here, so the first"
        note = f"the team-name lists {len(names)} teams; '{team}', {why}, owns it"
    elif team != named:
        note = f"the team-name '{named}' is not a Civic name"
    ns.normalised("00-namespace.yaml", 0, "spec.team", "team-name", named, team, note)
    return team


def _owner_access(ns: Namespace, team: str) -> None:
    """Access only as the source grants it: an owner with no binding there gets none."""
    grants = ns.spec.get("access", [])
    if any(g["team"] == team for g in grants):
        return
    if not grants:
        ns.spec["ownerAccess"] = False
    ns.entry(
        "00-namespace.yaml",
        0,
        "RoleBinding",
        f"(owner {team})",
        KEPT_STRICTER,
        target="spec.ownerAccess" if not grants else "spec.access",
        detail=f"the owning team '{team}' has no admin, edit or view binding in the source, so it is granted "
        + ("nothing, and no one else is either: ownerAccess: false" if not grants else "nothing"),
    )


# --- quota, limits, network -----------------------------------------------------------

_QUOTA_KEYS = {
    "pods": "replicas",
    "count/pods": "replicas",
    "limits.cpu": "cpu",
    "cpu": "requestsCpu",  # Kubernetes: the plain names cap requests
    "requests.cpu": "requestsCpu",
    "limits.memory": "memory",
    "memory": "requestsMemory",
    "requests.memory": "requestsMemory",
}


def _quota(ns: Namespace, rel: str, part: documents.Part, data: dict[str, Any], name: str) -> None:
    """Civic's quota caps replicas, the limits of CPU and memory (``limits.*``) and their requests
    (``requests.*``, and the plain ``cpu`` and ``memory``, which Kubernetes counts as requests),
    each as its own field. Of two caps on one field (two keys, or two ResourceQuotas), the lower
    is kept, as Kubernetes enforces both."""
    hard = (data.get("spec") or {}).get("hard") or {}
    quota = ns.spec.setdefault("quota", {})
    valid = []
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
            size = _quota_size(field, converted)
        except ValueError as e:
            ns.skip(rel, line, "ResourceQuota", f"{name}: {key}", "invalid-value", str(e))
            continue
        valid.append((_quota_rank(key), key, field, converted, size, line))
    chosen: dict[str, str] = {}
    for rank, key, field, value, size, line in sorted(valid, key=lambda v: v[0]):
        label = f"{name}: {key}"
        if field in chosen and _quota_rank(chosen[field]) < rank:
            ns.skip(
                rel,
                line,
                "ResourceQuota",
                label,
                "no-equivalent",
                f"Civic's quota caps the limits only: '{key}: {value}' is not kept; "
                f"'{chosen[field]}' is spec.quota.{field}",
            )
            continue
        if field in quota and _quota_size(field, quota[field]) <= size:
            ns.skip(
                rel,
                line,
                "ResourceQuota",
                label,
                "duplicate",
                f"spec.quota.{field} is already {quota[field]} (lower), from another key or ResourceQuota",
            )
            continue
        if field in quota:
            _quota_retract(ns, field, value)
        quota[field] = value
        chosen[field] = key
        detail = ""
        ns.entry(rel, line, "ResourceQuota", label, MAPPED, target=f"spec.quota.{field}", detail=detail)
    if not quota:
        ns.spec.pop("quota")


def _quota_rank(key: str) -> int:
    return 1 if key.startswith("requests.") or key in ("cpu", "memory") else 0


def _quota_size(field: str, value: Any) -> int:
    if field in ("cpu", "requestsCpu"):
        return quantities.millicores(value)
    if field in ("memory", "requestsMemory"):
        return quantities.bytes_(value)
    return int(value)


def _quota_retract(ns: Namespace, field: str, value: Any) -> None:
    """A lower cap replaces one mapped before: that one's entry says so now."""
    target = f"spec.quota.{field}"
    for i, e in enumerate(ns.entries):
        if e.kind == "ResourceQuota" and e.outcome == MAPPED and e.target == target:
            ns.entries[i] = dataclasses.replace(
                e,
                outcome=SKIPPED,
                target="",
                reason="duplicate",
                detail=f"{target} is {value} (lower), from another key or ResourceQuota",
            )


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


# --- network ---------------------------------------------------------------------------

KUBERNETES_NAME = "kubernetes.io/metadata.name"
PLATFORM_NAMESPACES = {
    "allowIngress": {"component": "ingress-controllers", KUBERNETES_NAME: "ingress-controllers"},
    "allowMonitoring": {"component": "monitoring", KUBERNETES_NAME: "monitoring"},
}
"""The labels the platform's own namespaces carry (cloud-platform-infrastructure labels them
``component``; Kubernetes adds the name): a selector with some of these names that namespace."""
FLAGS = {
    "allowSameEnvironment": "the namespace's own pods",
    "allowIngress": "the ingress controllers",
    "allowMonitoring": "the monitoring namespace",
}
"""spec.network's namespace-wide switches, and who each admits."""
KEPT = "spec.network.extraPolicies"
KEPT_WHY = "spec.network cannot say that, so the object is kept as written and rendered as it is on Kubernetes"


def _networkpolicy(ns: Namespace, rel: str, part: documents.Part, data: dict[str, Any], name: str) -> None:
    """What ``spec.network`` can say exactly is mapped; a policy that says more (some pods,
    ports, addresses, custom labels, egress) is kept as written in ``extraPolicies``, which
    admits exactly what it admits on the MoJ's cluster. Never more open than the source."""
    spec: dict[str, Any] = data["spec"] if isinstance(data.get("spec"), dict) else {}
    api = str(data.get("apiVersion", ""))
    if not api.startswith("networking.k8s.io/"):
        _foreign_policy(ns, rel, part.line(), name, api, spec)
        return
    types = spec.get("policyTypes") or ["Ingress"] + (["Egress"] if "egress" in spec else [])
    keep = "Ingress" in types and not _ingress(ns, rel, part, spec, name)
    if "Egress" in types:
        rules = spec.get("egress") or []
        what, does = (
            ("egress rules", "restricts outgoing traffic") if rules else ("egress deny", "denies all outgoing traffic")
        )
        ns.entry(
            rel,
            part.line(("spec",)),
            "NetworkPolicy",
            f"{name} ({what})",
            KEPT_STRICTER,
            target=KEPT,
            detail=f"{does} from {_describe_pods(spec.get('podSelector'))}; Civic's network fields cover "
            f"ingress only: {KEPT_WHY}",
        )
        keep = True
    if keep:
        _keep(ns, rel, part.line(), name, spec)


def _ingress(ns: Namespace, rel: str, part: documents.Part, spec: dict[str, Any], name: str) -> bool:
    """Map a policy's ingress to spec.network; False when only the object as written says it."""
    network = ns.spec.setdefault("network", {})
    for flag in FLAGS:  # the source isolates its pods: Civic admits only what some policy admits
        network.setdefault(flag, False)
    selector, rules = spec.get("podSelector") or {}, spec.get("ingress") or []
    if not rules and not selector:
        ns.entry(
            rel,
            part.line(("spec",)),
            "NetworkPolicy",
            f"{name} (ingress deny)",
            MAPPED,
            target="spec.network",
            detail="denies all ingress to every pod of the namespace, as Civic's default-deny does; "
            "spec.network admits only what the namespace's other policies admit",
        )
        return True
    why = _inexpressible(selector, rules)
    if why:
        ns.entry(
            rel,
            part.line(("spec",)),
            "NetworkPolicy",
            f"{name} ({'ingress deny' if not rules else 'ingress'} to {_describe_pods(selector)})"
            if selector
            else name,
            KEPT_STRICTER,
            target=KEPT,
            detail=f"{why}: {KEPT_WHY}",
        )
        return False
    for i, rule in enumerate(rules):
        for j, peer in enumerate(rule["from"]):
            _peer(ns, rel, part.line(("spec", "ingress", i, "from", j)), name, peer)
    return True


def _inexpressible(selector: Any, rules: list[Any]) -> str:
    """Why spec.network cannot say what these ingress rules say exactly ("" when it can)."""
    if selector:
        return f"it applies to {_describe_pods(selector)} only" + ("" if rules else " and denies them all ingress")
    for rule in rules:
        if not isinstance(rule, dict) or not rule.get("from"):
            return "a rule with no 'from' admits every source, inside the cluster and out"
        if rule.get("ports"):
            ports = ", ".join(str(p.get("port", "?") if isinstance(p, dict) else p) for p in rule["ports"])
            return f"it admits some ports only ({ports})"
        for peer in rule["from"]:
            what, why = _peer_kind(peer)
            if not what:
                return why
    return ""


def _peer_kind(peer: Any) -> tuple[str, str]:
    """(the spec.network field a peer is, its value) or ("", why spec.network cannot name it)."""
    if not isinstance(peer, dict) or not peer or set(peer) - {"podSelector", "namespaceSelector", "ipBlock"}:
        return "", f"a peer the importer does not know ({peer})"
    if "ipBlock" in peer:
        return "", f"it admits addresses ({_describe_peer(peer)})"
    if peer.get("podSelector"):
        return "", f"it admits some pods only ({_describe_peer(peer)})"
    selector = peer.get("namespaceSelector")
    if selector is None:
        return "allowSameEnvironment", ""
    labels = selector.get("matchLabels") if isinstance(selector, dict) else None
    if not isinstance(labels, dict) or not labels or set(selector) != {"matchLabels"}:
        return "", f"it admits {_describe_peer(peer)}"
    labels = {str(k): str(v) for k, v in labels.items()}
    for flag, carried in PLATFORM_NAMESPACES.items():
        if labels.items() <= carried.items():
            return flag, ""
    if len(labels) == 1:
        (key, value), platform = next(iter(labels.items())), {c[KUBERNETES_NAME] for c in PLATFORM_NAMESPACES.values()}
        if key in NAMESPACE_LABELS and value not in platform:
            return "allowFrom", value
        if key in NAMESPACE_LABELS:
            return "", (
                f"it selects the platform's '{value}' namespace by {key}={value}, a label that namespace "
                f"need not carry (the platform labels it component={value})"
            )
    return "", f"it admits {_describe_peer(peer)}"


def _peer(ns: Namespace, rel: str, line: int, policy: str, peer: dict[str, Any]) -> None:
    field, value = _peer_kind(peer)
    label = f"{policy} (from {_describe_peer(peer)})"
    if field == "allowFrom":
        key = next(iter(peer["namespaceSelector"]["matchLabels"]))
        ns.allow_from.append(Claim(value, rel, line, "NetworkPolicy", label, label=key))
        return
    ns.spec["network"][field] = True
    ns.entry(
        rel,
        line,
        "NetworkPolicy",
        label,
        DEFAULT,
        target=f"spec.network.{field}",
        detail=f"admits {FLAGS[field]} to every pod, as Civic does by default",
    )


def _keep(ns: Namespace, rel: str, line: int, name: str, spec: dict[str, Any]) -> None:
    """The policy as written, under a name Civic does not render itself."""
    kept = ns.spec.setdefault("network", {}).setdefault("extraPolicies", [])
    base = normalise.to_name(name)[:58].rstrip("-") or "policy"
    if base in models.CIVIC_POLICIES or base.startswith("allow-from-"):
        base = f"kept-{base}"
    out, n = base, 2
    while out in {p["name"] for p in kept}:
        out, n = f"{base[:58].rstrip('-')}-{n}", n + 1
    kept.append({"name": out, "spec": copy.deepcopy(spec)})
    if out != name:
        ns.normalised(
            rel,
            line,
            KEPT,
            "policy-name",
            name,
            out,
            "Civic renders a policy of that name itself" if base.startswith("kept-") else "not a Civic name, or taken",
        )


def _foreign_policy(ns: Namespace, rel: str, line: int, name: str, api: str, spec: dict[str, Any]) -> None:
    ingress = "Ingress" in (spec.get("types") or []) or bool(spec.get("ingress"))
    ns.skip(
        rel,
        line,
        "NetworkPolicy",
        name,
        "no-equivalent",
        f"a {api or 'non-Kubernetes'} NetworkPolicy (Calico's own kind); Civic renders Kubernetes "
        "NetworkPolicies only, so "
        + (
            "its INGRESS rules are not carried over: check by hand that Civic admits nothing it denies"
            if ingress
            else "its egress rules are not carried over (Civic's network fields cover ingress only)"
        ),
    )


def _describe_pods(selector: Any) -> str:
    if not selector:
        return "every pod"
    return "pods labelled " + _describe_selector(selector)


def _describe_selector(selector: Any) -> str:
    if not isinstance(selector, dict):
        return str(selector)
    parts = [f"{k}={v}" for k, v in (selector.get("matchLabels") or {}).items()]
    for e in selector.get("matchExpressions") or []:
        values = ",".join(str(v) for v in e.get("values") or []) if isinstance(e, dict) else ""
        parts.append(f"{e.get('key')} {e.get('operator')} ({values})" if isinstance(e, dict) else str(e))
    return ", ".join(parts)


def _describe_peer(peer: dict[str, Any]) -> str:
    if "ipBlock" in peer:
        block = peer["ipBlock"] if isinstance(peer["ipBlock"], dict) else {}
        return f"ipBlock {block.get('cidr', '?')}" + (
            f" except {', '.join(block['except'])}" if block.get("except") else ""
        )
    pods, namespaces = peer.get("podSelector"), peer.get("namespaceSelector")
    if namespaces is None:
        return "pods of this namespace" if not pods else f"pods labelled {_describe_selector(pods)} of this namespace"
    labels = _describe_selector(namespaces)
    where = f"namespaces labelled {labels}" if labels else "every namespace"
    return where if not pods else f"pods labelled {_describe_selector(pods)} in {where}"


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


_SCRAPE_FIELDS = ("port", "targetPort", "path", "interval")


def _servicemonitor(ns: Namespace, rel: str, part: documents.Part, data: dict[str, Any], name: str) -> None:
    """A ServiceMonitor's or a PodMonitor's endpoints, each a ``spec.scrape`` target."""
    kind = str(data.get("kind", ""))
    spec = data.get("spec") or {}
    selector = {str(k): str(v) for k, v in ((spec.get("selector") or {}).get("matchLabels") or {}).items()}
    section = "podMetricsEndpoints" if kind == "PodMonitor" else "endpoints"
    endpoints = [e if isinstance(e, dict) else {} for e in spec.get(section) or []]
    taken = {t["name"] for t in ns.spec.get("scrape", [])}
    for i, endpoint in enumerate(endpoints):
        line = part.line(("spec", section, i))
        port = endpoint.get("port") or endpoint.get("targetPort")
        target_name = normalise.to_name(name if len(endpoints) == 1 else f"{name}-{i + 1}")
        if port is None or not normalise.is_name(target_name):
            ns.skip(rel, line, kind, name, "invalid-value", "an endpoint with no port")
            continue
        if target_name in taken:  # a ServiceMonitor and a PodMonitor of one name (intranet-*)
            suffix = "pods" if kind == "PodMonitor" else "services"
            original, target_name = target_name, normalise.to_name(f"{target_name[:54]}-{suffix}")
            ns.normalised(
                rel, line, "spec.scrape.name", "scrape-name", original, target_name, "another target has that name"
            )
        taken.add(target_name)
        target: dict[str, Any] = {"name": target_name, "port": str(port)}
        if selector:
            target["selector"] = selector
        if endpoint.get("path"):
            target["path"] = str(endpoint["path"])
        if endpoint.get("interval"):
            target["interval"] = str(endpoint["interval"])
        ns.spec.setdefault("scrape", []).append(target)
        dropped = sorted(str(k) for k in endpoint if k not in _SCRAPE_FIELDS)
        detail = "; ".join(
            d
            for d in (
                "a PodMonitor: its pod selector is the target's selector" if kind == "PodMonitor" else "",
                f"not kept: {', '.join(dropped)}" if dropped else "",
            )
            if d
        )
        ns.entry(rel, line, kind, name, MAPPED, target="spec.scrape", detail=detail)


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
    "PodMonitor": _servicemonitor,
    "Certificate": _certificate,
}
