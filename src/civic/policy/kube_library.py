"""The built-in policies for Kubernetes objects: pod security, images, resources, exposure, RBAC.

The same ground as the gatekeeper-library's constraint templates (and Pod Security
Admission's ``restricted`` profile), written as Civic policies: CEL over ``object`` and
the :data:`civic.policy.kubernetes.VARIABLES`, so that each can also run in the cluster as
a ValidatingAdmissionPolicy (those that use Civic-only functions, such as quantities,
cannot). ``civic policy conformance`` checks them against Gatekeeper's own test cases
(:mod:`civic.policy.gatekeeper`); where Civic's rule deliberately differs, the policy's
description and docs/policies.md say so. The CEL is built by the small helpers below,
which spell out one condition for every kind of container. Read by :mod:`civic.policy.library`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from civic.policy import kubernetes, subjects
from civic.policy.definitions import Mode, Policy, Scope

PODS = kubernetes.POD_KINDS
ALL_KINDS = tuple(kubernetes.API)
LISTS = (
    ("containers", "container"),
    ("initContainers", "initContainer"),
    ("ephemeralContainers", "ephemeralContainer"),
)
RESOURCED = LISTS[:2]  # ephemeral containers have no resources
NAMED = 'KIND + " \'" + c.name + "\'"'
"""A container as a message names it: ``initContainer 'migrate'``."""

EXEMPT = "(c.image in params.exemptImages || params.exemptImagePrefixes.exists(p, c.image.startsWith(p)))"
NO_EXEMPTIONS: dict[str, list[str]] = {"exemptImages": [], "exemptImagePrefixes": []}


def each(condition: str, item: str = NAMED, lists: Iterable[tuple[str, str]] = LISTS) -> str:
    """CEL: one item for every container (of every kind) that meets ``condition``."""
    return " + ".join(
        f"variables.{var}.filter(c, {condition}).map(c, {item.replace('KIND', json.dumps(label))})"
        for var, label in lists
    )


def sc(field: str) -> str:
    """CEL: the container's securityContext sets ``field``."""
    return f"(has(c.securityContext) && has(c.securityContext.{field}))"


def is_true(field: str) -> str:
    return f"({sc(field)} && c.securityContext.{field} == true)"


def limit(resource: str, kind: str = "limits") -> str:
    return f"(has(c.resources) && has(c.resources.{kind}) && has(c.resources.{kind}.{resource}))"


def _drops() -> str:
    return (
        f"({sc('capabilities')} && has(c.securityContext.capabilities.drop) ? c.securityContext.capabilities.drop : [])"
    )


def _capabilities() -> str:
    added = (
        f"!{EXEMPT} && {sc('capabilities')} && has(c.securityContext.capabilities.add) && "
        "!('*' in params.allowed) && c.securityContext.capabilities.add.exists(a, "
        "!params.allowed.exists(x, x.lowerAscii() == a.lowerAscii()))"
    )
    item = (
        NAMED + " + ' adds ' + c.securityContext.capabilities.add.filter(a, "
        "!params.allowed.exists(x, x.lowerAscii() == a.lowerAscii())).join(', ')"
    )
    drops = _drops()
    missing = (
        f"!{EXEMPT} && !{drops}.exists(d, d.lowerAscii() == 'all') && "
        f"params.requiredDrop.exists(r, !{drops}.exists(d, d.lowerAscii() == r.lowerAscii()))"
    )
    return (
        each(added, item)
        + " + "
        + each(missing, NAMED + " + ' does not drop ALL (or each of: ' + params.requiredDrop.join(', ') + ')'")
    )


def _probes() -> str:
    out = []
    for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
        kinds = " || ".join(f"(t == '{t}' && has(c.{probe}.{t}))" for t in ("httpGet", "tcpSocket", "exec", "grpc"))
        found = f"(has(c.{probe}) && c.{probe} != null && params.probeTypes.exists(t, {kinds}))"
        missing = each("!" + found, NAMED + f" + ' has no {probe}'", LISTS[:1])
        out.append(f"('{probe}' in params.probes ? {missing} : [])")
    return " + ".join(out)


def _limits() -> str:
    out = []
    for r in ("cpu", "memory"):
        missing = each("!" + limit(r), NAMED + f" + ' has no {r} limit'", RESOURCED)
        out.append(f"('{r}' in params.resources ? {missing} : [])")
    for r, fn, param in (("cpu", "cpu_millicores", "maxCpu"), ("memory", "memory_bytes", "maxMemory")):
        over = f"{limit(r)} && {fn}(c.resources.limits.{r}) > {fn}(params.{param})"
        item = NAMED + f" + ' has a {r} limit of ' + string(c.resources.limits.{r})"
        out.append(f"(params.{param} != null ? {each(over, item, RESOURCED)} : [])")
    return " + ".join(out)


def _ratios() -> str:
    out = []
    for r, fn, ratio in (
        ("memory", "memory_bytes", "params.ratio"),
        ("cpu", "cpu_millicores", "(params.cpuRatio != null ? params.cpuRatio : params.ratio)"),
    ):
        over = (
            f"{limit(r)} && {limit(r, 'requests')} && double({fn}(c.resources.limits.{r})) > "
            f"double({ratio}) * double({fn}(c.resources.requests.{r}))"
        )
        item = (
            NAMED + f" + ' has a {r} limit of ' + string(c.resources.limits.{r}) + ' against a request of ' "
            f"+ string(c.resources.requests.{r})"
        )
        out.append(each(over, item, RESOURCED))
    return " + ".join(out)


def _non_root() -> str:
    user = (
        f"({sc('runAsUser')} ? c.securityContext.runAsUser : has(variables.podSecurity.runAsUser) ? "
        "variables.podSecurity.runAsUser : -1)"
    )
    non_root = (
        f"({sc('runAsNonRoot')} ? c.securityContext.runAsNonRoot : "
        "has(variables.podSecurity.runAsNonRoot) ? variables.podSecurity.runAsNonRoot : false)"
    )
    return each(f"!{EXEMPT} && !({user} >= 0 ? {user} != 0 : {non_root})")


def _host_paths() -> str:
    every = "(variables.containers + variables.initContainers + variables.ephemeralContainers)"
    read_only = (
        f"{every}.all(c, !has(c.volumeMounts) || c.volumeMounts.all(m, m.name != v.name || "
        "(has(m.readOnly) && m.readOnly)))"
    )
    under = (
        "(v.hostPath.path == a.pathPrefix || v.hostPath.path.startsWith("
        "a.pathPrefix.endsWith('/') ? a.pathPrefix : a.pathPrefix + '/'))"
    )
    allowed = f"params.allowedHostPaths.exists(a, {under} && (!(has(a.readOnly) && a.readOnly) || {read_only}))"
    return (
        f"variables.volumes.filter(v, has(v.hostPath) && !{allowed})"
        '.map(v, "volume \'" + v.name + "\' mounts the node\'s path \'" + v.hostPath.path + "\'")'
    )


def _seccomp() -> str:
    def from_context(sc_: str) -> str:
        return (
            f"({sc_}.type == 'RuntimeDefault' ? 'runtime/default' : {sc_}.type == 'Localhost' ? "
            f"'localhost/' + (has({sc_}.localhostProfile) ? {sc_}.localhostProfile : '') : "
            f"{sc_}.type.lowerAscii())"
        )

    own_sc = f"{sc('seccompProfile')}"
    own_key = "'container.seccomp.security.alpha.kubernetes.io/' + c.name"
    pod_sc = "has(variables.podSecurity.seccompProfile)"
    pod_key = "'seccomp.security.alpha.kubernetes.io/pod'"
    profile = (
        f"({own_sc} ? {from_context('c.securityContext.seccompProfile')} : "
        f"({own_key}) in variables.podAnnotations ? variables.podAnnotations[{own_key}] : "
        f"{pod_sc} ? {from_context('variables.podSecurity.seccompProfile')} : "
        f"{pod_key} in variables.podAnnotations ? variables.podAnnotations[{pod_key}] : 'not configured')"
    )
    where = (
        f"({own_sc} ? 'container securityContext' : ({own_key}) in variables.podAnnotations ? "
        f"'annotation ' + {own_key} : {pod_sc} ? 'pod securityContext' : "
        f"{pod_key} in variables.podAnnotations ? 'annotation ' + {pod_key} : 'no explicit profile found')"
    )
    allowed = (
        f"('*' in params.allowedProfiles || {profile} in params.allowedProfiles || "
        f"({profile} == 'runtime/default' && 'docker/default' in params.allowedProfiles) || "
        f"({profile} == 'docker/default' && 'runtime/default' in params.allowedProfiles) || "
        f"({profile}.startsWith('localhost/') && 'localhost/*' in params.allowedProfiles))"
    )
    item = (
        f'"Seccomp profile \'" + {profile} + "\' is not allowed for container \'" + c.name + '
        f'"\'. Found at: " + {where} + "."'
    )
    return each(f"!{EXEMPT} && !{allowed}", item)


def unique_ingress_hosts(
    items: Iterable[subjects.Subject], params: Mapping[str, Any]
) -> Iterable[tuple[subjects.Subject, str]]:
    """Every Ingress rule whose host another Ingress (in any namespace) also routes."""
    claims: dict[str, list[subjects.Subject]] = {}
    for s in items:
        for host in dict.fromkeys(subjects.KINDS[s.kind].hosts(s.object)):
            claims.setdefault(host, []).append(s)
    for host, holders in sorted(claims.items()):
        for s in holders:
            others = sorted({o.name for o in holders if o.name != s.name})
            if others:
                yield s, f"host '{host}' is also routed by Ingress {', '.join(others)}"


ANNOTATION_HTTP = (
    "('kubernetes.io/ingress.allow-http' in variables.annotations && "
    "variables.annotations['kubernetes.io/ingress.allow-http'] == 'false') || "
    "['nginx.ingress.kubernetes.io/force-ssl-redirect', 'nginx.ingress.kubernetes.io/ssl-redirect']"
    ".exists(k, k in variables.annotations && variables.annotations[k] == 'true')"
)

POLICIES: tuple[Policy, ...] = (
    Policy(
        "pod-privileged",
        "No container runs privileged.",
        PODS,
        "{item} runs in privileged mode, which gives it the node; remove securityContext.privileged.",
        expression=each(f"!{EXEMPT} && {is_true('privileged')}"),
        params=NO_EXEMPTIONS,
        field="spec",
    ),
    Policy(
        "pod-capabilities",
        "Containers add no Linux capability outside the allowlist, and drop ALL (or every required one).",
        PODS,
        "{item}; containers may add only: {params.allowed}.",
        expression=_capabilities(),
        params={"allowed": ["NET_BIND_SERVICE"], "requiredDrop": ["ALL"], **NO_EXEMPTIONS},
        field="spec",
    ),
    Policy(
        "pod-allowed-repos",
        "Every image comes from an allowed repository.",
        PODS,
        "{item}, which is not from an allowed repository; use one of: {params.repos}.",
        expression=each(
            "!params.repos.exists(r, c.image.startsWith(r))", NAMED + ' + " uses image \'" + c.image + "\'"'
        ),
        params={"repos": ["ghcr.io/ministryofjustice/", "754256621582.dkr.ecr.eu-west-2.amazonaws.com/"]},
        field="spec",
    ),
    Policy(
        "pod-probes",
        "Every container has the required probes (by default a readiness probe), each of an allowed type.",
        PODS,
        "{item} (required: {params.probes}, of type {params.probeTypes}); traffic and restarts depend on it.",
        mode=Mode.WARN,
        expression=_probes(),
        params={"probes": ["readinessProbe"], "probeTypes": ["httpGet", "tcpSocket", "exec", "grpc"]},
        field="spec",
    ),
    Policy(
        "pod-container-limits",
        "Every container sets CPU and memory limits, within the maxima if any.",
        PODS,
        "{item} (limits required: {params.resources}; maximum cpu {params.maxCpu}, memory {params.maxMemory}).",
        mode=Mode.WARN,
        expression=_limits(),
        params={"resources": ["cpu", "memory"], "maxCpu": None, "maxMemory": None},
        field="spec",
    ),
    Policy(
        "pod-resource-ratios",
        "A container's limits are at most a ratio of its requests (memory: ratio; "
        "cpu: cpuRatio, else ratio), where both are set.",
        PODS,
        "{item}: more than {params.ratio}x (cpu: {params.cpuRatio}); raise the request or lower the limit.",
        mode=Mode.WARN,
        expression=_ratios(),
        params={"ratio": 2, "cpuRatio": None},
        field="spec",
    ),
    Policy(
        "pod-read-only-root",
        "Containers run with a read-only root filesystem.",
        PODS,
        "only read-only root filesystem container is allowed: {item}; set "
        "securityContext.readOnlyRootFilesystem: true and mount an emptyDir where it writes.",
        mode=Mode.WARN,
        expression=each(f"!{EXEMPT} && !{is_true('readOnlyRootFilesystem')}", "c.name"),
        params=NO_EXEMPTIONS,
        field="spec",
    ),
    Policy(
        "pod-run-as-non-root",
        "Containers run as a user other than root (runAsNonRoot, or a runAsUser "
        "other than 0, on the container or the pod).",
        PODS,
        "{item} may run as root; set securityContext.runAsNonRoot: true (or a runAsUser other than 0).",
        expression=_non_root(),
        params=NO_EXEMPTIONS,
        field="spec",
    ),
    Policy(
        "pod-host-namespaces",
        "Pods do not share the node's process or IPC namespace.",
        PODS,
        "the pod shares the node's namespace ({item}); remove it.",
        expression="(has(variables.podSpec.hostPID) && variables.podSpec.hostPID ? ['hostPID'] : []) + "
        "(has(variables.podSpec.hostIPC) && variables.podSpec.hostIPC ? ['hostIPC'] : [])",
        field="spec",
    ),
    Policy(
        "pod-host-network-ports",
        "Pods use the node's network only if allowed, and host ports only within the allowed range (by default: none).",
        PODS,
        "{item}; ask the platform team if a service truly needs this.",
        expression="(!params.hostNetwork && has(variables.podSpec.hostNetwork) && variables.podSpec.hostNetwork"
        ' ? ["the pod uses the node\'s network (spec.hostNetwork)"] : []) + '
        + each(
            f"!{EXEMPT} && has(c.ports) && c.ports.exists(p, has(p.hostPort) && p.hostPort != 0 && "
            "(p.hostPort < params.min || p.hostPort > params.max))",
            NAMED + " + ' uses a host port outside ' + string(params.min) + '-' + string(params.max)",
        ),
        params={"hostNetwork": False, "min": 0, "max": 0, **NO_EXEMPTIONS},
        field="spec",
    ),
    Policy(
        "pod-host-paths",
        "Pods mount no path of the node, except under an allowed prefix (read-only where the allowance says so).",
        PODS,
        "{item}, which is not allowed; use a volume instead (emptyDir, a PersistentVolumeClaim).",
        expression=_host_paths(),
        params={"allowedHostPaths": []},
        field="spec.volumes",
    ),
    Policy(
        "pod-privilege-escalation",
        "Containers set allowPrivilegeEscalation: false.",
        PODS,
        "{item} may gain privileges; set securityContext.allowPrivilegeEscalation: false.",
        expression=each(
            f"!{EXEMPT} && !({sc('allowPrivilegeEscalation')} && c.securityContext.allowPrivilegeEscalation == false)"
        ),
        params=NO_EXEMPTIONS,
        field="spec",
    ),
    Policy(
        "pod-seccomp",
        "Containers run with an allowed seccomp profile (by default the runtime's or a "
        "local one); a container with none set is not allowed.",
        PODS,
        "{item} Allowed profiles: {params.allowedProfiles}.",
        mode=Mode.WARN,
        expression=_seccomp(),
        params={"allowedProfiles": ["runtime/default", "localhost/*"], **NO_EXEMPTIONS},
        field="spec",
    ),
    Policy(
        "pod-automount-token",
        "Pods say automountServiceAccountToken: false (Civic: also when it is "
        "not set, since Kubernetes mounts the token by default).",
        PODS,
        "the pod '{name}' mounts a Kubernetes API token; set spec.automountServiceAccountToken: false "
        "unless it calls the API.",
        mode=Mode.WARN,
        expression="has(variables.podSpec.automountServiceAccountToken) && "
        "variables.podSpec.automountServiceAccountToken == false",
        field="spec",
    ),
    Policy(
        "pod-disallowed-tags",
        "Images name a tag (or a digest), and not a moving one such as 'latest'.",
        PODS,
        "{item}; pin a version: a tag other than {params.tags}, or a digest.",
        mode=Mode.WARN,
        expression=each(
            f"!{EXEMPT} && !c.image.contains('@') && (!c.image.matches(':[^/]+$') || "
            "params.tags.exists(t, c.image.endsWith(':' + t)))",
            NAMED + ' + " uses image \'" + c.image + "\'"',
        ),
        params={"tags": ["latest"], **NO_EXEMPTIONS},
        field="spec",
    ),
    Policy(
        "service-types",
        "Kubernetes Services are of an allowed type (by default ClusterIP: reached "
        "through the router, never a LoadBalancer or NodePort of their own).",
        ("KubernetesService",),
        "Service '{name}' is of type {item}, which exposes it around the platform's router; use one of: "
        "{params.allowed}.",
        expression="(has(object.spec.type) ? [object.spec.type] : ['ClusterIP']).filter(t, !(t in params.allowed))",
        params={"allowed": ["ClusterIP"]},
        field="spec.type",
    ),
    Policy(
        "service-external-ips",
        "Services claim no external IP outside the allowed list.",
        ("KubernetesService",),
        "Service '{name}' claims external IP {item}; allowed: {params.allowedIPs}.",
        expression="has(object.spec.externalIPs) ? object.spec.externalIPs.filter(ip, !(ip in params.allowedIPs)) : []",
        params={"allowedIPs": []},
        field="spec.externalIPs",
    ),
    Policy(
        "ingress-unique-host",
        "No host is routed by two Ingresses.",
        ("Ingress",),
        "{item}; a host belongs to one Ingress.",
        check=unique_ingress_hosts,
        scope=Scope.ESTATE,
        field="spec.rules",
    ),
    Policy(
        "ingress-https-only",
        'Ingresses serve TLS and refuse plain HTTP (allow-http: "false", or '
        'ingress-nginx\'s force-ssl-redirect / ssl-redirect: "true").',
        ("Ingress",),
        "Ingress '{name}' should be https: {item}.",
        mode=Mode.WARN,
        expression="(params.tlsOptional || (has(object.spec.tls) && size(object.spec.tls) > 0) ? [] : "
        "['it has no tls section']) + (" + ANNOTATION_HTTP + " ? [] : ['plain HTTP is not "
        'refused; annotate kubernetes.io/ingress.allow-http: "false" or '
        'nginx.ingress.kubernetes.io/force-ssl-redirect: "true"\'])',
        params={"tlsOptional": False},
        field="spec.tls",
    ),
    Policy(
        "ingress-no-wildcard",
        "Every Ingress rule names its host exactly: no wildcard, no empty host.",
        ("Ingress",),
        "Ingress '{name}': {item} would take traffic meant for others; name the host exactly.",
        expression="(has(object.spec.rules) ? object.spec.rules : [])"
        ".filter(r, !has(r.host) || r.host == '' || r.host.contains('*'))"
        ".map(r, has(r.host) && r.host != '' ? \"host '\" + r.host + \"'\" : 'a rule without a host')",
        field="spec.rules",
    ),
    Policy(
        "required-labels",
        "Objects carry the required labels, with values matching their patterns "
        "(by default: what manages them, app.kubernetes.io/managed-by).",
        ALL_KINDS,
        "label '{item}' is missing, or its value does not match the required pattern.",
        mode=Mode.WARN,
        expression="params.labels.filter(l, !(l.key in variables.labels) || (has(l.allowedRegex) && "
        "l.allowedRegex != '' && !variables.labels[l.key].matches(l.allowedRegex))).map(l, l.key)",
        params={"labels": [{"key": "app.kubernetes.io/managed-by"}]},
        field="metadata.labels",
    ),
    Policy(
        "replica-limits",
        "Workloads ask for a number of replicas within an allowed range (an "
        "autoscaled one, with none written, is not judged).",
        ("Deployment", "StatefulSet", "ReplicaSet"),
        "{kind} '{name}' asks for {object.spec.replicas} replicas, outside every allowed range.",
        mode=Mode.WARN,
        expression="!has(object.spec.replicas) || params.ranges.exists(r, object.spec.replicas >= r.min && "
        "object.spec.replicas <= r.max)",
        params={"ranges": [{"min": 1, "max": 50}]},
        field="spec.replicas",
    ),
    Policy(
        "rbac-no-anonymous",
        "No binding grants a role to everyone (system:anonymous, "
        "system:unauthenticated, and by default system:authenticated).",
        ("RoleBinding", "ClusterRoleBinding"),
        "subject '{item}' is granted role '{object.roleRef.name}'; grant roles to named teams only.",
        expression="object.roleRef.name in params.allowedRoles ? [] : (has(object.subjects) ? object.subjects : [])"
        ".filter(s, s.name == 'system:anonymous' || s.name == 'system:unauthenticated' || "
        "(params.disallowAuthenticated && s.name == 'system:authenticated')).map(s, s.name)",
        params={"allowedRoles": [], "disallowAuthenticated": True},
        field="subjects",
    ),
)
