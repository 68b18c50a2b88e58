"""Where a service's secret values come from on a cluster, without ever writing them.

Every reference an environment can make (``${secrets.NAME}`` and
``${services.DB.ATTRIBUTE}``) becomes one key of one Secret per environment,
``civic-secrets``, keyed by the reference's text (``secrets.api-key``). On a normal
cluster an ExternalSecret fills that Secret from the cluster's secret store, so the
rendered output holds only names. On a development cluster a plain Secret is rendered
instead, with the values the caller gives (``DesiredEnvironment.secrets``) and no
placeholders: a value not given is left out and listed in an annotation. Called by
:mod:`.rendering`. Pure.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping

from civic.backends.kubernetes import manifests, ownership
from civic.backends.kubernetes.manifests import Obj
from civic.spec import models

MISSING = ownership.PREFIX + "missing-values"


def references(env: models.Environment) -> list[str]:
    """Every reference the environment can resolve, as ``secrets.x`` / ``services.db.url``."""
    out = [f"secrets.{name}" for name in env.spec.secrets]
    for name, backing in sorted(env.spec.backing_services.items()):
        out += [f"services.{name}.{attr}" for attr in models.BACKING_ATTRIBUTES[backing.type]]
    return sorted(out)


def _remote(env: str, reference: str) -> dict[str, str]:
    parts = reference.split(".")
    if parts[0] == "secrets":
        return {"key": f"{env}/{parts[1]}"}
    return {"key": f"{env}/services/{parts[1]}", "property": parts[2]}


def external_secret(env: models.Environment, cluster: models.Cluster) -> Obj:
    name = env.metadata.name
    return {
        "apiVersion": "external-secrets.io/v1",
        "kind": "ExternalSecret",
        "metadata": manifests.meta(manifests.SECRETS, name, ownership.labels(name)),
        "spec": {
            "refreshInterval": "1h",
            "secretStoreRef": {"kind": "ClusterSecretStore", "name": cluster.secret_store},
            "target": {"name": manifests.SECRETS, "creationPolicy": "Owner"},
            "data": [{"secretKey": ref, "remoteRef": _remote(name, ref)} for ref in references(env)],
        },
    }


def plain_secret(env: models.Environment, values: Mapping[str, str]) -> Obj:
    """A development cluster's Secret: only the values given; the missing ones named."""
    name = env.metadata.name
    wanted = references(env)
    data = {ref: base64.b64encode(values[ref].encode()).decode() for ref in wanted if ref in values}
    missing = [ref for ref in wanted if ref not in values]
    annotations = {MISSING: ",".join(missing)} if missing else None
    obj: Obj = {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": manifests.meta(manifests.SECRETS, name, ownership.labels(name), annotations),
    }
    if data:
        obj["data"] = data
    return obj


def secret_object(env: models.Environment, cluster: models.Cluster, values: Mapping[str, str]) -> Obj | None:
    if not references(env):
        return None
    if cluster.development:
        return plain_secret(env, values)
    return external_secret(env, cluster)
