"""The MoJ's own namespace objects against what Civic renders for the imported environment.

For one namespace, :func:`compare` takes the objects of the folder's own YAML files
(Namespace, RoleBindings, LimitRange, ResourceQuota, NetworkPolicies, in whatever file
the MoJ put them; :mod:`civic.control.moj_check` reads them as the importer does) and
Civic's rendering of the environment imported from them, and lists each
:class:`Difference`: a Namespace label
or annotation, a RoleBinding subject, a LimitRange or quota value, a source the network
policies admit. Each has a ``category`` with the namespace's own values taken out, so
that docs/kubernetes.md can explain every category once and the test can check that
nothing unexplained appears. Called by scripts/compare-moj and the tests. Pure.
"""

from __future__ import annotations

import dataclasses
import operator
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from civic.spec import quantities

Obj = Mapping[str, Any]


@dataclasses.dataclass(frozen=True, order=True)
class Difference:
    namespace: str
    kind: str
    what: str  # e.g. "label cloud-platform.justice.gov.uk/is-production"
    moj: str  # the original's value ("-" when absent)
    civic: str  # Civic's value ("-" when absent)

    @property
    def category(self) -> tuple[str, str, str]:
        """(kind, what, how): how is missing (only the MoJ has it), extra (only Civic) or
        changed; ``what`` without the namespace's own names (teams, other environments)."""
        how = "missing" if self.civic == "-" else "extra" if self.moj == "-" else "changed"
        return (self.kind, _general(self.what), how)

    def __str__(self) -> str:
        return f"{self.namespace}: {self.kind} {self.what}: MoJ {self.moj}, Civic {self.civic}"


def _general(what: str) -> str:
    what = re.sub(r"^(subject Group github:)\S+", r"\1<team>", what)
    what = re.sub(r"^(subject .* -> )Role \S+$", r"\1<a Role of the namespace>", what)
    what = re.sub(
        r"^admits namespace (?!ingress-controllers$|monitoring$).*", "admits namespace <an environment>", what
    )
    return re.sub(r"^admits (pods|namespaces) \{.*", r"admits \1 by label", what)


def _of(objects: Iterable[Obj], kind: str) -> list[Obj]:
    return [o for o in objects if o and o.get("kind") == kind]


def _pairs(
    ns: str,
    kind: str,
    prefix: str,
    moj: Mapping[str, Any],
    civic: Mapping[str, Any],
    same: Callable[[Any, Any], bool] = operator.eq,
) -> list[Difference]:
    out = []
    for key in sorted(set(moj) | set(civic)):
        a, b = moj.get(key), civic.get(key)
        if a is None or b is None or not same(a, b):
            out.append(
                Difference(ns, kind, f"{prefix} {key}", "-" if a is None else str(a), "-" if b is None else str(b))
            )
    return out


def _quantity_equal(a: Any, b: Any) -> bool:
    try:
        return (
            quantities.bytes_(str(a)) == quantities.bytes_(str(b))
            if str(a)[-1:] in "iGMK" or str(b)[-1:] in "iGMK"
            else quantities.millicores(str(a)) == quantities.millicores(str(b))
        )
    except ValueError:
        return str(a) == str(b)


def _metadata(objs: list[Obj], field: str) -> dict[str, Any]:
    return dict((objs[0].get("metadata") or {}).get(field) or {}) if objs else {}


def _subjects(objs: list[Obj]) -> dict[str, str]:
    return {f"{s.get('kind')} {s.get('name')} -> {_role(o)}": "bound" for o in objs for s in o.get("subjects") or []}


def _role(binding: Obj) -> str:
    """The bound role's name; a namespace's own Role is marked so (Civic binds ClusterRoles only)."""
    ref = binding.get("roleRef") or {}
    return f"Role {ref.get('name', '')}" if ref.get("kind") == "Role" else str(ref.get("name", ""))


def _limits(objs: list[Obj]) -> dict[str, Any]:
    out = {}
    for o in objs:
        for item in (o.get("spec") or {}).get("limits") or []:
            for field in ("default", "defaultRequest", "max", "min"):
                for resource, value in (item.get(field) or {}).items():
                    out[f"{item.get('type')}.{field}.{resource}"] = value
    return out


def _sources(objs: list[Obj], aliases: Mapping[str, str]) -> dict[str, str]:
    """What the ingress rules admit, one entry per source: 'same namespace', 'namespace X'."""
    out = {}
    for o in objs:
        spec = o.get("spec") or {}
        if spec.get("podSelector") not in ({}, None):
            out[f"pods {spec['podSelector']}"] = o["metadata"]["name"]
            continue
        for rule in spec.get("ingress") or []:
            for source in rule.get("from") or []:
                out[_source(source, aliases)] = "allowed"
    return out


def _source(source: Obj, aliases: Mapping[str, str]) -> str:
    if "namespaceSelector" not in source:
        return "same namespace" if source.get("podSelector") == {} else f"pods {source.get('podSelector')}"
    labels = (source["namespaceSelector"] or {}).get("matchLabels") or {}
    for key in ("kubernetes.io/metadata.name", "cloud-platform.justice.gov.uk/namespace", "name"):
        if key in labels:
            return f"namespace {labels[key]}"
    if "component" in labels:
        return f"namespace {aliases.get(labels['component'], labels['component'])}"
    return f"namespaces {labels}"


def compare(
    namespace: str, moj: Sequence[Obj], civic: Sequence[Obj], *, aliases: Mapping[str, str] | None = None
) -> list[Difference]:
    """Every difference between the MoJ's objects and Civic's for one namespace.
    ``aliases`` maps the MoJ's ``component`` namespace labels to namespace names."""
    aliases = aliases or {}
    out: list[Difference] = []
    for field in ("labels", "annotations"):
        out += _pairs(
            namespace,
            "Namespace",
            field[:-1],
            _metadata(_of(moj, "Namespace"), field),
            _metadata(_of(civic, "Namespace"), field),
        )
    out += _pairs(
        namespace, "RoleBinding", "subject", _subjects(_of(moj, "RoleBinding")), _subjects(_of(civic, "RoleBinding"))
    )
    out += _pairs(
        namespace,
        "LimitRange",
        "limit",
        _limits(_of(moj, "LimitRange")),
        _limits(_of(civic, "LimitRange")),
        same=_quantity_equal,
    )
    hard = [
        dict((o.get("spec") or {}).get("hard") or {})
        for objs in (_of(moj, "ResourceQuota"), _of(civic, "ResourceQuota"))
        for o in (objs[:1] or [{}])
    ]
    out += _pairs(namespace, "ResourceQuota", "hard", hard[0], hard[1], same=_quantity_equal)
    out += _pairs(
        namespace,
        "NetworkPolicy",
        "admits",
        _sources(_of(moj, "NetworkPolicy"), aliases),
        _sources(_of(civic, "NetworkPolicy"), aliases),
        same=lambda a, b: True,
    )
    return sorted(out)


CIVIC_OWN = "Civic's own name for the same fact (civic.dev/...); the MoJ's name is rendered too"
EXPLAINED: dict[tuple[str, str, str], str] = {
    **{
        ("Namespace", f"annotation civic.dev/{k}", "extra"): CIVIC_OWN
        for k in (
            "application",
            "business-unit",
            "owner",
            "review-after",
            "service-area",
            "slack-channel",
            "source-code",
        )
    },
    **{
        ("Namespace", f"label civic.dev/{k}", "extra"): CIVIC_OWN
        for k in ("environment", "environment-name", "is-production", "team")
    },
    (
        "Namespace",
        "label app.kubernetes.io/managed-by",
        "extra",
    ): "Civic marks what it manages; pruning and the admission bindings select by it",
    **{
        (
            "Namespace",
            f"label pod-security.kubernetes.io/{k}",
            "extra",
        ): "Civic also audits and warns at 'restricted', pinned to the target version, besides enforcing it"
        for k in ("audit", "warn", "enforce-version")
    },
    (
        "Namespace",
        "annotation cloud-platform.justice.gov.uk/team-name",
        "extra",
    ): "the MoJ file lacks it; Civic always names the owning team",
    (
        "Namespace",
        "annotation cloud-platform.justice.gov.uk/team-name",
        "changed",
    ): "the MoJ's value lists several teams, or is a display name: the importer names the GitHub team the "
    "namespace's bindings name (or one that needs an owner), and the import report says so",
    (
        "Namespace",
        "annotation cloud-platform.justice.gov.uk/review-after",
        "missing",
    ): "the MoJ file has an empty value; Civic writes no empty annotation",
    (
        "Namespace",
        "annotation cloud-platform.justice.gov.uk/slack-channel",
        "changed",
    ): "the importer normalises the channel to '#name', one spelling for alert routing",
    (
        "Namespace",
        "annotation cloud-platform.justice.gov.uk/source-code",
        "changed",
    ): "the importer keeps the first of several comma-separated URLs (spec.sourceCode is one URL)",
    (
        "Namespace",
        "annotation cloud-platform.justice.gov.uk/owner",
        "changed",
    ): "the importer trims the trailing space and colon of an owner with no address",
    (
        "Namespace",
        "label cloud-platform.justice.gov.uk/environment-name",
        "changed",
    ): "the importer normalises environment names (dev -> development, prod -> production)",
    (
        "NetworkPolicy",
        "admits namespace <an environment>",
        "missing",
    ): "the namespace it admits is not in this corpus, so the import could not check it exists; "
    "the report lists it and an estate adds spec.network.allowFrom when it does",
    **{
        (
            "ResourceQuota",
            f"hard {k}",
            "extra",
        ): "Civic's platform default quota (civic.yaml defaults.quota); the MoJ quota counts pods only"
        for k in ("count/deployments.apps", "limits.cpu", "limits.memory")
    },
    **{
        (
            "RoleBinding",
            f"subject Group github:<team> -> {role}",
            "missing",
        ): "a cluster-specific ClusterRole the MoJ defines; Civic grants only admin, edit and view"
        for role in ("calico-network-policy-access",)
    },
    (
        "RoleBinding",
        "subject ServiceAccount default -> admin",
        "missing",
    ): "Civic grants roles to teams, never to a service account (policy access-teams-only)",
    (
        "RoleBinding",
        "subject Group github:<team> -> <a Role of the namespace>",
        "missing",
    ): "a Role the namespace defines itself (its own verbs); Civic grants only admin, edit and view, so the "
    "team gets less, never more, and the import report lists the binding as custom-role",
}
"""Every kind of difference the corpus shows, and why Civic's rendering is right."""
