"""A service's variables, resolved: the environment's, then its own, references filled in.

``${secrets.NAME}`` takes the environment's secret from the store (decrypted here and
nowhere else; values go only into the replica's environment, never into a log).
``${services.NAME.ATTR}`` names a backing service, which this runtime does not
provision yet. The rule, checked at deploy time and applied at run time:

- a variable in the *service's* ``env`` must resolve, or the deploy fails and says why;
- a variable of the *environment* (``spec.variables``, given to every service) that
  cannot resolve is left out, with a warning the deploy shows.

The API (deploys) and the reconciler (desired state) call :func:`resolve`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping

from civic.errors import CivicError, NotFound
from civic.spec import models, refs

BACKING = (
    "'${{{ref}}}' refers to a backing service, which the local runtime does not "
    "provision yet; remove the variable, or deploy where backing services are provided"
)


@dataclasses.dataclass(frozen=True)
class Resolved:
    environ: dict[str, str]
    warnings: tuple[str, ...]
    errors: tuple[tuple[str, str], ...]  # (variable, what is wrong), service variables only


def resolve(environment: models.EnvironmentSpec, own: Mapping[str, str], *, secret: Callable[[str], str]) -> Resolved:
    """Resolve the environment's variables, then ``own`` (which win on a clash)."""
    environ: dict[str, str] = {}
    warnings: list[str] = []
    errors: list[tuple[str, str]] = []
    for name, value in environment.variables.items():
        if name in own:
            continue
        result, problem = _one(value, environment, secret)
        if problem:
            warnings.append(f"environment variable {name} is not set: {problem}.")
        else:
            environ[name] = result
    for name, value in own.items():
        result, problem = _one(value, environment, secret)
        if problem:
            errors.append((name, problem))
        else:
            environ[name] = result
    return Resolved(environ, tuple(warnings), tuple(errors))


def _one(value: str, environment: models.EnvironmentSpec, secret: Callable[[str], str]) -> tuple[str, str | None]:
    found = refs.find(value)
    for ref in found:
        problem = refs.check(ref, environment)
        if problem:
            return "", problem
        if ref.scope == "services":
            return "", BACKING.format(ref=ref.text)
    values: dict[str, str] = {}
    for ref in found:
        try:
            values[ref.text] = secret(ref.name)
        except NotFound:
            return "", (f"secret '{ref.name}' has no value yet; set it with 'civic secret set ENV {ref.name}'")
        except CivicError as e:
            return "", e.message.rstrip(".")
    return refs.substitute(value, lambda ref: values[ref.text]), None
