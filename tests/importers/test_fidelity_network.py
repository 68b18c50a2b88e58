"""Never more open than the source: Civic's rendering of every imported namespace admits no
traffic that the MoJ's own NetworkPolicies deny (issue 14).

Both shared samples are imported once per session and every environment is rendered with
the Kubernetes backend (for a cluster set up as the MoJ's live cluster, as
:mod:`civic.control.moj_check` does). For each namespace, every (peer, port, target pod) is
judged twice by :class:`Evaluator`, once over Civic's NetworkPolicies and once over the
MoJ's: what Civic admits, the MoJ must admit too. Then one test per defect the issue names
(cis-pp, laa-info-and-advice-datastore-staging, onboarding-optimisation-dev,
justice-gov-uk-production) checks the report's word and the rendering.
"""

from __future__ import annotations

import dataclasses
import glob
import ipaddress
import os
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import pydantic
import pytest
import yaml

from civic.backends.kubernetes import inputs, manifests, ownership, rendering
from civic.control import moj_check
from civic.importers import importing
from civic.importers import report as report_mod
from civic.spec import estate, models

Labels = Mapping[str, str]
NAME = "kubernetes.io/metadata.name"
OTHER_PORT = ("TCP", 8080, "")
INGRESS = {NAME: "ingress-controllers", "component": "ingress-controllers"}
MONITORING = {NAME: "monitoring", "component": "monitoring"}
"""The platform's own namespaces, labelled as cloud-platform-infrastructure labels them."""
NAMED_BY = ("cloud-platform.justice.gov.uk/namespace", "name")
"""Labels the MoJ's selectors name a namespace by, besides Kubernetes' own."""


# --- a NetworkPolicy evaluator ----------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Pod:
    namespace: str
    namespace_labels: tuple[tuple[str, str], ...]
    labels: tuple[tuple[str, str], ...]

    @classmethod
    def of(cls, namespace: str, namespace_labels: Labels, labels: Labels) -> Pod:
        return cls(
            namespace, tuple(sorted({NAME: namespace, **namespace_labels}.items())), tuple(sorted(labels.items()))
        )


Port = tuple[str, int, str]  # (protocol, number or 0, name or "")


class Evaluator:
    """Kubernetes' ingress semantics for NetworkPolicies (networking.k8s.io/v1), written here
    because no library evaluates NetworkPolicies offline: the tools that do (Cilium's and
    Calico's policy engines, kubectl-np-viewer, Cyclonus) need a cluster or a CNI's dataplane.

    A pod selected by no ingress policy admits everything; a pod selected by some admits the
    union of their rules. A rule admits a connection when one of its ports matches (no ports:
    any) and one of its ``from`` peers does (no ``from``: any). A peer with both a
    namespaceSelector and a podSelector needs both; a podSelector alone means this namespace.
    Pods inside the cluster match an ipBlock only when it is 0.0.0.0/0 (or ::/0) with no
    ``except``. Policies of any other API (Calico's) are not this evaluator's: callers check
    that none of them restricts ingress."""

    def __init__(self, policies: Iterable[Mapping[str, Any]]) -> None:
        self.policies = [p for p in policies if _is_ingress_policy(p)]

    def admits(self, peer: Pod, port: Port, target: Pod) -> bool:
        selecting = [p for p in self.policies if matches(p["spec"].get("podSelector") or {}, dict(target.labels))]
        if not selecting:
            return True
        return any(self._rule(rule, peer, port, target) for p in selecting for rule in p["spec"].get("ingress") or [])

    def _rule(self, rule: Mapping[str, Any], peer: Pod, port: Port, target: Pod) -> bool:
        ports = rule.get("ports") or []
        if ports and not any(_port(p, port) for p in ports):
            return False
        sources = rule.get("from") or []
        return not sources or any(_peer(s, peer, target) for s in sources)


def _is_ingress_policy(policy: Mapping[str, Any]) -> bool:
    if policy.get("kind") != "NetworkPolicy" or not str(policy.get("apiVersion", "")).startswith("networking.k8s.io/"):
        return False
    spec = policy.get("spec") or {}
    return "Ingress" in (spec.get("policyTypes") or ["Ingress"])


def matches(selector: Mapping[str, Any], labels: Labels) -> bool:
    """A LabelSelector (matchLabels and matchExpressions) against labels; {} matches all."""
    if any(labels.get(str(k)) != str(v) for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    for e in selector.get("matchExpressions") or []:
        key, op, values = e["key"], e["operator"], [str(v) for v in e.get("values") or []]
        ok = {
            "In": key in labels and labels[key] in values,
            "NotIn": key not in labels or labels[key] not in values,
            "Exists": key in labels,
            "DoesNotExist": key not in labels,
        }[op]
        if not ok:
            return False
    return True


def _port(rule: Mapping[str, Any], port: Port) -> bool:
    protocol, number, name = port
    if str(rule.get("protocol", "TCP")) != protocol:
        return False
    want = rule.get("port")
    if want is None:
        return True
    if isinstance(want, int):
        return number != 0 and want <= number <= int(rule.get("endPort", want))
    return str(want) == name


def _peer(source: Mapping[str, Any], peer: Pod, target: Pod) -> bool:
    if "ipBlock" in source:
        block = source["ipBlock"]
        return ipaddress.ip_network(block["cidr"]).prefixlen == 0 and not block.get("except")
    namespaces, pods = source.get("namespaceSelector"), source.get("podSelector")
    if namespaces is None:
        same = peer.namespace == target.namespace
        return same and matches(pods or {}, dict(peer.labels))
    return matches(namespaces, dict(peer.namespace_labels)) and matches(pods or {}, dict(peer.labels))


# --- what to try, from the source's own selectors -----------------------------------------


def label_sets(selector: Any) -> list[dict[str, str]]:
    """Concrete label sets a selector names: its matchLabels with each value its expressions name."""
    if not isinstance(selector, dict) or not selector:
        return []
    base = {str(k): str(v) for k, v in (selector.get("matchLabels") or {}).items()}
    out = [base]
    for e in selector.get("matchExpressions") or []:
        values = [str(v) for v in e.get("values") or []] or (["x"] if e["operator"] == "Exists" else [])
        out = [o | {e["key"]: v} for o in out for v in values] or out
    return out


def _unique(items: Iterable[dict[str, str]]) -> list[dict[str, str]]:
    return [dict(t) for t in sorted({tuple(sorted(i.items())) for i in items})]


@dataclasses.dataclass
class Case:
    """One namespace: the MoJ's policies, Civic's rendering and what to try between them."""

    namespace: str
    moj: list[dict[str, Any]]
    civic: list[dict[str, Any]]
    allow_from: list[str]
    source_labels: dict[str, dict[str, str]]  # namespace → its labels, for the namespaces of the sample

    def targets(self) -> list[Pod]:
        sets = [{}]
        for p in self.moj + self.civic:
            spec = p.get("spec") or {}
            sets += label_sets(spec.get("podSelector"))
            for rule in spec.get("ingress") or []:
                for source in rule.get("from") or []:
                    if "namespaceSelector" not in source:
                        sets += label_sets(source.get("podSelector"))
        own = self.source_labels.get(self.namespace, {})
        return [Pod.of(self.namespace, own, s) for s in _unique(sets)]

    def peers(self) -> list[Pod]:
        out = [Pod(self.namespace, t.namespace_labels, t.labels) for t in self.targets()]
        out += [Pod.of("ingress-controllers", INGRESS, {}), Pod.of("monitoring", MONITORING, {})]
        out.append(Pod.of("some-other-namespace", {}, {}))
        for p in self.moj:
            for rule in (p.get("spec") or {}).get("ingress") or []:
                for source in rule.get("from") or []:
                    for ns_labels in label_sets(source.get("namespaceSelector")):
                        name = next((ns_labels[k] for k in (NAME, *NAMED_BY) if k in ns_labels), "selected-namespace")
                        for pod in label_sets(source.get("podSelector")) + [{}]:
                            out.append(Pod.of(name, ns_labels, pod))
                            out.append(Pod.of(name, self.source_labels.get(name, {}), pod))
        for other in self.allow_from:  # as the sample defines it, when it does
            out.append(Pod.of(other, self.source_labels.get(other, {}), {}))
        return sorted(set(out), key=str)

    def ports(self) -> list[Port]:
        out = {OTHER_PORT}
        for p in self.moj + self.civic:
            for rule in (p.get("spec") or {}).get("ingress") or []:
                for port in rule.get("ports") or []:
                    want = port.get("port")
                    protocol = str(port.get("protocol", "TCP"))
                    out.add((protocol, want, "") if isinstance(want, int) else (protocol, 0, str(want or "")))
        return sorted(out)

    def violations(self) -> tuple[int, list[tuple[Pod, Port, Pod]]]:
        """(triples tried, those Civic admits and the MoJ does not)."""
        civic, moj = Evaluator(self.civic), Evaluator(self.moj)
        tried, bad = 0, []
        for target in self.targets():
            for peer in self.peers():
                for port in self.ports():
                    tried += 1
                    if civic.admits(peer, port, target) and not moj.admits(peer, port, target):
                        bad.append((peer, port, target))
        return tried, bad


# --- the samples, imported and rendered once ---------------------------------------------


def _documents(folder: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for path in sorted(glob.glob(os.path.join(folder, "*.yaml")) + glob.glob(os.path.join(folder, "*.yml"))):
        with open(path, encoding="utf-8") as f:
            try:
                out += [d for d in yaml.safe_load_all(f) if isinstance(d, dict)]
            except yaml.YAMLError:
                continue  # the report names it (parse-error); nothing of it is imported either
    return out


def _cases(src: str, dest: str) -> dict[str, Case]:
    loaded = estate.load(dest)
    folders = {os.path.basename(f): f for f in glob.glob(os.path.join(src, "namespaces", "*", "*"))}
    documents = {name: _documents(folder) for name, folder in folders.items()}
    labels = {
        name: {str(k): str(v) for k, v in ((d.get("metadata") or {}).get("labels") or {}).items()}
        for name, docs in documents.items()
        for d in docs
        if d.get("kind") == "Namespace"
    }
    out = {}
    for name, env in sorted(loaded.environments.items()):
        rendered = rendering.render(inputs.desired(loaded, name), moj_check.LIVE).objects()
        out[name] = Case(
            name,
            [d for d in documents[name] if d.get("kind") == "NetworkPolicy"],
            [o for o in rendered if o["kind"] == "NetworkPolicy"],
            list(env.spec.network.allow_from),
            labels,
        )
    return out


@pytest.fixture(scope="module")
def samples(corpus, corpus_import, fidelity, fidelity_import) -> dict[str, dict[str, Case]]:
    return {"corpus": _cases(corpus, corpus_import[0]), "fidelity": _cases(fidelity, fidelity_import[0])}


@pytest.fixture(scope="module")
def reports(corpus_import, fidelity_import) -> dict[str, report_mod.Report]:
    return {"corpus": corpus_import[1], "fidelity": fidelity_import[1]}


# --- the isolation test ------------------------------------------------------------------


def test_civic_admits_nothing_the_moj_denies_in_either_sample(samples):
    tried, admitted, bad = 0, 0, []
    for cases in samples.values():
        for case in cases.values():
            n, found = case.violations()
            tried += n
            bad += found
            admitted += sum(
                Evaluator(case.civic).admits(p, OTHER_PORT, t) for t in case.targets() for p in case.peers()
            )
    shown = "\n".join(f"{peer} -> {port} -> {target}" for peer, port, target in bad[:40])
    assert not bad, f"{len(bad)} of {tried} (peer, port, target) admitted by Civic only:\n{shown}"
    assert len(samples["corpus"]) == 45 and len(samples["fidelity"]) == 49
    assert tried > 700 and admitted > 200  # not vacuous (762 and 243 when written)


def test_the_samples_restrict_ingress_with_kubernetes_policies_only(samples):
    """The evaluator reads networking.k8s.io policies; a Calico policy with ingress rules would escape it."""
    for cases in samples.values():
        for case in cases.values():
            for p in case.moj:
                if not str(p.get("apiVersion", "")).startswith("networking.k8s.io/"):
                    spec = p.get("spec") or {}
                    assert "Ingress" not in (spec.get("types") or []) and not spec.get("ingress"), case.namespace


def test_the_check_catches_a_rendering_wider_than_the_source(samples):
    case = samples["fidelity"]["onboarding-optimisation-dev"]
    widened = dataclasses.replace(
        case, civic=case.civic + [manifests._policy(case.namespace, "x", [{"podSelector": {}}])]
    )
    _, bad = widened.violations()
    backend = (("app", "onboarding-optimisation-backend"),)
    assert any(target.labels == backend and port == OTHER_PORT for _, port, target in bad)
    assert not case.violations()[1]


# --- the evaluator itself ----------------------------------------------------------------


def _np(selector: dict[str, Any], ingress: list[Any] | None, types: Sequence[str] = ("Ingress",)) -> dict[str, Any]:
    spec: dict[str, Any] = {"podSelector": selector, "policyTypes": list(types)}
    if ingress is not None:
        spec["ingress"] = ingress
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "spec": spec}


def test_the_evaluator_follows_kubernetes_semantics():
    web, db = Pod.of("a", {}, {"app": "web"}), Pod.of("a", {}, {"app": "db"})
    other = Pod.of("b", {"team": "x"}, {"app": "web"})
    tcp80, udp53 = ("TCP", 80, ""), ("UDP", 53, "")
    assert Evaluator([]).admits(other, tcp80, db)  # no policy: everything
    assert Evaluator([_np({"matchLabels": {"app": "web"}}, [])]).admits(other, tcp80, db)  # db not selected
    assert not Evaluator([_np({}, [])]).admits(web, tcp80, db)  # deny all
    assert not Evaluator([_np({}, None, ("Ingress", "Egress"))]).admits(web, tcp80, db)
    assert Evaluator([_np({}, None, ("Egress",))]).admits(web, tcp80, db)  # egress only: ingress open
    same = _np({}, [{"from": [{"podSelector": {}}]}])
    assert Evaluator([same]).admits(web, tcp80, db) and not Evaluator([same]).admits(other, tcp80, db)
    both = _np(
        {},
        [
            {
                "from": [
                    {"namespaceSelector": {"matchLabels": {"team": "x"}}, "podSelector": {"matchLabels": {"app": "db"}}}
                ]
            }
        ],
    )
    assert not Evaluator([both]).admits(other, tcp80, db)  # AND: the pod label is missing
    either = _np(
        {},
        [
            {
                "from": [
                    {"namespaceSelector": {"matchLabels": {"team": "x"}}},
                    {"podSelector": {"matchLabels": {"app": "db"}}},
                ]
            }
        ],
    )
    assert Evaluator([either]).admits(other, tcp80, db)  # OR
    ports = _np({}, [{"ports": [{"port": 80}, {"port": "http"}]}])
    assert Evaluator([ports]).admits(other, tcp80, db) and not Evaluator([ports]).admits(other, udp53, db)
    assert Evaluator([ports]).admits(other, ("TCP", 0, "http"), db)
    assert not Evaluator([ports]).admits(other, OTHER_PORT, db)
    assert Evaluator([_np({}, [], ()), _np({}, [{}])]).admits(other, udp53, db)  # union; no from: any
    blocks = _np({}, [{"from": [{"ipBlock": {"cidr": "10.0.0.0/8"}}]}])
    assert not Evaluator([blocks]).admits(web, tcp80, db)
    assert Evaluator([_np({}, [{"from": [{"ipBlock": {"cidr": "0.0.0.0/0"}}]}])]).admits(web, tcp80, db)
    expr = {"matchExpressions": [{"key": "app", "operator": "NotIn", "values": ["db"]}]}
    assert Evaluator([_np(expr, [])]).admits(other, tcp80, db) and not Evaluator([_np(expr, [])]).admits(
        other, tcp80, web
    )


# --- one test per defect the issue names ---------------------------------------------------


def _entries(reports, sample: str, namespace: str) -> list[report_mod.Entry]:
    return [e for e in reports[sample].entries if e.namespace == namespace and e.kind == "NetworkPolicy"]


def _policies(samples, namespace: str) -> dict[str, dict[str, Any]]:
    return {p["metadata"]["name"]: p for p in samples["fidelity"][namespace].civic}


@pytest.mark.parametrize("namespace", ["cis-pp", "cis-prd"])
def test_a_deny_all_ingress_policy_is_kept_and_said(samples, reports, namespace):
    entries = {e.name: e for e in _entries(reports, "fidelity", namespace)}
    deny = entries["default (ingress deny)"]
    assert deny.outcome == report_mod.MAPPED and deny.target == "spec.network" and deny.line > 0
    assert entries["(no policy admits the namespace's own pods to every pod)"].target == (
        "spec.network.allowSameEnvironment"
    )
    assert not [e for e in entries.values() if e.outcome == report_mod.DEFAULT and "pods of this namespace" in e.name]
    assert set(_policies(samples, namespace)) == {"default-deny", "allow-ingress-controllers"}


@pytest.mark.parametrize(
    "namespace",
    [
        "laa-info-and-advice-datastore-staging",
        "laa-info-and-advice-datastore-uat",
        "laa-record-controlled-work-api-uat",
    ],
)
def test_default_deny_all_is_reported_as_ingress_and_egress_deny(samples, reports, namespace):
    entries = {e.name: e for e in _entries(reports, "fidelity", namespace)}
    assert entries["default-deny-all (ingress deny)"].outcome == report_mod.MAPPED
    egress = entries["default-deny-all (egress deny)"]
    assert egress.outcome == report_mod.KEPT_STRICTER and egress.target == "spec.network.extraPolicies"
    assert not [e for e in entries.values() if e.outcome in (report_mod.DEFAULT, report_mod.SKIPPED)]
    policies = _policies(samples, namespace)
    assert set(policies) == {"default-deny", "default-deny-all"}
    kept = policies["default-deny-all"]
    assert kept["spec"] == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    assert kept["metadata"]["labels"][ownership.MANAGED_BY] == ownership.MANAGER


def test_pod_scoped_policies_are_kept_as_written_never_widened(samples, reports):
    namespace = "onboarding-optimisation-dev"
    entries = _entries(reports, "fidelity", namespace)
    assert not [e for e in entries if e.outcome == report_mod.DEFAULT]
    kept = [e for e in entries if e.outcome == report_mod.KEPT_STRICTER]
    assert len(kept) == 4 and all("pods labelled app" in e.detail for e in kept)
    policies = _policies(samples, namespace)
    assert set(policies) == {
        "default-deny",
        "default",
        "kept-allow-ingress-controllers",
        "allow-frontend-to-backend",
        "allow-prometheus-to-backend-metrics",
    }
    assert policies["kept-allow-ingress-controllers"]["spec"]["podSelector"] == {
        "matchLabels": {"app": "onboarding-optimisation-frontend"}
    }
    assert policies["allow-frontend-to-backend"]["spec"]["ingress"][0]["ports"] == [{"protocol": "TCP", "port": 8000}]
    renamed = [n for n in reports["fidelity"].normalisations if n.namespace == namespace and n.kind == "policy-name"]
    assert [(n.original, n.value) for n in renamed] == [("allow-ingress-controllers", "kept-allow-ingress-controllers")]


def test_a_pod_scoped_policy_from_another_namespace_is_not_a_namespace_wide_allow_from(samples, reports):
    namespace = "justice-gov-uk-production"
    entries = {e.name: e for e in _entries(reports, "fidelity", namespace)}
    archiver = entries["allow-justice-archiver (ingress to pods labelled app=justice-gov-uk-production)"]
    assert archiver.outcome == report_mod.KEPT_STRICTER and archiver.target == "spec.network.extraPolicies"
    assert samples["fidelity"][namespace].allow_from == []
    policies = _policies(samples, namespace)
    assert not [n for n in policies if n.startswith("allow-from-")]
    assert policies["allow-justice-archiver"]["spec"]["podSelector"] == {
        "matchLabels": {"app": "justice-gov-uk-production"}
    }
    assert {"allow-same-namespace", "allow-ingress-controllers"} <= set(policies)


def test_kept_stricter_is_counted_in_the_totals(reports):
    for report in reports.values():
        totals = report.totals()
        kept = [e for e in report.entries if e.outcome == report_mod.KEPT_STRICTER]
        assert totals["objectsKeptStricter"] == len(kept) > 0
        assert any("kept stricter" in line for line in report_mod.summary_lines(report))


# --- the model and the rendering -----------------------------------------------------------


def _env(network: dict[str, Any]) -> models.Environment:
    return models.Environment.model_validate(
        {
            "apiVersion": models.API_VERSION,
            "kind": "Environment",
            "metadata": {"name": "shop-dev"},
            "spec": {
                "team": "shop",
                "businessUnit": "HQ",
                "application": "Shop",
                "production": False,
                "environmentName": "development",
                "network": network,
            },
        }
    )


def test_the_defaults_render_as_before_and_unset_fields_keep_fingerprints():
    env = _env({})
    names = [p["metadata"]["name"] for p in manifests.network_policies(env, moj_check.LIVE)]
    assert names == ["default-deny", "allow-same-namespace", "allow-ingress-controllers", "allow-monitoring"]
    assert env.canonical()["spec"]["network"] == {"allowFrom": [], "allowIngress": True}


def test_each_switch_and_extra_policy_renders_as_the_spec_says():
    extra = {"podSelector": {"matchLabels": {"app": "web"}}, "ingress": [{"ports": [{"port": 8000}]}]}
    env = _env(
        {
            "allowSameEnvironment": False,
            "allowMonitoring": False,
            "allowIngress": False,
            "extraPolicies": [{"name": "web-8000", "spec": extra}],
        }
    )
    policies = {p["metadata"]["name"]: p for p in manifests.network_policies(env, moj_check.LIVE)}
    assert set(policies) == {"default-deny", "web-8000"}
    assert policies["web-8000"]["spec"] == extra and policies["web-8000"]["metadata"]["namespace"] == "shop-dev"
    assert policies["web-8000"]["metadata"]["labels"] == ownership.labels("shop-dev")


@pytest.mark.parametrize(
    ("extras", "message"),
    [
        ([{"name": "allow-monitoring", "spec": {"podSelector": {}}}], "a policy Civic renders itself"),
        ([{"name": "allow-from-x", "spec": {"podSelector": {}}}], "a policy Civic renders itself"),
        ([{"name": "a", "spec": {"podSelector": {}}}, {"name": "a", "spec": {"podSelector": {}}}], "unique"),
        ([{"name": "a", "spec": {"ingress": []}}], "needs a podSelector"),
    ],
)
def test_extra_policies_that_would_clash_or_select_nothing_are_refused(extras, message):
    with pytest.raises(pydantic.ValidationError, match=message):
        _env({"extraPolicies": extras})


# --- what the samples do not show: a source written here ---------------------------------------


def _namespace(name: str, labels: dict[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": name,
            "labels": {
                "cloud-platform.justice.gov.uk/is-production": "false",
                "cloud-platform.justice.gov.uk/environment-name": "development",
                **labels,
            },
            "annotations": {
                "cloud-platform.justice.gov.uk/business-unit": "LAA",
                "cloud-platform.justice.gov.uk/application": name,
                "cloud-platform.justice.gov.uk/team-name": "laa-apply",
            },
        },
    }


def _source(root: str, namespaces: dict[str, tuple[dict[str, str], list[dict[str, Any]]]]) -> str:
    for name, (labels, policies) in namespaces.items():
        folder = os.path.join(root, "namespaces", "live.cloud-platform.service.justice.gov.uk", name)
        os.makedirs(folder)
        with open(os.path.join(folder, "00-namespace.yaml"), "w", encoding="utf-8") as f:
            yaml.safe_dump(_namespace(name, labels), f)
        named = [{"metadata": {"name": f"p{i}", "namespace": name}} | p for i, p in enumerate(policies)]
        with open(os.path.join(folder, "04-networkpolicy.yaml"), "w", encoding="utf-8") as f:
            yaml.safe_dump_all(named, f)
    return root


def _import(src: str, dest: str) -> tuple[dict[str, Case], report_mod.Report]:
    result = importing.run(src)
    importing.write(result, dest, force=False)
    return _cases(src, dest), result.report


def _from(namespace_labels: dict[str, str]) -> dict[str, Any]:
    return {"namespaceSelector": {"matchLabels": namespace_labels}}


def test_allow_from_needs_the_label_on_the_namespace_it_names(tmp_path):
    key = "cloud-platform.justice.gov.uk/namespace"
    policy = _np(
        {},
        [{"from": [_from({key: "web-dev"}), _from({NAME: "batch-dev"}), _from({key: "labelled-dev"})]}],
    )
    src = _source(
        str(tmp_path / "src"),
        {
            "api-dev": ({}, [policy, _np({}, [{"from": [_from({NAME: "api-dev"})]}])]),  # itself, by name
            "web-dev": ({}, []),  # selected by a label it does not carry: the MoJ admits nothing from it
            "batch-dev": ({}, []),
            "labelled-dev": ({key: "labelled-dev"}, []),
        },
    )
    cases, report = _import(src, str(tmp_path / "estate"))
    assert cases["api-dev"].allow_from == ["batch-dev", "labelled-dev"]
    assert "allow-same-namespace" in {p["metadata"]["name"] for p in cases["api-dev"].civic}
    [web] = [e for e in report.entries if e.namespace == "api-dev" and "web-dev" in e.name]
    assert web.outcome == report_mod.SKIPPED and "does not carry the label" in web.detail
    assert not cases["api-dev"].violations()[1]
    mapped = manifests._policy("api-dev", "allow-from-web-dev", [manifests._from_namespace("web-dev")])
    widened = dataclasses.replace(cases["api-dev"], civic=cases["api-dev"].civic + [mapped], allow_from=["web-dev"])
    assert [peer.namespace for peer, _, _ in widened.violations()[1]] == ["web-dev"]  # as its source defines it


def test_what_spec_network_cannot_say_is_kept_as_written(tmp_path):
    policies = [
        _np({}, [{"from": [{"podSelector": {}}]}]),
        _np({}, [{"from": [{"ipBlock": {"cidr": "10.0.0.0/8"}}]}]),
        _np({}, [{"from": [_from({"component": "ingress-controllers"})], "ports": [{"port": 443}]}]),
        _np({}, [{"from": [{"namespaceSelector": {}}]}]),
        _np({}, [{"from": [{"podSelector": {}}]}], ("Ingress", "Egress")),
        {
            "apiVersion": "projectcalico.org/v3",
            "kind": "NetworkPolicy",
            "spec": {"selector": "all()", "types": ["Ingress"]},
        },
    ]
    policies[4]["spec"]["egress"] = [{"to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}]}]
    cases, report = _import(_source(str(tmp_path / "src"), {"shop-dev": ({}, policies)}), str(tmp_path / "estate"))
    entries = {e.name: e for e in report.entries if e.namespace == "shop-dev" and e.kind == "NetworkPolicy"}
    assert entries["p1"].outcome == entries["p2"].outcome == entries["p3"].outcome == report_mod.KEPT_STRICTER
    assert "addresses (ipBlock 10.0.0.0/8)" in entries["p1"].detail
    assert "some ports only (443)" in entries["p2"].detail and "every namespace" in entries["p3"].detail
    assert entries["p4 (egress rules)"].outcome == report_mod.KEPT_STRICTER
    assert entries["p0 (from pods of this namespace)"].outcome == report_mod.DEFAULT
    assert "INGRESS rules are not carried over" in entries["p5"].detail  # Calico's: said, loudly
    policies_rendered = {p["metadata"]["name"] for p in cases["shop-dev"].civic}
    assert policies_rendered == {"default-deny", "allow-same-namespace", "p1", "p2", "p3", "p4"}
    assert not cases["shop-dev"].violations()[1]
