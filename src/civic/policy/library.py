"""The built-in policies: what the MoJ Cloud Platform enforces, and what users expect.

From the MoJ's environments-repository checks (conftest): ownership metadata, the
production flag against the environment name, access for teams only and no
platform-wide roles. From its Gatekeeper constraints: unique hostnames unless both
opt in, labels of at most 57 characters, hosts under the platform's domains, nothing
exposed around the router (its "LoadBalancer" rule), no privileged mode, capabilities
from an allowlist, non-root, memory limit at most 2x the request (warn), no proxy
configuration snippets. And: production services are ready-checked and replicated,
limits are set, images come from allowed registries, secrets are references, and a
service routes no hostname another environment owns (``hostname-owned``: the deploy
path fills in who claimed what, from the store, as the policy's ``claims``).

Each has a suite in ``civic/policy/suites/<name>.yaml``. An estate may change any of
them with a ``PolicyOverride`` (docs/policies.md). Read by :mod:`civic.policy.files`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from civic.policy import kube_library, subjects
from civic.policy.definitions import Mode, Policy, Scope
from civic.spec import checks

ENV, TEAM, SERVICE = ("Environment",), ("Team",), ("Service",)
PRODUCTION = "environment != null && environment.spec.production"


def unique_hostnames(
    items: Iterable[subjects.Subject], params: Mapping[str, Any]
) -> Iterable[tuple[subjects.Subject, str]]:
    """Every claim of a hostname that another environment also claims, unless all share it."""
    claims: dict[str, dict[str, bool]] = {}  # host -> environment -> shared
    claimants: dict[str, list[subjects.Subject]] = {}
    for s in items:
        env = s.environment_name or s.name
        shared = {h["name"]: h.get("shared", False) for h in ((s.environment or {}).get("spec") or {}).get("hosts", [])}
        for host in subjects.KINDS[s.kind].hosts(s.object):
            by_env = claims.setdefault(host, {})
            by_env[env] = by_env.get(env, True) and shared.get(host, False)
            claimants.setdefault(host, []).append(s)
    for host, by_env in sorted(claims.items()):
        if len(by_env) < 2 or all(by_env.values()):
            continue
        for s in claimants[host]:
            mine = s.environment_name or s.name
            others = ", ".join(f"'{e}'" for e in sorted(by_env) if e != mine)
            yield s, f"hostname '{host}' is also claimed by {others}"


def owned_hostnames(variables: Mapping[str, Any], params: Mapping[str, Any]) -> list[str]:
    """Every route host of a service that belongs to another environment: one under another
    environment's zone (``<service>.<environment>.<baseDomain>``), or one that another
    environment claimed first (``params.claims``: hostname → the environments that hold it,
    filled in from the store at deploy time)."""
    mine = ((variables.get("environment") or {}).get("metadata") or {}).get("name")
    spec = (variables.get("platform") or {}).get("spec") or {}
    domains = [spec.get("baseDomain") or "localhost", *(c.get("baseDomain") for c in spec.get("clusters") or [])]
    claims: Mapping[str, Any] = params.get("claims") or {}
    out = []
    for host in sorted(set(variables.get("hosts") or [])):
        zone = checks.zone_of(host, [d for d in domains if d])
        holders = [zone[0]] if zone is not None else list(claims.get(host) or [])
        if holders and mine not in holders:
            out.append(
                f"hostname '{host}' belongs to environment"
                + ("s " if len(holders) > 1 else " ")
                + ", ".join(f"'{e}'" for e in sorted(holders))
            )
    return out


CIVIC: tuple[Policy, ...] = (
    Policy(
        "ownership-metadata",
        "An environment says what it runs, who owns it, where its code is, "
        "where its team talks, and which business unit pays for it.",
        ENV,
        "ownership metadata: {item}; the people on call need it when this environment breaks.",
        expression="params.required.filter(f, object.spec[f] == null || object.spec[f] == '')"
        ".map(f, 'spec.' + f + ' is not set')"
        " + (object.spec.businessUnit in businessUnits ? [] :"
        " ['business unit \\'' + object.spec.businessUnit + '\\' is not one of the platform\\'s'])",
        params={"required": ["application", "owner", "sourceCode", "teamChannel"]},
        field="spec",
    ),
    Policy(
        "production-flag",
        "An environment is production exactly when its environment name says so.",
        ENV,
        "spec.production is {object.spec.production} but spec.environmentName is "
        "'{object.spec.environmentName}'; an environment is production exactly when its name is one "
        "of: {params.productionNames}.",
        expression="(object.spec.environmentName in params.productionNames) == object.spec.production",
        params={"productionNames": ["production"]},
        field="spec.production",
    ),
    Policy(
        "access-teams-only",
        "Access is granted to teams, never to single users.",
        ENV,
        "access is granted to user '{item}'; grant it to a team (spec.access[].team), so that it "
        "follows the team when people move on.",
        expression="object.spec.access.filter(g, g.user != null).map(g, g.user)",
        field="spec.access",
    ),
    Policy(
        "no-platform-roles",
        "Grants use the environment's own roles; platform-wide roles are never granted by an environment.",
        ENV,
        "role '{item}' is not an environment role; use one of: {params.roles}. Platform-wide roles "
        "(such as cluster-admin) are granted by the platform team only.",
        expression="object.spec.access.filter(g, !(g.role in params.roles)).map(g, g.role)",
        params={"roles": ["admin", "edit", "view"]},
        field="spec.access",
    ),
    Policy(
        "hostname-unique",
        "No hostname is claimed by two environments unless every claim says 'shared: true'.",
        ENV + SERVICE,
        "{item}; a hostname belongs to one environment unless every claim says 'shared: true'.",
        check=unique_hostnames,
        scope=Scope.ESTATE,
        field="spec.hosts",
    ),
    Policy(
        "hostname-owned",
        "A service routes only hostnames its environment owns: a hostname belongs to the environment "
        "that claimed it first (in the estate, or by a deploy), and every name under "
        "<environment>.<baseDomain> to that environment.",
        SERVICE,
        "{item}; a service may route only its own environment's hostnames. Choose another "
        "hostname, or ask that environment's team.",
        check=owned_hostnames,
        params={"claims": {}},
        field="spec.routes",
    ),
    Policy(
        "hostname-label-length",
        "Every label of a hostname is at most 57 characters (the certificate and DNS-record prefixes take the rest).",
        ENV + SERVICE,
        "hostname '{item}' has a label longer than {params.maxLabel} characters; shorten it.",
        expression="hosts.filter(h, h.matches('(^|[.])[^.]{' + string(params.maxLabel + 1) + ',}([.]|$)'))",
        params={"maxLabel": 57},
        field="spec.hosts",
    ),
    Policy(
        "hosts-under-platform-domains",
        "Hosts are under the platform's base domain or one of its domains (civic.yaml baseDomain and domains).",
        ENV + SERVICE,
        "hostname '{item}' is not under the platform's domains (civic.yaml baseDomain and domains); "
        "use a name under one of them, or ask the platform team to add its domain.",
        expression="hosts.filter(h, !domains.exists(d, h == d || h.endsWith('.' + d)))",
        field="spec.hosts",
    ),
    Policy(
        "secrets-by-reference",
        "A variable that holds a secret refers to it (${secrets.<name>}); the value is never written in a file.",
        ENV + SERVICE,
        "variable '{item}' looks like a secret and its value is written inline; store the value "
        "with 'civic secret set' and write ${secrets.<name>} instead.",
        expression="variables.filter(k, !variables[k].contains('${') && "
        "params.secretWords.exists(w, lower(k).contains(w)))",
        params={
            "secretWords": [
                "password",
                "passwd",
                "secret",
                "token",
                "apikey",
                "api_key",
                "private_key",
                "credential",
                "_key",
            ]
        },
        field="spec",
    ),
    Policy(
        "proxy-snippets-blocked",
        "No annotation injects configuration into the shared proxy (ingress-nginx's snippets, CVE-2021-25742).",
        ENV + SERVICE,
        "annotation '{item}' injects configuration into the shared proxy, where it can read other "
        "tenants' traffic; use the route's own settings instead.",
        expression="object.metadata.annotations.filter(k, k.matches(params.annotations))",
        params={"annotations": "(?i)snippet"},
        field="metadata.annotations",
    ),
    Policy(
        "team-contact",
        "A team can be reached: a shared mailbox or a GitHub team.",
        TEAM,
        "team '{name}' has neither spec.email nor spec.githubTeams; add one so that alerts and reviews reach someone.",
        mode=Mode.WARN,
        expression="(object.spec.email != null && object.spec.email != '') || size(object.spec.githubTeams) > 0",
        field="spec",
    ),
    Policy(
        "no-exposure-around-router",
        "Services are reached through the platform's router, never "
        "around it (a LoadBalancer or NodePort of their own).",
        SERVICE,
        "service '{name}' is exposed as '{object.spec.exposure}', around the platform's router; use "
        "one of: {params.allowed}.",
        expression="object.spec.exposure in params.allowed",
        params={"allowed": ["router", "internal"]},
        field="spec.exposure",
    ),
    Policy(
        "no-privileged",
        "No service runs in privileged mode.",
        SERVICE,
        "service '{name}' asks for privileged mode; remove spec.security.privileged.",
        expression="!object.spec.security.privileged",
        field="spec.security",
    ),
    Policy(
        "capabilities-allowlist",
        "A service adds no Linux capability beyond the allowlist.",
        SERVICE,
        "capability '{item}' is not allowed; only these may be added: {params.allowed}.",
        expression="object.spec.security.capabilities.filter(c, !(c in params.allowed))",
        params={"allowed": ["NET_BIND_SERVICE"]},
        field="spec.security",
    ),
    Policy(
        "run-as-non-root",
        "Services run as a user other than root.",
        SERVICE,
        "service '{name}' may run as root; set spec.security.runAsNonRoot: true (the default) and "
        "build the image with a USER.",
        expression="object.spec.security.runAsNonRoot",
        field="spec.security",
    ),
    Policy(
        "memory-limit-ratio",
        "A service's memory limit is at most twice its request, so that the scheduler's picture stays true.",
        SERVICE,
        "service '{name}' has a memory limit of {object.spec.resources.memory} against a request of "
        "{object.spec.resources.requestMemory}: more than {params.maxRatio}x; raise the request or "
        "lower the limit.",
        mode=Mode.WARN,
        when="object.spec.resources.memory != null && object.spec.resources.requestMemory != null",
        expression="double(memory_bytes(object.spec.resources.memory)) <= "
        "double(params.maxRatio) * double(memory_bytes(object.spec.resources.requestMemory))",
        params={"maxRatio": 2},
        field="spec.resources",
    ),
    Policy(
        "production-readiness",
        "A production service has a readiness check, so that traffic only reaches replicas that can serve it.",
        SERVICE,
        "service '{name}' runs in production without a readiness check; add spec.readiness (e.g. path: /healthz).",
        when=PRODUCTION,
        expression="object.spec.readiness != null",
        field="spec.readiness",
    ),
    Policy(
        "production-replicas",
        "A production service runs at least 2 replicas (or autoscales from 2).",
        SERVICE,
        "service '{name}' runs in production with fewer than {params.minReplicas} replicas; "
        "set spec.replicas (or spec.autoscaling.min) to at least {params.minReplicas}.",
        when=PRODUCTION,
        params={"minReplicas": 2},
        field="spec.replicas",
        expression="(object.spec.autoscaling != null ? object.spec.autoscaling.min : "
        "object.spec.replicas) >= params.minReplicas",
    ),
    Policy(
        "resource-limits",
        "Every replica runs with a CPU and a memory limit: the service's own, or "
        "a default of its environment or the platform.",
        SERVICE,
        "service '{name}' has no {item} limit and neither its environment nor the platform sets a "
        "default; set spec.resources.{item}.",
        expression="['cpu', 'memory'].filter(r, effective[r] == null)",
        field="spec.resources",
    ),
    Policy(
        "allowed-registries",
        "Images come from the platform's allowed registries (Kubernetes backend).",
        SERVICE,
        "image '{object.spec.image}' is not from an allowed registry; use one of: {params.registries}.",
        when="object.spec.image != null",
        expression="params.registries.exists(r, object.spec.image.startsWith(r))",
        params={"registries": ["ghcr.io/ministryofjustice/", "754256621582.dkr.ecr.eu-west-2.amazonaws.com/"]},
        field="spec.image",
    ),
)

BUILTIN: tuple[Policy, ...] = CIVIC + kube_library.POLICIES
"""Civic's kinds' policies, then those for Kubernetes objects (:mod:`civic.policy.kube_library`)."""
