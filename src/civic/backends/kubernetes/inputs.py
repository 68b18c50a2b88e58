"""From files to the backend protocol's values: service specs and desired environments.

``civic render`` and ``civic cluster ...`` name service specs by file
(``civic.service.yaml``); :func:`load_service` reads one and reports problems at their
line, including what the Kubernetes backend needs beyond the local runtime (an image)
and references the environment cannot resolve. :func:`desired` assembles a
:class:`~civic.backends.base.DesiredEnvironment` from the estate. Reads files; no
network.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

from civic.backends import base
from civic.backends.kubernetes import workloads
from civic.errors import Problem, SpecError, UsageError
from civic.spec import estate as estate_mod
from civic.spec import loading, models, refs, yamlpos


def load_service(path: str, *, environment: models.Environment | None = None) -> models.Service:
    """A service spec from ``path``; SpecError with every problem at its line."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except (OSError, UnicodeDecodeError) as e:
        raise SpecError(
            [
                Problem(
                    path,
                    0,
                    0,
                    "",
                    f"cannot be read: {getattr(e, 'strerror', e)}; give the path of a civic.service.yaml.",
                )
            ]
        ) from e
    doc, problems = yamlpos.parse(text, file=path)
    if doc is None:
        raise SpecError(problems)
    model, found = loading.load(doc, expect="Service")
    problems += found
    if isinstance(model, models.Service):
        problems += _kubernetes_problems(doc, model, environment)
    if problems or not isinstance(model, models.Service):
        raise SpecError(problems)
    return model


def _kubernetes_problems(
    doc: yamlpos.Document, service: models.Service, environment: models.Environment | None
) -> list[Problem]:
    out = []
    if not service.spec.image:
        env = environment.metadata.name if environment is not None else None
        out.append(doc.problem(("spec",), workloads.no_image(service.metadata.name, environment=env)))
    if environment is not None:
        for key, value in service.spec.env.items():
            for ref in refs.find(value):
                wrong = refs.check(ref, environment.spec)
                if wrong:
                    out.append(doc.problem(("spec", "env", key), wrong + "."))
    return out


def service_paths(paths: Sequence[str]) -> list[str]:
    """Files as given; a directory means its civic.service.yaml."""
    out = []
    for path in paths:
        full = os.path.join(path, "civic.service.yaml") if os.path.isdir(path) else path
        out.append(full)
    return out


def desired(
    estate: estate_mod.Estate,
    name: str,
    *,
    services: Sequence[models.Service] = (),
    secrets: Mapping[str, str] | None = None,
    revision: int = 1,
) -> base.DesiredEnvironment:
    """The desired state of environment ``name``: its spec, teams and these services."""
    env = estate.environments.get(name)
    if env is None:
        raise UsageError(
            f"there is no environment '{name}' in the estate at {estate.root}; 'civic validate' lists what there is."
        )
    names = [s.metadata.name for s in services]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise UsageError(f"service '{twice[0]}' is given twice; give each service once.")
    teams = {
        t: estate.teams[t] for t in {env.spec.team, *(g.team for g in env.spec.access if g.team)} if t in estate.teams
    }
    revisions = tuple(
        base.ServiceRevision(environment=name, name=s.metadata.name, revision=revision, spec=s.spec) for s in services
    )
    return base.DesiredEnvironment(
        name=name,
        platform=estate.platform,
        environment=env,
        services=revisions,
        teams=teams,
        secrets=dict(secrets or {}),
    )
