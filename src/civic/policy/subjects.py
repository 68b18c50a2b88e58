"""What policies judge: subjects, and the small registry of the kinds they can be.

A :class:`Subject` is one object in the form policies read: every field present, with
its default (``model_dump`` of the spec model, so ``object.spec.readiness == null``
works in CEL), plus the environment it lives in. :data:`KINDS` says, for each kind,
how to get that form from a stored spec and which derived values (``hosts``,
``variables``, ``effective``) its policies may use. To judge a new kind (a Kubernetes
Pod or Ingress that Civic renders), :func:`register` a :class:`SubjectKind` for it;
nothing else changes. Pure.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

import pydantic

from civic.spec import models, yamlpos

View = Callable[[Mapping[str, Any]], dict[str, Any]]


@dataclasses.dataclass(frozen=True)
class Subject:
    kind: str
    name: str
    object: Mapping[str, Any]
    environment: Mapping[str, Any] | None = None  # its own for an Environment
    file: str = ""
    document: yamlpos.Document | None = dataclasses.field(default=None, compare=False, repr=False)

    @property
    def environment_name(self) -> str | None:
        env = self.environment
        return env["metadata"]["name"] if env else None

    @property
    def key(self) -> tuple[str, str]:
        env = self.environment_name
        return (self.kind, f"{env}/{self.name}" if self.kind == "Service" and env else self.name)

    def where(self, field: str) -> tuple[str, int, int]:
        """The file, line and column of ``field`` (dotted), as near as the file says."""
        if self.document is None:
            return (self.file, 0, 0)
        line, column = self.document.where(tuple(p for p in field.split(".") if p))
        return (self.file, line, column)


@dataclasses.dataclass(frozen=True)
class SubjectKind:
    """How policies see one kind of object."""

    name: str
    view: View
    hosts: Callable[[Mapping[str, Any]], list[str]] = lambda obj: []
    variables: Callable[[Mapping[str, Any]], Mapping[str, str]] = lambda obj: {}
    exceptions: Callable[[Mapping[str, Any]], list[Mapping[str, Any]]] = lambda obj: []
    api: tuple[tuple[str, str], ...] = ()
    """For a Kubernetes kind: the (API group, kind) pairs it stands for ("" is the core group)."""


KINDS: dict[str, SubjectKind] = {}


def register(kind: SubjectKind) -> None:
    """Make ``kind`` something policies can apply to (``appliesTo: [kind.name]``)."""
    KINDS[kind.name] = kind


def kind_of(obj: Mapping[str, Any]) -> str | None:
    """The subject kind of a written object: Civic's by its kind, a Kubernetes object by its
    API group and kind (a Kubernetes Service is ``KubernetesService``); None if not judged."""
    api_version, kind = str(obj.get("apiVersion") or ""), str(obj.get("kind") or "")
    if api_version.startswith("civic/") or not api_version:
        return kind if kind in KINDS else None
    group = api_version.split("/")[0] if "/" in api_version else ""
    return next((k.name for k in KINDS.values() if (group, kind) in k.api), None)


def _model_view(kind: str) -> View:
    cls = models.KINDS[kind]

    def view(obj: Mapping[str, Any]) -> dict[str, Any]:
        try:
            model = cls.model_validate(obj)
        except pydantic.ValidationError as e:
            first = e.errors(include_url=False)[0]
            where = ".".join(str(p) for p in first["loc"])
            raise ValueError(f"not a valid {kind}: {where}: {first['msg']}") from None
        return full(model)

    return view


SAFE_SERVICE = {"security": models.SecurityContext().model_dump(mode="json", by_alias=True), "exposure": "router"}


def full(model: models.Model) -> dict[str, Any]:
    """Every field of ``model`` with its default; unset safe defaults spelled out."""
    out = model.model_dump(mode="json", by_alias=True)
    spec = out.get("spec") or {}
    if "policyExceptions" in spec and spec["policyExceptions"] is None:
        spec["policyExceptions"] = []
    if out.get("kind") == "Service":
        for key, value in SAFE_SERVICE.items():
            if spec.get(key) is None:
                spec[key] = value
    return out


def _spec(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    return obj.get("spec") or {}


register(SubjectKind("Platform", _model_view("Platform")))
register(SubjectKind("Team", _model_view("Team")))
register(
    SubjectKind(
        "Environment",
        _model_view("Environment"),
        hosts=lambda obj: [h["name"] for h in _spec(obj).get("hosts", [])],
        variables=lambda obj: _spec(obj).get("variables", {}),
        exceptions=lambda obj: _spec(obj).get("policyExceptions") or [],
    )
)
register(
    SubjectKind(
        "Service",
        _model_view("Service"),
        hosts=lambda obj: [r["host"] for r in _spec(obj).get("routes", []) if r.get("host")],
        variables=lambda obj: _spec(obj).get("env", {}),
        exceptions=lambda obj: _spec(obj).get("policyExceptions") or [],
    )
)


def from_model(
    model: models.Kind,
    *,
    environment: models.Environment | None = None,
    file: str = "",
    document: yamlpos.Document | None = None,
) -> Subject:
    """A subject from a loaded model (the estate's, or a service about to deploy)."""
    obj = full(model)
    env = obj if isinstance(model, models.Environment) else (full(environment) if environment else None)
    return Subject(obj["kind"], obj["metadata"]["name"], obj, env, file, document)


def from_spec(
    kind: str, name: str, spec: Mapping[str, Any], *, environment: Mapping[str, Any] | None = None, file: str = ""
) -> Subject:
    """A subject from a stored canonical spec; raises ValueError if it is no longer valid."""
    obj = KINDS[kind].view(spec)
    env = obj if kind == "Environment" else environment
    return Subject(kind, name, obj, env, file)


def platform_variables(platform: Mapping[str, Any]) -> dict[str, Any]:
    """What every policy sees of the platform: ``platform``, ``domains`` and ``businessUnits``.

    The small ones save converting the whole of civic.yaml for CEL, object by object."""
    spec = _spec(platform)
    return {
        "platform": platform,
        "domains": [spec.get("baseDomain", "localhost"), *spec.get("domains", [])],
        "businessUnits": list(spec.get("businessUnits") or []),
    }


def variables(subject: Subject, platform: Mapping[str, Any]) -> dict[str, Any]:
    """The CEL variables of ``subject``, besides ``platform``, ``domains`` and ``params``."""
    kind = KINDS[subject.kind]
    return {
        "object": subject.object,
        "environment": subject.environment,
        "hosts": kind.hosts(subject.object),
        "variables": dict(kind.variables(subject.object)),
        "effective": effective_resources(subject, platform),
    }


RESOURCES = (
    ("cpu", "defaultCpu"),
    ("memory", "defaultMemory"),
    ("requestCpu", "defaultRequestCpu"),
    ("requestMemory", "defaultRequestMemory"),
)


def effective_resources(subject: Subject, platform: Mapping[str, Any]) -> dict[str, Any]:
    """A service's per-replica resources after defaults: its own, else its environment's,
    else the platform's (null where none is set). Empty for other kinds."""
    if subject.kind != "Service":
        return {}
    own = _spec(subject.object).get("resources") or {}
    env = (_spec(subject.environment or {}).get("limits")) or {}
    plat = ((_spec(platform).get("defaults") or {}).get("limits")) or {}
    return {key: own.get(key) or env.get(default) or plat.get(default) for key, default in RESOURCES}
