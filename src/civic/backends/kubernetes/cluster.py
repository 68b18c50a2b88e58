"""The apply engine: rendered objects onto a cluster with server-side apply, and back.

:func:`sync` converges one environment: the Namespace first, then each ApplySet's
parent (recording the union of old and new group-kinds, as kubectl does), the members
in dependency order (server-side apply, field manager ``civic``), then pruning of
members that are no longer rendered, newest-first, and the parents' final state.
With ``dry_run`` it changes nothing and says what it would do, field by field, and
which changes are drift (another manager changed a field Civic sets).

It never touches what another tool owns: an object of the same name without this
ApplySet's ``part-of`` label is reported and left alone, and pruning only considers
objects carrying the label. Kinds the cluster does not serve (a missing CRD) are
reported as missing capabilities and not sent. :func:`sync_estate` applies only the
environments whose rendered digest differs from the one recorded on their parent,
so the requests grow with the change, not with the estate. :func:`sync_policies`
converges the cluster-wide admission policies the same way, as one platform ApplySet
whose parent lives in ``civic-system`` (one GET when nothing changed). Called by the
backend and the CLI.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from typing import Any

from civic.backends.kubernetes import admission, drift, health, ownership, rendering
from civic.backends.kubernetes import client as client_mod
from civic.backends.kubernetes.manifests import Obj
from civic.errors import BackendError, PlanError

PENDING = "pending"


@dataclasses.dataclass(frozen=True)
class Outcome:
    """What happened (or would) to one object."""

    kind: str
    namespace: str
    name: str
    verb: str  # create, update, unchanged, prune, foreign, missing-capability, delete
    changes: tuple[drift.Change, ...] = ()
    detail: str = ""

    @property
    def ref(self) -> str:
        return f"{self.kind} {self.namespace}/{self.name}" if self.namespace else f"{self.kind} {self.name}"


@dataclasses.dataclass
class Report:
    environment: str
    outcomes: list[Outcome] = dataclasses.field(default_factory=list)
    missing: set[str] = dataclasses.field(default_factory=set)
    skipped: bool = False  # unchanged since the last apply (digest matched)
    platform: bool = False  # a platform ApplySet (the admission policies), not an environment
    notes: list[str] = dataclasses.field(default_factory=list)

    def count(self, verb: str) -> int:
        return sum(1 for o in self.outcomes if o.verb == verb)

    @property
    def drift(self) -> list[Outcome]:
        return [o for o in self.outcomes if any(c.owner for c in o.changes)]


def _ref(obj: Obj) -> tuple[str, str, str]:
    meta = obj["metadata"]
    return obj["kind"], meta.get("namespace", ""), meta["name"]


class _Sync:
    def __init__(
        self, api: client_mod.Client, rendered: rendering.Rendered, *, dry_run: bool, manage_services: bool
    ) -> None:
        self.api, self.rendered, self.dry_run = api, rendered, dry_run
        self.manage_services = manage_services
        self.report = Report(rendered.environment)
        self.inventory: dict[str, dict[str, Obj]] = {}  # group-kind -> name -> live object
        self.foreign: set[tuple[str, str, str]] = set()  # refs left to another tool

    async def resource(self, obj: Obj) -> client_mod.Resource | None:
        found = await self.api.resource(obj["apiVersion"], obj["kind"])
        if found is None:
            self.report.missing.add(f"{obj['apiVersion']} {obj['kind']}")
        return found

    async def run(self) -> Report:
        namespace = self.rendered.namespace
        ns_resource = await self.resource(namespace)
        if ns_resource is None:
            raise BackendError("the cluster serves no v1 Namespace; is the server a Kubernetes API server?")
        live_ns = await self.api.get(ns_resource, namespace["metadata"]["name"])
        if live_ns and live_ns["metadata"].get("labels", {}).get(ownership.MANAGED_BY) != ownership.MANAGER:
            self.report.outcomes.append(
                Outcome(
                    "Namespace",
                    "",
                    self.rendered.environment,
                    "foreign",
                    detail="the namespace exists and is not Civic's; nothing applied",
                )
            )
            return self.report
        if self.dry_run and live_ns is None:  # nothing to compare with: everything is new
            for obj in [namespace] + [m for s in self.rendered.sets for m in s.members]:
                if await self.resource(obj):
                    self.report.outcomes.append(Outcome(*_ref(obj), "create"))
            self._report_missing()
            return self.report
        await self.put(ns_resource, namespace, live_ns, force=True)
        parents = await self.live_parents(bool(live_ns))
        sets = list(self.rendered.sets)
        orphans = [
            p
            for name, p in parents.items()
            if self.manage_services and name not in {s.parent["metadata"]["name"] for s in sets}
        ]
        served = {s.id: [m for m in s.members if await self.resource(m)] for s in sets}
        for applyset in sets:
            previous = parents.get(applyset.parent["metadata"]["name"])
            kinds = _kinds(served[applyset.id]) | _declared(previous)
            await self.put_parent(
                applyset.parent,
                previous,
                kinds,
                PENDING if previous is None or _digest(previous) != applyset.digest else applyset.digest,
            )
        await self.take_inventory(
            set().union(*(_kinds(m) for m in served.values()), *(_declared(p) for p in parents.values()))
        )
        for applyset in sets:
            for member in served[applyset.id]:
                await self.apply_member(applyset.id, member)
        for applyset in sets:
            await self.prune(applyset.id, {_ref(m) for m in served[applyset.id]})
        for parent in orphans:
            await self.prune(parent["metadata"]["labels"][ownership.PARENT_ID], set())
            await self.delete(parent)
        complete = not self.foreign  # else the next run looks again, and reports them again
        for applyset in sets:
            await self.put_parent(
                applyset.parent,
                parents.get(applyset.parent["metadata"]["name"]),
                _kinds(served[applyset.id]),
                applyset.digest if complete else PENDING,
            )
        self._report_missing()
        return self.report

    def _report_missing(self) -> None:
        for missing in sorted(self.report.missing):
            api_version, kind = missing.split(" ")
            namespace = next(
                (
                    m["metadata"].get("namespace", "")
                    for s in self.rendered.sets
                    for m in s.members
                    if m["kind"] == kind
                ),
                self.rendered.environment,
            )  # "": cluster-wide
            how = (
                "it needs Kubernetes 1.30 or later (is kubernetesVersion in civic.yaml right?)"
                if api_version == admission.API_VERSION
                else "install its CRD (operator) to get these objects"
            )
            self.report.outcomes.append(
                Outcome(
                    kind,
                    namespace,
                    "*",
                    "missing-capability",
                    detail=f"the cluster does not serve {api_version} {kind}; {how}",
                )
            )

    async def live_parents(self, namespace_exists: bool) -> dict[str, Obj]:
        if not namespace_exists:
            return {}
        configmaps = await self.resource(self.rendered.sets[0].parent)
        assert configmaps is not None
        found = await self.api.list(
            configmaps,
            namespace=self.rendered.environment,
            selector=f"{ownership.APPLYSET_ROLE},{ownership.MANAGED_BY}={ownership.MANAGER}",
        )
        return {p["metadata"]["name"]: p for p in found}

    async def put_parent(self, parent: Obj, previous: Obj | None, kinds: set[str], digest: str) -> None:
        annotations = parent["metadata"]["annotations"] | {
            ownership.ANN_GROUP_KINDS: ",".join(sorted(kinds)),
            ownership.DESIRED_HASH: digest,
        }
        wanted = parent | {"metadata": parent["metadata"] | {"annotations": annotations}}
        if previous and previous["metadata"].get("annotations", {}) == annotations:
            return
        resource = await self.resource(parent)
        assert resource is not None
        if not self.dry_run:
            await self.api.apply(resource, wanted, force=True)

    async def take_inventory(self, group_kinds: Iterable[str]) -> None:
        for group_kind in sorted(group_kinds):
            kind, _, group = group_kind.partition(".")
            resource = await self._resource_for(kind, group)
            if resource is None:
                continue
            items = await self.api.list(resource, namespace=self.rendered.environment)
            self.inventory[group_kind] = {o["metadata"]["name"]: o for o in items}

    async def _resource_for(self, kind: str, group: str) -> client_mod.Resource | None:
        for obj in [m for s in self.rendered.sets for m in s.members]:
            if obj["kind"] == kind and ownership.group_kind(obj) == (f"{kind}.{group}" if group else kind):
                return await self.api.resource(obj["apiVersion"], kind)
        for api_version in _KNOWN.get((kind, group), ()):
            return await self.api.resource(api_version, kind)
        return None

    async def apply_member(self, set_id: str, member: Obj) -> None:
        kind, namespace, name = _ref(member)
        live = self.inventory.get(ownership.group_kind(member), {}).get(name)
        if live is not None and live["metadata"].get("labels", {}).get(ownership.PART_OF) != set_id:
            managers = sorted({f.get("manager", "?") for f in live["metadata"].get("managedFields") or []})
            hint = (
                "Remove the other object, or turn the policy off in the estate (a PolicyOverride with enabled: false)."
                if not namespace
                else "Rename the service or remove the other object."
            )
            self.foreign.add((kind, namespace, name))
            self.report.outcomes.append(
                Outcome(
                    kind,
                    namespace,
                    name,
                    "foreign",
                    detail=(
                        "exists and belongs to another tool"
                        + (f" ({', '.join(managers)})" if managers else "")
                        + f"; left alone. {hint}"
                    ),
                )
            )
            return
        policy = member.get("spec", {}).get("policyName") if kind == "ValidatingAdmissionPolicyBinding" else None
        if ("ValidatingAdmissionPolicy", "", policy) in self.foreign:  # applied first (rank), so known by now
            self.report.outcomes.append(
                Outcome(
                    kind,
                    namespace,
                    name,
                    "foreign",
                    detail=(
                        f"not applied: it would bind ValidatingAdmissionPolicy {policy}, which belongs to another tool."
                    ),
                )
            )
            return
        resource = await self.resource(member)
        assert resource is not None
        await self.put(resource, member, live, force=True)

    async def put(self, resource: client_mod.Resource, obj: Obj, live: Obj | None, *, force: bool) -> None:
        kind, namespace, name = _ref(obj)
        result = await self.api.apply(resource, obj, force=force, dry_run=self.dry_run)
        found = drift.changes(live, result, obj)
        verb = "create" if live is None else ("update" if found else "unchanged")
        self.report.outcomes.append(Outcome(kind, namespace, name, verb, tuple(found) if live else ()))

    async def prune(self, set_id: str, keep: set[tuple[str, str, str]]) -> None:
        doomed = [
            o
            for items in self.inventory.values()
            for o in items.values()
            if o["metadata"].get("labels", {}).get(ownership.PART_OF) == set_id and _ref(o) not in keep
        ]
        for obj in sorted(doomed, key=rendering.rank, reverse=True):
            await self.delete(obj)

    async def delete(self, obj: Obj) -> None:
        kind, namespace, name = _ref(obj)
        resource = await self.api.resource(obj["apiVersion"], kind)
        if resource is not None and not self.dry_run:
            await self.api.delete(resource, name, namespace)
        self.report.outcomes.append(Outcome(kind, namespace, name, "prune"))


# Kinds a parent may list that the current render no longer has: where to find them.
_KNOWN = {
    (kind, group): (api_version,)
    for api_version, kind in (
        ("v1", "ConfigMap"),
        ("v1", "Secret"),
        ("v1", "Service"),
        ("v1", "LimitRange"),
        ("v1", "ResourceQuota"),
        ("apps/v1", "Deployment"),
        ("rbac.authorization.k8s.io/v1", "RoleBinding"),
        ("networking.k8s.io/v1", "NetworkPolicy"),
        ("networking.k8s.io/v1", "Ingress"),
        ("autoscaling/v2", "HorizontalPodAutoscaler"),
        ("policy/v1", "PodDisruptionBudget"),
        ("monitoring.coreos.com/v1", "ServiceMonitor"),
        ("monitoring.coreos.com/v1", "PrometheusRule"),
        ("external-secrets.io/v1", "ExternalSecret"),
        (admission.API_VERSION, "ValidatingAdmissionPolicy"),
        (admission.API_VERSION, "ValidatingAdmissionPolicyBinding"),
    )
    for group in [api_version.rpartition("/")[0]]
}


def _kinds(members: Iterable[Obj]) -> set[str]:
    return {ownership.group_kind(m) for m in members}


def _declared(parent: Obj | None) -> set[str]:
    if parent is None:
        return set()
    return ownership.split_group_kinds(parent["metadata"].get("annotations", {}).get(ownership.ANN_GROUP_KINDS))


def _digest(parent: Obj | None) -> str | None:
    return (parent or {}).get("metadata", {}).get("annotations", {}).get(ownership.DESIRED_HASH)


async def sync(
    api: client_mod.Client, rendered: rendering.Rendered, *, dry_run: bool = False, manage_services: bool = True
) -> Report:
    """Converge one environment (or, with ``dry_run``, say what converging would do)."""
    return await _Sync(api, rendered, dry_run=dry_run, manage_services=manage_services).run()


async def recorded_digests(api: client_mod.Client) -> dict[str, str]:
    """Each Civic environment on the cluster and the digest its last complete apply recorded."""
    configmaps = await api.resource("v1", "ConfigMap")
    assert configmaps is not None
    found = await api.list(
        configmaps, selector=f"{ownership.APPLYSET_ROLE}=environment,{ownership.MANAGED_BY}={ownership.MANAGER}"
    )
    return {p["metadata"]["namespace"]: _digest(p) or "" for p in found}


async def civic_namespaces(api: client_mod.Client) -> dict[str, Obj]:
    """The environments' namespaces Civic manages on the cluster (not its platform namespace)."""
    namespaces = await api.resource("v1", "Namespace")
    assert namespaces is not None
    found = await api.list(namespaces, selector=f"{ownership.MANAGED_BY}={ownership.MANAGER},!{ownership.PLATFORM}")
    return {n["metadata"]["name"]: n for n in found if n["metadata"]["name"] != ownership.PLATFORM_NAMESPACE}


async def recorded_digest(api: client_mod.Client, rendered: rendering.Rendered) -> str | None:
    """The digest a platform ApplySet's last complete apply recorded on its parent (one GET)."""
    (applyset,) = rendered.sets
    configmaps = await api.resource("v1", "ConfigMap")
    assert configmaps is not None
    meta = applyset.parent["metadata"]
    return _digest(await api.get(configmaps, meta["name"], meta["namespace"]))


async def sync_policies(
    api: client_mod.Client, enforced: admission.Admission, *, dry_run: bool = False, everything: bool = False
) -> Report:
    """Converge the admission policies (the platform ApplySet in ``civic-system``).

    Skipped when the digest recorded on the parent matches the render. A target older
    than Kubernetes 1.30 has no VAP v1: reported as a missing capability, nothing sent or
    pruned. Policies that cannot run in an API server become the report's notes.
    """
    notes = [
        f"policy '{name}' is not enforced in the cluster: {why}."
        for name, why in enforced.skipped
        if why != admission.OWN_KINDS
    ]
    own = sum(1 for _, why in enforced.skipped if why == admission.OWN_KINDS)
    if own:
        notes.append(
            f"{own} policies judge Civic's own kinds (Environment, Service...): civic plan checks them, "
            "not the cluster."
        )
    if enforced.missing:
        return Report(
            ownership.PLATFORM_NAMESPACE,
            [Outcome("ValidatingAdmissionPolicy", "", "*", "missing-capability", detail=enforced.missing)],
            missing={f"{admission.API_VERSION} ValidatingAdmissionPolicy"},
            platform=True,
            notes=notes,
        )
    rendered = rendering.admission_set(enforced.objects)
    if not everything and await recorded_digest(api, rendered) == rendered.digest:
        return Report(rendered.environment, skipped=True, platform=True, notes=notes)
    # manage_services=False: other platform ApplySets' parents in civic-system are not this set's to prune
    report = await sync(api, rendered, dry_run=dry_run, manage_services=False)
    report.platform, report.notes = True, notes
    return report


async def sync_estate(
    api: client_mod.Client,
    renders: Sequence[tuple[rendering.Rendered, bool]],
    *,
    dry_run: bool = False,
    everything: bool = False,
    delete_others: bool = True,
    allow_delete_production: bool = False,
    policies: admission.Admission | None = None,
) -> list[Report]:
    """Converge every environment on one cluster; skip those whose digest is unchanged.

    ``renders`` pairs each environment's render with whether its services are known
    (and so may be pruned). Civic namespaces no longer in the estate are deleted,
    except production ones unless ``allow_delete_production``; ``civic-system`` never
    is. ``policies`` (given when the whole cluster is applied) go first, so that the
    guardrails are in place before the workloads they judge; None leaves them alone.
    """
    reports = []
    if policies is not None:
        reports.append(await sync_policies(api, policies, dry_run=dry_run, everything=everything))
    recorded = await recorded_digests(api)
    for rendered, manage_services in renders:
        if not everything and recorded.get(rendered.environment) == rendered.digest:
            reports.append(Report(rendered.environment, skipped=True))
            continue
        reports.append(await sync(api, rendered, dry_run=dry_run, manage_services=manage_services))
    if delete_others:
        reports += await _delete_others(
            api, {r.environment for r, _ in renders}, dry_run=dry_run, allow_production=allow_delete_production
        )
    return reports


async def _delete_others(
    api: client_mod.Client, wanted: set[str], *, dry_run: bool, allow_production: bool
) -> list[Report]:
    out = []
    namespaces = await api.resource("v1", "Namespace")
    assert namespaces is not None
    for name, obj in sorted((await civic_namespaces(api)).items()):
        if name in wanted:
            continue
        if obj["metadata"].get("labels", {}).get(ownership.PREFIX + "is-production") == "true" and not allow_production:
            raise PlanError(
                f"namespace '{name}' is a production environment that is no longer in the estate; "
                "deleting it needs --allow-delete-production."
            )
        if not dry_run:
            await api.delete(namespaces, name)
        out.append(Report(name, [Outcome("Namespace", "", name, "delete")]))
    return out


async def status(api: client_mod.Client, rendered: rendering.Rendered) -> list[tuple[Outcome, health.Verdict]]:
    """The health of every object the environment should have, as it is live."""
    out = []
    for obj in rendered.objects():
        kind, namespace, name = _ref(obj)
        resource = await api.resource(obj["apiVersion"], kind)
        if resource is None:
            out.append(
                (
                    Outcome(kind, namespace, name, "missing-capability"),
                    (health.Health.MISSING, f"the cluster does not serve {obj['apiVersion']} {kind}"),
                )
            )
            continue
        live = await api.get(resource, name, namespace or None)
        out.append((Outcome(kind, namespace, name, "observed"), health.judge(live)))
    return out


def summary(report: Report) -> dict[str, Any]:
    verbs = ("create", "update", "unchanged", "prune", "foreign", "delete")
    return {
        "environment": report.environment,
        "scope": "platform" if report.platform else "environment",
        "skipped": report.skipped,
        **{verb: report.count(verb) for verb in verbs},
        "missing": sorted(report.missing),
        "notes": list(report.notes),
    }
