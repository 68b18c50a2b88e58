"""A deploy: a service file checked with the same care as estate files, then recorded.

The API calls :func:`prepare` (parse, ``--set`` overrides, checks against the
environment, quota with room for the rollout's surge, policy) and then
:func:`record`, which stores the result as the next numbered revision and makes it
current; the reconciler does the rest. Nothing is recorded unless every check passes.

:func:`check_policy` is the single place where deploy-time policy is checked.
"""

from __future__ import annotations

import copy
import dataclasses
import os
from typing import Any

import yaml

from civic import policy
from civic.errors import NotFound, PolicyDenied, SpecError, UsageError
from civic.reconcile import variables
from civic.runtime import limits
from civic.spec import loading, models, quantities, yamlpos


@dataclasses.dataclass(frozen=True)
class Prepared:
    service: models.Service
    warnings: tuple[str, ...]


def check_policy(*, environment: models.Environment, service: models.Service, platform: models.Platform,
                 policies: policy.PolicySet | None, others: tuple[models.Service, ...] = ()) -> tuple[str, ...]:
    """Every deploy passes here before it is recorded: a denial raises PolicyDenied (nothing is
    recorded); warnings are returned, for the deploy to show."""
    report = policy.enforce_service(service, environment, platform, policies=policies, others=others)
    return tuple(f"policy {v.policy}: {' '.join(v.messages)}" for v in report.verdicts
                 if v.failed and not v.denied and v.mode is policy.Mode.WARN)


def parse(text: str, *, file: str, overrides: list[str] = (),
          workdir: str | None = None) -> tuple[models.Service, yamlpos.Document]:
    """The Service in ``text``, with ``--set key=value`` overrides; SpecError with positions."""
    doc, problems = yamlpos.parse(text, file=file)
    if problems:
        raise SpecError(problems)
    if overrides:
        doc = yamlpos.Document(file, _override(doc.data, overrides, file=file), doc.positions)
    service, problems = loading.load(doc, expect="Service")
    if problems:
        raise SpecError(problems)
    if service.spec.run is not None and workdir:
        where = os.path.join(workdir, service.spec.run.working_dir or ".")
        run = service.spec.run.model_copy(update={"working_dir": os.path.normpath(where)})
        service = service.model_copy(update={"spec": service.spec.model_copy(update={"run": run})})
    return service, doc


def _override(data: Any, overrides: list[str], *, file: str) -> Any:
    """``replicas=3`` or ``env.GREETING=hello`` (paths under spec; ``spec.`` optional)."""
    data = copy.deepcopy(data)
    if not isinstance(data, dict):
        return data
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--set takes key=value, got '{item}'.")
        parts = key.strip().removeprefix("spec.").split(".")
        value = yaml.safe_load(raw) if raw.strip() else ""
        if parts[0] == "env":
            value = raw  # variables stay strings
        node = data.setdefault("spec", {})
        for part in parts[:-1]:
            if not isinstance(node.get(part), dict):
                node[part] = {}
            node = node[part]
        node[parts[-1]] = value
    return data


def prepare(service: models.Service, *, environment: models.Environment, platform: models.Platform,
            others: dict[str, models.ServiceSpec], secret_names: set[str], doc: yamlpos.Document,
            replicas_override: dict[str, int | None] | None = None,
            policies: policy.PolicySet | None = None) -> Prepared:
    """Every check a deploy must pass; raises SpecError, PolicyDenied or PlanError."""
    spec = service.spec
    problems = []
    if spec.run is None:
        problems.append(doc.problem(("spec", "run"), "this runtime runs processes: add "
                                    "spec.run.command (what to run; Civic sets $PORT)."))
    if spec.rollout.strategy == "canary":
        problems.append(doc.problem(("spec", "rollout", "strategy"), "'canary' is reserved and not "
                                    "supported yet; use 'rolling'."))
    resolved = variables.resolve(environment.spec, spec.env, secret=_absent(secret_names))
    for name, problem in resolved.errors:
        problems.append(doc.problem(("spec", "env", name), problem.replace(
            "'civic secret set ENV", f"'civic secret set {environment.metadata.name}") + "."))
    if problems:
        raise SpecError(problems)
    quota_problem = check_quota(service, environment=environment, platform=platform, others=others,
                                overrides=replicas_override or {})
    if quota_problem:
        raise PolicyDenied(quota_problem)
    other_services = tuple(
        models.Service(api_version=models.API_VERSION, kind="Service",
                       metadata=models.Metadata(name=name), spec=spec)
        for name, spec in others.items() if name != service.metadata.name)
    warnings = list(resolved.warnings)
    warnings += check_policy(environment=environment, service=service, platform=platform,
                             policies=policies, others=other_services)
    if any(v is not None for v in (spec.resources.cpu, spec.resources.memory)) and limits.enforcer() is None:
        warnings.append(f"cpu and memory limits are {limits.describe()}.")
    return Prepared(service, tuple(warnings))


def _absent(secret_names: set[str]):  # noqa: ANN202 - a lookup for variables.resolve
    def lookup(name: str) -> str:
        if name not in secret_names:
            raise NotFound(name)
        return ""
    return lookup


def _most(spec: models.ServiceSpec, override: int | None) -> int:
    if spec.autoscaling is not None:
        return spec.autoscaling.max
    return override if override is not None else spec.replicas


def check_quota(service: models.Service, *, environment: models.Environment, platform: models.Platform,
                others: dict[str, models.ServiceSpec], overrides: dict[str, int | None]) -> str | None:
    """None if the deploy fits the environment's quota *with* its surge; else why not."""
    name = environment.metadata.name
    quota, default = environment.spec.quota, platform.spec.defaults.quota
    spec = service.spec
    rest = {n: s for n, s in others.items() if n != service.metadata.name}
    limit = quota.services if quota.services is not None else default.services
    if limit is not None and len(rest) + 1 > limit:
        return (f"environment '{name}' may run {limit} services and already runs {len(rest)}; "
                "remove one or raise spec.quota.services in its environment.yaml.")
    surge = spec.rollout.max_surge or (0 if spec.rollout.max_unavailable else 1)
    most = _most(spec, None)
    used = sum(_most(s, overrides.get(n)) for n, s in rest.items())
    limit = quota.replicas if quota.replicas is not None else default.replicas
    if limit is not None and used + most + surge > limit:
        return (f"environment '{name}' may run {limit} replicas, surge included; this deploy needs "
                f"{most} plus {surge} during the rollout, and other services hold {used}. Lower "
                "replicas (or autoscaling.max) or raise spec.quota.replicas in its environment.yaml.")
    for field, parse, per in (("cpu", quantities.millicores, _cpu), ("memory", quantities.bytes_, _memory)):
        total = getattr(quota, field) or getattr(default, field)
        if total is None:
            continue
        need = sum(per(s, environment, platform) * _most(s, overrides.get(n)) for n, s in rest.items())
        mine = per(spec, environment, platform) * (most + surge)
        if need + mine > parse(total):
            return (f"environment '{name}' may use {total} of {field} across its replicas, surge "
                    f"included; this deploy would take it over. Lower spec.resources.{field} or "
                    f"replicas, or raise spec.quota.{field} in its environment.yaml.")
    return None


def _cpu(spec: models.ServiceSpec, env: models.Environment, platform: models.Platform) -> int:
    value = (spec.resources.request_cpu or spec.resources.cpu or env.spec.limits.default_request_cpu
             or platform.spec.defaults.limits.default_request_cpu or "0")
    return quantities.millicores(value)


def _memory(spec: models.ServiceSpec, env: models.Environment, platform: models.Platform) -> int:
    value = (spec.resources.request_memory or spec.resources.memory
             or env.spec.limits.default_request_memory
             or platform.spec.defaults.limits.default_request_memory or "0")
    return quantities.bytes_(value)
