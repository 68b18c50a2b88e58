"""Plan against the store, and apply a plan into it.

:func:`plan` reads only what it must: every fingerprint (one small query), then the
applied specs of the objects whose fingerprints differ. :func:`apply` takes the apply
lock, plans again inside it (so a second apply that waited sees the first one's
result and reports no changes), then writes each environment in its own transaction.
A team's tokens are deleted as the team is, and the applied environments' hostnames are
claimed in the store (:mod:`civic.store.deployments`), where deploys claim theirs.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Collection

from civic.errors import PlanError
from civic.plan import planning, rendering
from civic.plan.actions import Key
from civic.spec.estate import Estate
from civic.store import deployments
from civic.store.state import StateStore, team_scope


@dataclasses.dataclass(frozen=True)
class Applied:
    plan: planning.Plan
    revision_id: int | None  # None when there was nothing to apply


def _current_secrets(estate: Estate, store: StateStore) -> dict[Key, dict[str, str]]:
    by_scope = store.secret_fingerprints()
    out: dict[Key, dict[str, str]] = {}
    for name, env in estate.environments.items():
        declared = {n: fp for n, fp in by_scope.get(name, {}).items() if n in env.spec.secrets}
        if declared:
            out[("Environment", name)] = declared
    for name in estate.teams:
        if by_scope.get(team_scope(name)):
            out[("Team", name)] = by_scope[team_scope(name)]
    return out


def plan(
    estate: Estate,
    store: StateStore,
    *,
    only: Collection[Key] | None = None,
    allow_delete_production: bool = False,
    revision: str | None = None,
) -> planning.Plan:
    desired = planning.desired(estate)
    desired_fp = planning.desired_fingerprints(estate)
    applied_fp = store.fingerprints()
    changed = planning.changed_keys(desired_fp, applied_fp, only=only)
    return planning.make(
        desired,
        store.specs(changed),
        applied_keys=set(applied_fp),
        secrets=_current_secrets(estate, store),
        applied_secrets=store.applied_secret_fingerprints(),
        only=only,
        allow_delete_production=allow_delete_production,
        revision=revision,
    )


def apply(
    estate: Estate,
    store: StateStore,
    *,
    only: Collection[Key] | None = None,
    allow_delete_production: bool = False,
    revision: str | None = None,
    lock_timeout: float = 30.0,
    on_progress: Callable[[int, int], None] | None = None,
) -> Applied:
    """Apply the estate; ``on_progress(done, total)`` is called after each object.

    A team deleted takes its tokens with it (deleted just before the team is, so no token
    outlives its team); each environment's ``spec.hosts`` are claimed for it, and an
    environment may not claim a hostname another environment's deploy holds.
    """
    records = deployments.Deployments(store)
    with store.lock(timeout=lock_timeout):
        p = plan(estate, store, only=only, allow_delete_production=allow_delete_production, revision=revision)
        if p.refused:
            raise PlanError("nothing was applied: " + " ".join(p.refused))
        taken = _hosts_taken(estate, records)
        if taken:
            raise PlanError("nothing was applied: " + " ".join(taken))
        if p.empty:
            _after(store, records)
            return Applied(p, None)
        revision_id = store.new_revision(git_revision=revision, summary=rendering.summary(p))
        secrets = _current_secrets(estate, store)
        for done, action in enumerate(p.actions, start=1):
            if action.kind == "Team" and action.verb == "delete":
                records.delete_team_tokens(action.name)
            spec = getattr(action, "spec", None)
            store.write(
                revision_id,
                [
                    {
                        "kind": action.kind,
                        "name": action.name,
                        "operation": action.verb,
                        "spec": spec,
                        "fingerprint": planning.fingerprint(spec) if spec is not None else "",
                        "secrets": secrets.get(action.key, {}),
                        "changes": rendering.change_lines(action),
                    }
                ],
            )
            if on_progress is not None:
                on_progress(done, len(p.actions))
        _after(store, records)
        return Applied(p, revision_id)


def _hosts_taken(estate: Estate, records: deployments.Deployments) -> list[str]:
    """Why the estate may not have its hostnames: each one another environment's deploy holds."""
    wanted: dict[str, set[str]] = {}  # hostname -> the environments whose spec.hosts name it (shared: several)
    for name, env in estate.environments.items():
        for host in env.spec.hosts:
            wanted.setdefault(host.name, set()).add(name)
    out = []
    for claim in records.claims(wanted):
        if claim.service == deployments.ESTATE or claim.environment in wanted[claim.host]:
            continue
        for mine in sorted(wanted[claim.host]):
            out.append(
                f"environment '{mine}' claims hostname '{claim.host}', which belongs to {claim.describe()}, "
                f"which claimed it first; remove it from environments/{mine}/environment.yaml, or remove the "
                "route from that service."
            )
    return out


def _after(store: StateStore, records: deployments.Deployments) -> None:
    """Bring what hangs off the applied estate in step with it, even after an apply that was
    interrupted: the estate's claims on hostnames, and no token of a team that is gone."""
    applied = store.all_specs("Environment")  # as stored: no model to validate per environment
    records.set_estate_hosts(
        {name: [h["name"] for h in (spec.get("spec") or {}).get("hosts") or []] for (_, name), spec in applied.items()}
    )
    records.prune_tokens()
