"""Civic's marks on what it renders: ownership labels, annotations and ApplySets.

Every object Civic renders carries ``app.kubernetes.io/managed-by: civic`` and the
environment's name; members of an ApplySet carry ``applyset.kubernetes.io/part-of``
with their parent's ID, computed exactly as kubectl computes it (KEP-3659), so
``kubectl apply --prune --applyset`` and Civic agree on what belongs together.
There is one parent (a ConfigMap) per environment and one per service, and one
platform ApplySet for cluster-wide objects (the admission policies), whose parent
lives in Civic's own namespace ``civic-system``: a namespace, not an environment.
Used by the renderers and by the apply engine, which prunes only objects carrying
these marks. Pure.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Any

PREFIX = "civic.dev/"
MANAGED_BY = "app.kubernetes.io/managed-by"
MANAGER = "civic"
FIELD_MANAGER = "civic"
TOOLING = "civic/v1"

ENVIRONMENT = PREFIX + "environment"
SERVICE = PREFIX + "service"
APPLYSET_ROLE = PREFIX + "applyset"
DESIRED_HASH = PREFIX + "desired-hash"

PART_OF = "applyset.kubernetes.io/part-of"
PARENT_ID = "applyset.kubernetes.io/id"
ANN_TOOLING = "applyset.kubernetes.io/tooling"
ANN_GROUP_KINDS = "applyset.kubernetes.io/contains-group-kinds"

ENV_PARENT = "civic-environment"

PLATFORM_NAMESPACE = "civic-system"
"""Where the parents of cluster-wide ApplySets live; never an environment, never deleted as one."""
PLATFORM = PREFIX + "platform"
"""The label (``"true"``) marking ``civic-system`` as Civic's platform namespace."""
ADMISSION_PARENT = "civic-admission"
ADMISSION = "admission"
"""The ApplySet role of the admission policies' parent (besides "environment" and "service")."""


def service_parent(service: str) -> str:
    return f"civic-service-{service}"[:63].rstrip("-")


def applyset_id(*, name: str, namespace: str, kind: str = "ConfigMap", group: str = "") -> str:
    """kubectl's ID: ``applyset-<base64url(sha256(name.namespace.kind.group))>-v1``."""
    digest = hashlib.sha256(".".join((name, namespace, kind, group)).encode()).digest()
    return f"applyset-{base64.urlsafe_b64encode(digest).decode().rstrip('=')}-v1"


def group_kind(obj: Mapping[str, Any]) -> str:
    """``Deployment.apps``, ``Service`` (core): the form kubectl writes in contains-group-kinds."""
    api_version = obj["apiVersion"]
    group = api_version.split("/")[0] if "/" in api_version else ""
    return f"{obj['kind']}.{group}" if group else obj["kind"]


def split_group_kinds(value: str | None) -> set[str]:
    return {item for item in (value or "").split(",") if item}


def labels(environment: str, service: str | None = None) -> dict[str, str]:
    out = {MANAGED_BY: MANAGER, ENVIRONMENT: environment}
    if service:
        out[SERVICE] = service
    return out


def parent(
    *, environment: str, service: str | None, members: Iterable[Mapping[str, Any]], digest: str
) -> dict[str, Any]:
    """The ApplySet parent ConfigMap for one environment (service None) or one service."""
    name = service_parent(service) if service else ENV_PARENT
    return _parent(
        name=name,
        namespace=environment,
        marks=labels(environment, service),
        role="service" if service else "environment",
        members=members,
        digest=digest,
    )


def platform_parent(*, name: str, role: str, members: Iterable[Mapping[str, Any]], digest: str) -> dict[str, Any]:
    """The parent ConfigMap, in ``civic-system``, of a platform ApplySet of cluster-wide objects."""
    return _parent(
        name=name, namespace=PLATFORM_NAMESPACE, marks={MANAGED_BY: MANAGER}, role=role, members=members, digest=digest
    )


def _parent(
    *, name: str, namespace: str, marks: dict[str, str], role: str, members: Iterable[Mapping[str, Any]], digest: str
) -> dict[str, Any]:
    marks = marks | {PARENT_ID: applyset_id(name=name, namespace=namespace), APPLYSET_ROLE: role}
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": marks,
            "annotations": {
                ANN_TOOLING: TOOLING,
                ANN_GROUP_KINDS: ",".join(sorted({group_kind(m) for m in members})),
                DESIRED_HASH: digest,
            },
        },
    }


def digest(objects: Iterable[object]) -> str:
    """A short, stable hash of rendered objects: equal renders, equal digests."""
    text = json.dumps(list(objects), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]
