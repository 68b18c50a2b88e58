"""The desired state of one environment, read whole from the store each time.

The reconciler calls :func:`environment` for every pass: the applied Platform and
Environment specs, the current revision of each deployed service with its overrides
(scale, restart), and its variables resolved (secrets decrypted here). Level-based:
nothing here depends on what changed.
"""

from __future__ import annotations

import dataclasses

from civic import policy
from civic.backends import base
from civic.reconcile import variables
from civic.spec import models
from civic.store import deployments
from civic.store.crypto import SecretBox
from civic.store.state import StateStore


@dataclasses.dataclass(frozen=True)
class Context:
    """Where desired state comes from."""

    store: StateStore
    records: deployments.Deployments
    box: SecretBox
    policies: policy.PolicySet | None = None  # the estate's; None: the built-in library only


def platform(ctx: Context) -> models.Platform:
    return ctx.store.platform()


def environment_spec(ctx: Context, name: str) -> models.Environment | None:
    return ctx.store.environment(name)


def environments(ctx: Context) -> list[str]:
    """Every environment with a deployed service, or applied."""
    named = {name for _, name in ctx.store.all_specs("Environment")}
    return sorted(named | {c.environment for c in ctx.records.current()})


def secret_lookup(ctx: Context, environment: str):  # noqa: ANN201 - a callable str -> str
    return lambda name: ctx.box.decrypt(ctx.store.get_secret(environment, name))


def environment(ctx: Context, name: str) -> tuple[base.DesiredEnvironment, list[str]]:
    """The desired state of ``name`` and any warnings about variables left out."""
    env = environment_spec(ctx, name)
    if env is None:
        return base.DesiredEnvironment(name, platform(ctx), None), []
    out, warnings = [], []
    for current in ctx.records.current(name):
        recorded = ctx.records.revision(name, current.service, current.revision)
        service = models.Service.model_validate(recorded.spec)
        resolved = variables.resolve(env.spec, service.spec.env, secret=secret_lookup(ctx, name))
        warnings += [f"{current.service}: {w}" for w in resolved.warnings]
        warnings += [f"{current.service}: variable {v} is not set: {p}." for v, p in resolved.errors]
        out.append(
            base.ServiceRevision(
                name,
                current.service,
                current.revision,
                service.spec,
                resolved.environ,
                current.replicas,
                current.generation,
                recorded.release,
            )
        )
    return base.DesiredEnvironment(name, platform(ctx), env, tuple(out)), warnings
