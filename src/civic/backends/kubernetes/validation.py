"""Is every rendered object valid? Against the official schemas, and our CRD schemas.

Kubernetes' own kinds are checked against the OpenAPI-derived JSON schemas that the
``kubernetes-validate`` package ships (1.25 to 1.37), in strict mode, so an unknown
field is an error. The CRDs Civic renders (ServiceMonitor, PrometheusRule,
ExternalSecret) are checked against the schemas in ``schemas/``, written from those
projects' API references. Validators are built once per (version, kind) and reused:
``kubernetes_validate.validate`` reloads its schema on every call, which would make
validating a whole estate take minutes. Called by tests, ``civic render --validate``
and the benchmark. Reads packaged files; no network.
"""

from __future__ import annotations

import functools
import json
import os
import re
from collections.abc import Iterable
from typing import Any

import jsonschema
import referencing
from kubernetes_validate import utils as kv_utils

from civic.backends.kubernetes import targets

SCHEMAS = os.path.join(os.path.dirname(__file__), "schemas")
CRDS = {
    ("monitoring.coreos.com/v1", "ServiceMonitor"): "servicemonitor.json",
    ("monitoring.coreos.com/v1", "PrometheusRule"): "prometheusrule.json",
    ("external-secrets.io/v1", "ExternalSecret"): "externalsecret.json",
}


def versions() -> list[str]:
    """The Kubernetes versions whose schemas the installed kubernetes-validate ships."""
    return sorted(
        {kv_utils.major_minor(v) for v in kv_utils.all_versions()}, key=lambda v: tuple(int(p) for p in v.split("."))
    )


@functools.cache
def _definitions(version: str) -> referencing.Resource:
    return referencing.Resource.from_contents(
        kv_utils.schema_contents(f"kubernetes-json-schema/v{version}.0-local-strict/_definitions.json", version)
    )


@functools.cache
def _validator(version: str, api_version: str, kind: str) -> Any:
    crd = CRDS.get((api_version, kind))
    if crd:
        with open(os.path.join(SCHEMAS, crd), encoding="utf-8") as f:
            return jsonschema.Draft202012Validator(json.load(f))
    group_version = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    path = f"kubernetes-json-schema/v{version}.0-local-strict/{kind.lower()}-{group_version}.json"
    try:
        schema = kv_utils.schema_contents(path, version)
    except FileNotFoundError:
        return None
    resource = referencing.Resource.from_contents(schema)
    registry = _definitions(version) @ (resource @ referencing.Registry())
    return jsonschema.Draft202012Validator(schema, registry=registry)


def _where(error: jsonschema.ValidationError) -> str:
    return ".".join(str(p) for p in error.absolute_path) or "(the object)"


def problems(obj: dict[str, Any], version: str) -> list[str]:
    """What is wrong with ``obj`` at Kubernetes ``version`` ("1.25"); empty when valid."""
    if not targets.supported(version):
        raise ValueError(f"Kubernetes {version} is outside {targets.OLDEST}..{targets.NEWEST}")
    meta = obj.get("metadata", {})
    name = f"{obj.get('kind')} {meta.get('namespace', '')}/{meta.get('name')}".replace(" /", " ")
    validator = _validator(version, obj.get("apiVersion", ""), obj.get("kind", ""))
    if validator is None:
        return [f"{name}: no schema for {obj.get('apiVersion')} {obj.get('kind')} in Kubernetes {version}."]
    return [
        f"{name}: {_where(e)}: {e.message} (Kubernetes {version} schema)"
        for e in sorted(validator.iter_errors(obj), key=lambda e: list(map(str, e.absolute_path)))
    ]


def check_all(objects: Iterable[dict[str, Any]], versions_: Iterable[str]) -> list[str]:
    out: list[str] = []
    listed = list(objects)
    for version in versions_:
        for obj in listed:
            out += problems(obj, version)
    return out
