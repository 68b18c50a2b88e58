"""A service's objects on a cluster: Deployment, Service, Ingress, HPA and PDB.

Secure defaults are filled in whatever the spec says: non-root, no privilege
escalation, every capability dropped, the runtime-default seccomp profile, a
read-only root filesystem with a writable ``/tmp``, and resources on every
container. Variables that refer to secrets or backing services become
``secretKeyRef`` entries on the environment's ``civic-secrets`` Secret, never values.
Called by :mod:`.rendering`; :func:`no_image` also by :mod:`.inputs` and by the deploy-time
checks (:mod:`civic.control.deploying`). Pure.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

from civic.backends import base
from civic.backends.kubernetes import manifests, ownership
from civic.backends.kubernetes.manifests import Obj
from civic.spec import models, refs

HTTP = "http"
_PORT_VAR = re.compile(r"\$\{PORT\}|\$PORT\b")


def no_image(service: str, *, environment: str | None, cluster: str | None = None) -> str:
    """What to say of a service without ``spec.image``: ``civic render``, the backend and a deploy
    to an environment on a cluster all refuse one, in these words."""
    where = f" of environment '{environment}'" if environment else ""
    on = f" (on cluster '{cluster}')" if cluster else ""
    return (
        f"service '{service}'{where}{on} has no image; add spec.image: the image your CI builds, such as "
        "'ghcr.io/org/app:1.2.3'. The local runtime builds uploaded code, Kubernetes runs images."
    )


def selector(service: str) -> dict[str, str]:
    return {"app.kubernetes.io/name": service}


def _labels(env: str, service: str) -> dict[str, str]:
    return ownership.labels(env, service) | selector(service)


def env_vars(variables: Mapping[str, str], port: int) -> list[Obj]:
    """Kubernetes ``env`` entries; references become secretKeyRefs, never values."""
    out: list[Obj] = [{"name": "PORT", "value": str(port)}]
    helpers: list[Obj] = []
    for name in sorted(variables):
        if name == "PORT":
            continue
        value = variables[name]
        found = [r for r in refs.find(value) if r.scope]
        if not found:
            out.append({"name": name, "value": value.replace("$(", "$$(")})
        elif len(found) == 1 and value.strip() == "${" + found[0].text + "}":
            out.append({"name": name, "valueFrom": _secret_ref(found[0].text)})
        else:
            out.append({"name": name, "value": _compose(value, helpers)})
    return helpers + out


def _secret_ref(reference: str) -> Obj:
    return {"secretKeyRef": {"name": manifests.SECRETS, "key": reference}}


def _compose(value: str, helpers: list[Obj]) -> str:
    """``postgres://${services.db.host}/x`` → ``postgres://$(CIVIC_REF_0)/x`` plus a helper."""

    def name_for(ref: refs.Ref) -> str:
        for helper in helpers:
            if helper["valueFrom"]["secretKeyRef"]["key"] == ref.text:
                return f"$({helper['name']})"
        helpers.append({"name": f"CIVIC_REF_{len(helpers)}", "valueFrom": _secret_ref(ref.text)})
        return f"$({helpers[-1]['name']})"

    return refs.substitute(value.replace("$(", "$$("), name_for)


def resources(spec: models.ServiceSpec, limits: models.Limits) -> Obj:
    own = spec.resources
    cpu, memory = own.cpu or limits.default_cpu, own.memory or limits.default_memory
    req_cpu = own.request_cpu or limits.default_request_cpu or cpu
    req_memory = own.request_memory or limits.default_request_memory or memory
    out: Obj = {}
    if cpu or memory:
        out["limits"] = {k: v for k, v in (("cpu", cpu), ("memory", memory)) if v}
    if req_cpu or req_memory:
        out["requests"] = {k: v for k, v in (("cpu", req_cpu), ("memory", req_memory)) if v}
    return out


def _probe(check: models.Check) -> Obj:
    return {
        "httpGet": {"path": check.path, "port": HTTP},
        "periodSeconds": max(1, math.ceil(check.interval_seconds)),
        "timeoutSeconds": max(1, math.ceil(check.timeout_seconds)),
        "failureThreshold": check.failure_threshold,
    }


def container(revision: base.ServiceRevision, *, variables: Mapping[str, str], limits: models.Limits) -> Obj:
    spec = revision.spec
    out: Obj = {
        "name": revision.name,
        "image": spec.image,
        "ports": [{"name": HTTP, "containerPort": spec.port, "protocol": "TCP"}],
        "env": env_vars(variables, spec.port),
        "resources": resources(spec, limits),
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
    }
    if spec.run:
        out["command"] = [_PORT_VAR.sub("$(PORT)", part) for part in spec.run.command]
        if spec.run.working_dir:
            out["workingDir"] = spec.run.working_dir
    out["readinessProbe"] = (
        _probe(spec.readiness) if spec.readiness else {"tcpSocket": {"port": HTTP}, "periodSeconds": 5}
    )
    if spec.liveness:
        out["livenessProbe"] = _probe(spec.liveness)
    return out


def deployment(revision: base.ServiceRevision, *, variables: Mapping[str, str], limits: models.Limits) -> Obj:
    env, name, spec = revision.environment, revision.name, revision.spec
    annotations = {ownership.PREFIX + "revision": str(revision.revision)}
    body: Obj = {
        "revisionHistoryLimit": 5,
        "progressDeadlineSeconds": 600,
        "selector": {"matchLabels": selector(name)},
        "strategy": {
            "type": "RollingUpdate",
            "rollingUpdate": {"maxSurge": spec.rollout.max_surge, "maxUnavailable": spec.rollout.max_unavailable},
        },
        "template": {
            "metadata": {"labels": _labels(env, name), "annotations": dict(annotations)},
            "spec": {
                "automountServiceAccountToken": False,
                "enableServiceLinks": False,
                "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
                "containers": [container(revision, variables=variables, limits=limits)],
                "volumes": [{"name": "tmp", "emptyDir": {}}],
            },
        },
    }
    if spec.autoscaling is None:  # an HPA owns replicas otherwise
        body = {"replicas": revision.replicas if revision.replicas is not None else spec.replicas} | body
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": manifests.meta(name, env, _labels(env, name), annotations),
        "spec": body,
    }


def service(revision: base.ServiceRevision) -> Obj:
    env, name = revision.environment, revision.name
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": manifests.meta(name, env, _labels(env, name)),
        "spec": {
            "type": "ClusterIP",
            "selector": selector(name),
            "ports": [{"name": HTTP, "port": 80, "targetPort": HTTP, "protocol": "TCP"}],
        },
    }


def hosts(revision: base.ServiceRevision, base_domain: str) -> list[str]:
    generated = f"{revision.name}.{revision.environment}.{base_domain}"
    extra = [route.host for route in revision.spec.routes if route.host]
    return list(dict.fromkeys([generated] + extra))


def ingress(revision: base.ServiceRevision, *, cluster: models.Cluster, base_domain: str) -> Obj:
    env, name = revision.environment, revision.name
    prefixes = sorted({route.path_prefix for route in revision.spec.routes}) or ["/"]
    paths = [
        {"path": prefix, "pathType": "Prefix", "backend": {"service": {"name": name, "port": {"name": HTTP}}}}
        for prefix in prefixes
    ]
    names = hosts(revision, base_domain)
    # plain HTTP only redirects (policy ingress-https-only; ingress-nginx reads the annotation)
    annotations = {
        "cert-manager.io/cluster-issuer": cluster.cluster_issuer,
        "nginx.ingress.kubernetes.io/force-ssl-redirect": "true",
    }
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": manifests.meta(name, env, _labels(env, name), annotations),
        "spec": {
            "ingressClassName": cluster.ingress_class,
            "tls": [{"hosts": names, "secretName": f"{name}-tls"}],
            "rules": [{"host": host, "http": {"paths": paths}} for host in names],
        },
    }


def autoscaler(revision: base.ServiceRevision) -> Obj | None:
    scaling = revision.spec.autoscaling
    if scaling is None:
        return None
    env, name = revision.environment, revision.name
    metrics: list[Obj] = []
    if scaling.target_requests_per_second:
        metrics.append(
            {
                "type": "Pods",
                "pods": {
                    "metric": {"name": "http_requests_per_second"},
                    "target": {"type": "AverageValue", "averageValue": _quantity(scaling.target_requests_per_second)},
                },
            }
        )
    if scaling.target_cpu_percent or not metrics:
        metrics.append(
            {
                "type": "Resource",
                "resource": {
                    "name": "cpu",
                    "target": {"type": "Utilization", "averageUtilization": scaling.target_cpu_percent or 80},
                },
            }
        )
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": manifests.meta(name, env, _labels(env, name)),
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
            "minReplicas": max(1, scaling.min),
            "maxReplicas": max(scaling.max, scaling.min, 1),
            "metrics": metrics,
            "behavior": {"scaleDown": {"stabilizationWindowSeconds": int(scaling.stabilization_seconds)}},
        },
    }


def _quantity(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{int(value * 1000)}m"


def disruption_budget(revision: base.ServiceRevision) -> Obj:
    env, name = revision.environment, revision.name
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": manifests.meta(name, env, _labels(env, name)),
        "spec": {"maxUnavailable": 1, "selector": {"matchLabels": selector(name)}},
    }


def variables_for(env: models.Environment, spec: models.ServiceSpec) -> dict[str, Any]:
    """The environment's variables with the service's own on top."""
    return dict(env.spec.variables) | dict(spec.env)
