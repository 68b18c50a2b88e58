"""Deploy, roll back, scale and restart: the rules for changing what a service runs.

:func:`deploy` checks a service file with the same care as estate files (parse,
``--set`` overrides, checks against the environment, quota with room for the rollout's
surge, policy: :func:`prepare`) and records it as the next numbered revision, made
current; the reconciler does the rest. Nothing is recorded unless every check passes.

:func:`check_policy` is the single place where deploy-time policy is checked, and
:func:`previous_good` the single rule for which revision a rollback returns to: the
API's ``civic rollback`` and the reconciler's automatic rollback of a revision that
never became ready both use it. The control plane (:mod:`civic.control.plane`) calls
these; the API's routes only translate HTTP.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import yaml

from civic import policy
from civic.backends.local import limits
from civic.errors import NotFound, PolicyDenied, SpecError, UsageError
from civic.reconcile import desired, variables
from civic.spec import checks, loading, models, quantities, yamlpos
from civic.store import deployments

log = logging.getLogger("civic.deploys")


@dataclasses.dataclass(frozen=True)
class Prepared:
    service: models.Service
    warnings: tuple[str, ...]


def check_policy(
    *,
    environment: models.Environment,
    service: models.Service,
    platform: models.Platform,
    policies: policy.PolicySet | None,
    others: tuple[models.Service, ...] = (),
    claims: Mapping[str, Sequence[str]] | None = None,
    document: yamlpos.Document | None = None,
) -> tuple[str, ...]:
    """Every deploy passes here before it is recorded: a denial raises PolicyDenied (nothing is
    recorded); warnings are returned, for the deploy to show. ``claims``: who holds the
    hostnames the service claims (:func:`claimed_hosts`), from the store; ``document``: the
    service file, so that each verdict says its line."""
    report = policy.enforce_service(
        service, environment, platform, policies=policies, others=others, claims=claims, document=document
    )
    return tuple(
        f"policy {v.policy}: {' '.join(v.messages)}"
        for v in report.verdicts
        if v.failed and not v.denied and v.mode is policy.Mode.WARN
    )


def claimed_hosts(service: models.Service, environment: str, platform: models.Platform) -> tuple[str, ...]:
    """The hostnames a deploy of ``service`` claims for ``environment``: its generated
    ``<service>.<environment>.<baseDomain>`` and its routes' hosts."""
    generated = f"{service.metadata.name}.{environment}.{platform.spec.base_domain}"
    return tuple(sorted({generated, *(r.host for r in service.spec.routes if r.host)}))


def parse(text: str, *, file: str, overrides: Sequence[str] = ()) -> tuple[models.Service, yamlpos.Document]:
    """The Service in ``text``, with ``--set key=value`` overrides; SpecError with positions."""
    doc, problems = yamlpos.parse(text, file=file)
    if problems:
        raise SpecError(problems)
    assert doc is not None  # yamlpos.parse returns no document only with problems, raised above
    if overrides and isinstance(doc.data, dict) and isinstance(doc.data.get("spec", {}), dict):
        # a spec that is not a mapping has nothing to --set in: loading refuses it at its line
        doc = yamlpos.Document(file, _override(doc.data, overrides, file=file), doc.positions)
    service, problems = loading.load(doc, expect="Service")
    if problems:
        raise SpecError(problems)
    # loading.load returns no model only with problems, and with expect="Service" a models.Service
    assert isinstance(service, models.Service)
    return service, doc


def _override(data: Any, overrides: Sequence[str], *, file: str) -> Any:
    """``replicas=3`` or ``env.GREETING=hello`` (paths under spec; ``spec.`` optional). A value
    under ``env.`` is a string as written, whatever it holds (`` ` ``, ``&&``, ``|``); any other
    is read as YAML, and one that is not YAML is a UsageError naming the ``--set`` item."""
    data = copy.deepcopy(data)
    if not isinstance(data, dict):
        return data
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--set takes key=value, got '{item}'.")
        parts = key.strip().removeprefix("spec.").split(".")
        value = raw if parts[0] == "env" else _yaml_value(item, raw)  # variables stay strings, always
        node = data.setdefault("spec", {})
        for part in parts[:-1]:
            if not isinstance(node.get(part), dict):
                node[part] = {}
            node = node[part]
        node[parts[-1]] = value
    return data


class _SetValueLoader(yaml.SafeLoader):
    """YAML's safe loader, less aliases: a short ``--set`` value never expands into a large one."""

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        if self.check_event(yaml.AliasEvent):
            mark = self.peek_event().start_mark  # type: ignore[no-untyped-call] # untyped in PyYAML's stubs
            raise yaml.composer.ComposerError(None, None, "aliases (*name) are not allowed", mark)
        return super().compose_node(parent, index)


def _yaml_value(item: str, raw: str) -> Any:
    """The value of ``--set key=value`` read as YAML (``3``, ``true``, ``[a, b]``); UsageError if it is not."""
    if not raw.strip():
        return ""
    try:
        return yaml.load(raw, Loader=_SetValueLoader)  # a SafeLoader, without aliases
    except (yaml.YAMLError, ValueError, OverflowError, RecursionError) as e:
        mark = getattr(e, "problem", None) or str(e) or "it does not parse"
        raise UsageError(
            f"--set '{_short(item)}': '{_short(raw)}' is not a valid YAML value ({mark}); quote it to set a string, "
            "such as --set 'key=\"a && b\"'."
        ) from e


def _short(text: str, most: int = 80) -> str:
    return text if len(text) <= most else text[: most - 3] + "..."


def prepare(
    service: models.Service,
    *,
    environment: models.Environment,
    platform: models.Platform,
    others: dict[str, models.ServiceSpec],
    secret_names: set[str],
    doc: yamlpos.Document,
    replicas_override: dict[str, int | None] | None = None,
    policies: policy.PolicySet | None = None,
    claims: Mapping[str, Sequence[str]] | None = None,
) -> Prepared:
    """Every check a deploy must pass; raises SpecError, PolicyDenied or PlanError."""
    spec = service.spec
    problems = []
    cluster = _cluster_of(platform, environment.metadata.name)
    if cluster is not None and not spec.image:
        problems.append(doc.problem(("spec",), _no_image(service.metadata.name, environment, cluster)))
    if spec.run is None:
        problems.append(
            doc.problem(
                ("spec", "run"), "this runtime runs processes: add spec.run.command (what to run; Civic sets $PORT)."
            )
        )
    if spec.run is not None and spec.run.working_dir is not None:
        folder = spec.run.working_dir
        if os.path.isabs(folder) or ".." in folder.replace("\\", "/").split("/"):
            problems.append(
                doc.problem(
                    ("spec", "run", "workingDir"),
                    f"'{folder}' is not a folder of the uploaded code; name one relative to the service's "
                    "folder, without '..', such as 'src' (the code runs from its own copy, not from this "
                    "machine's files).",
                )
            )
    if spec.rollout.strategy == "canary":
        problems.append(
            doc.problem(("spec", "rollout", "strategy"), "'canary' is reserved and not supported yet; use 'rolling'.")
        )
    resolved = variables.resolve(environment.spec, spec.env, secret=_absent(secret_names))
    for name, problem in resolved.errors:
        problems.append(
            doc.problem(
                ("spec", "env", name),
                problem.replace("'civic secret set ENV", f"'civic secret set {environment.metadata.name}") + ".",
            )
        )
    if problems:
        raise SpecError(problems)
    quota_problem = check_quota(
        service, environment=environment, platform=platform, others=others, overrides=replicas_override or {}
    )
    if quota_problem:
        raise PolicyDenied(quota_problem)
    other_services = tuple(
        models.Service(api_version=models.API_VERSION, kind="Service", metadata=models.Metadata(name=name), spec=spec)
        for name, spec in others.items()
        if name != service.metadata.name
    )
    warnings = list(resolved.warnings)
    warnings += check_policy(
        environment=environment,
        service=service,
        platform=platform,
        policies=policies,
        others=other_services,
        claims=claims,
        document=doc,
    )
    if any(v is not None for v in (spec.resources.cpu, spec.resources.memory)) and limits.enforcer() is None:
        warnings.append(f"cpu and memory limits are {limits.describe()}.")
    return Prepared(service, tuple(warnings))


def _cluster_of(platform: models.Platform, environment: str) -> models.Cluster | None:
    """The cluster civic.yaml places ``environment`` on; None: the local runtime. The Kubernetes
    backend is imported only for a platform that declares clusters (it brings httpx)."""
    if not platform.spec.clusters:
        return None
    from civic.backends.kubernetes import targets

    return next((c for c in platform.spec.clusters if targets.claims(c, environment)), None)


def _no_image(service: str, environment: models.Environment, cluster: models.Cluster) -> str:
    from civic.backends.kubernetes import workloads

    return workloads.no_image(service, environment=environment.metadata.name, cluster=cluster.name)


def _absent(secret_names: set[str]) -> Callable[[str], str]:
    """A lookup for variables.resolve: NotFound for a secret that is not set."""

    def lookup(name: str) -> str:
        if name not in secret_names:
            raise NotFound(name)
        return ""

    return lookup


def _most(spec: models.ServiceSpec, override: int | None) -> int:
    if spec.autoscaling is not None:
        return spec.autoscaling.max
    return override if override is not None else spec.replicas


def check_quota(
    service: models.Service,
    *,
    environment: models.Environment,
    platform: models.Platform,
    others: dict[str, models.ServiceSpec],
    overrides: dict[str, int | None],
) -> str | None:
    """None if the deploy fits the environment's quota *with* its surge; else why not."""
    name = environment.metadata.name
    quota, default = environment.spec.quota, platform.spec.defaults.quota
    spec = service.spec
    rest = {n: s for n, s in others.items() if n != service.metadata.name}
    limit = quota.services if quota.services is not None else default.services
    if limit is not None and len(rest) + 1 > limit:
        return (
            f"environment '{name}' may run {limit} services and already runs {len(rest)}; "
            "remove one or raise spec.quota.services in its environment.yaml."
        )
    surge = spec.rollout.max_surge or (0 if spec.rollout.max_unavailable else 1)
    most = _most(spec, None)
    used = sum(_most(s, overrides.get(n)) for n, s in rest.items())
    limit = quota.replicas if quota.replicas is not None else default.replicas
    if limit is not None and used + most + surge > limit:
        return (
            f"environment '{name}' may run {limit} replicas, surge included; this deploy needs "
            f"{most} plus {surge} during the rollout, and other services hold {used}. Lower "
            "replicas (or autoscaling.max) or raise spec.quota.replicas in its environment.yaml."
        )
    for field, parse, per in (
        ("cpu", quantities.millicores, _cpu),
        ("memory", quantities.bytes_, _memory),
        ("requests_cpu", quantities.millicores, _cpu),
        ("requests_memory", quantities.bytes_, _memory),
    ):
        total = getattr(quota, field) or getattr(default, field)
        if total is None:
            continue
        need = sum(per(s, environment, platform) * _most(s, overrides.get(n)) for n, s in rest.items())
        mine = per(spec, environment, platform) * (most + surge)
        if need + mine > parse(total):
            return (
                f"environment '{name}' may use {total} of {_QUOTA_NAMES[field]} across its replicas, surge "
                f"included; this deploy would take it over. Lower spec.resources.{_RESOURCE[field]} or "
                f"replicas, or raise spec.quota.{_QUOTA_NAMES[field]} in its environment.yaml."
            )
    return None


_QUOTA_NAMES = {"cpu": "cpu", "memory": "memory", "requests_cpu": "requestsCpu", "requests_memory": "requestsMemory"}
_RESOURCE = {"cpu": "cpu", "memory": "memory", "requests_cpu": "requestCpu", "requests_memory": "requestMemory"}


def _cpu(spec: models.ServiceSpec, env: models.Environment, platform: models.Platform) -> int:
    value = (
        spec.resources.request_cpu
        or spec.resources.cpu
        or env.spec.limits.default_request_cpu
        or platform.spec.defaults.limits.default_request_cpu
        or "0"
    )
    return quantities.millicores(value)


def _memory(spec: models.ServiceSpec, env: models.Environment, platform: models.Platform) -> int:
    value = (
        spec.resources.request_memory
        or spec.resources.memory
        or env.spec.limits.default_request_memory
        or platform.spec.defaults.limits.default_request_memory
        or "0"
    )
    return quantities.bytes_(value)


# --- the use cases -------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Deployed:
    """A deploy as recorded: its revision (a new one, or the current one when unchanged)."""

    environment: str
    service: str
    revision: int
    changed: bool
    warnings: tuple[str, ...]
    progress_deadline_seconds: float


def deploy(
    ctx: desired.Context,
    environment: models.Environment,
    *,
    text: str,
    file: str,
    overrides: list[str],
    by: str,
    only_if_changed: bool = False,
    artifact: str | None = None,
    build: Callable[[models.Service], str] | None = None,
) -> Deployed:
    """Check one service file against ``environment`` and record it as the next revision.

    ``artifact``: the uploaded code it runs; ``build`` makes a release of it once every check
    has passed and returns the build id, which the revision records (a failed build raises
    BuildFailed and records nothing). With ``only_if_changed`` (``civic up --deploy``), a spec
    and code equal to the current ones record nothing. Raises SpecError or PolicyDenied,
    recording nothing, when a check fails.
    """
    env = environment.metadata.name
    records = ctx.records
    service, doc = parse(text, file=file, overrides=overrides)
    name = service.metadata.name
    if artifact is None and service.spec.run is not None and service.spec.run.working_dir:
        raise SpecError(
            [
                doc.problem(
                    ("spec", "run", "workingDir"),
                    "a working folder is a folder of the uploaded code, and this deploy uploads none; deploy "
                    "the service's folder ('civic deploy ENV FOLDER'), or leave workingDir out.",
                )
            ]
        )
    checked = _check(ctx, environment, service, doc)
    current = {c.service: c for c in records.current(env)}
    if only_if_changed and name in current:
        now = records.revision(env, name, current[name].revision)
        if now.spec == service.canonical() and now.artifact == artifact:
            return Deployed(
                env, name, now.revision, False, checked.warnings, service.spec.rollout.progress_deadline_seconds
            )
    release = build(service) if artifact is not None and build is not None else None
    if release is not None:
        checked = _check(ctx, environment, service, doc)  # again: the estate or others may have changed meanwhile
    hosts = claimed_hosts(service, env, desired.platform(ctx))
    number = records.add_revision(
        env, name, spec=service.canonical(), by=by, hosts=hosts, artifact=artifact, release=release
    )
    return Deployed(env, name, number, True, checked.warnings, service.spec.rollout.progress_deadline_seconds)


def _check(
    ctx: desired.Context, environment: models.Environment, service: models.Service, doc: yamlpos.Document
) -> Prepared:
    env = environment.metadata.name
    current = {c.service: c for c in ctx.records.current(env)}
    deployed = {n: s for (_, n), s in ctx.records.current_services(env).items()}
    platform = desired.platform(ctx)
    hosts = claimed_hosts(service, env, platform)
    return prepare(
        service,
        environment=environment,
        platform=platform,
        others={n: s.spec for n, s in deployed.items()},
        secret_names={s.name for s in ctx.store.list_secrets(env)},
        doc=doc,
        replicas_override={n: c.replicas for n, c in current.items()},
        policies=ctx.policies,
        claims=_host_owners(ctx, hosts, platform),
    )


def _host_owners(ctx: desired.Context, hosts: Sequence[str], platform: models.Platform) -> dict[str, tuple[str, ...]]:
    """Who holds each of ``hosts``: the claims in the store, and an applied environment's own
    name under a base domain (``opg-lpa-dev.localhost``), which is that environment's."""
    owners = ctx.records.host_owners(hosts)
    for host in hosts:
        for domain in checks.base_domains(platform.spec):
            label = host.removesuffix("." + domain)
            if host not in owners and label != host and "." not in label and ctx.store.environment(label):
                owners[host] = (label,)
    return owners


def previous_good(records: deployments.Deployments, environment: str, service: str, *, before: int) -> int | None:
    """The revision a rollback returns to: the newest one before ``before`` that did not fail."""
    earlier = [
        r.revision for r in records.revisions(environment, service) if r.revision < before and r.status != "failed"
    ]
    return earlier[0] if earlier else None


def roll_back(
    records: deployments.Deployments,
    environment: str,
    service: str,
    *,
    to: int | None = None,
    kept: Callable[[str], bool] | None = None,
) -> int:
    """``civic rollback``: make ``to`` (default: :func:`previous_good`) current; its number.
    ``kept``: whether a release (a build id) is still on disk; a revision whose release
    retention removed cannot run again, and is refused (NotFound)."""
    current = records.current_of(environment, service)
    target = to if to is not None else previous_good(records, environment, service, before=current.revision)
    if target is None:
        raise NotFound(f"service '{service}' of '{environment}' has no earlier revision to roll back to.")
    release = records.revision(environment, service, target).release  # NotFound for a revision never made
    if release is not None and kept is not None and not kept(release):
        raise NotFound(
            f"revision {target} of {environment}/{service} ran release {release}, which has been removed "
            "(civic.yaml's releases.keep says how many are kept); deploy that code again instead."
        )
    records.set_current(environment, service, revision=target)
    return target


def fail_and_roll_back(records: deployments.Deployments, current: deployments.Current, reason: str) -> None:
    """The reconciler's verdict on a revision that never became ready: mark it failed with
    the backend's reason, and roll back to :func:`previous_good` if there is one."""
    target = previous_good(records, current.environment, current.service, before=current.revision)
    note = f"rolled back to revision {target}" if target is not None else "nothing to roll back to"
    records.mark(current.environment, current.service, current.revision, status="failed", message=f"{reason}; {note}.")
    if target is not None:
        records.set_current(current.environment, current.service, revision=target)
    log.warning("%s/%s: %s; %s", current.environment, current.service, reason, note)


def scale(records: deployments.Deployments, environment: str, service: str, replicas: int) -> None:
    """``civic scale``: a fixed number of replicas; refused for a service that autoscales."""
    current = records.current_of(environment, service)
    spec = records.service_spec(environment, service, current.revision).spec
    if spec.autoscaling is not None:
        raise UsageError(
            f"service '{service}' autoscales between {spec.autoscaling.min} and "
            f"{spec.autoscaling.max} replicas; change spec.autoscaling and deploy "
            "instead of scaling it by hand."
        )
    records.set_replicas(environment, service, replicas)


def restart(records: deployments.Deployments, environment: str, service: str) -> int:
    """``civic restart``: a new generation, so every replica is replaced, a surge at a time."""
    return records.bump_generation(environment, service)
