"""``${services.db.url}`` and ``${secrets.api-key}``: references inside variables.

:func:`find` lists the references in a string; :func:`check` says what is wrong with
one, given the environment it is used in; :func:`substitute` fills them in once the
values are known (the runtime does that, with values that never touch the store in
clear). Pure.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable

from civic.spec import models

_REF = re.compile(r"\$\{([^}]*)\}")
_PARTS = re.compile(r"^(services)\.([a-z0-9-]+)\.([A-Za-z0-9]+)$|^(secrets)\.([-_.a-zA-Z0-9]+)$")


@dataclasses.dataclass(frozen=True)
class Ref:
    text: str  # as written, without ${ }
    scope: str  # "services", "secrets" or "" when malformed
    name: str
    attribute: str = ""


def find(value: str) -> list[Ref]:
    out = []
    for match in _REF.finditer(value):
        inner = match.group(1).strip()
        parts = _PARTS.match(inner)
        if not parts:
            out.append(Ref(inner, "", ""))
        elif parts.group(1):
            out.append(Ref(inner, "services", parts.group(2), parts.group(3)))
        else:
            out.append(Ref(inner, "secrets", parts.group(5)))
    if value.count("${") > len(out):
        out.append(Ref(value, "", ""))
    return out


def check(ref: Ref, env: models.EnvironmentSpec) -> str | None:
    """None when ``ref`` resolves in ``env``; otherwise what is wrong and what to do."""
    if not ref.scope:
        return (
            f"'${{{ref.text}}}' is not a reference Civic knows; write "
            "${services.<name>.<attribute>} or ${secrets.<name>}"
        )
    if ref.scope == "secrets":
        if ref.name not in env.secrets:
            return (
                f"'${{{ref.text}}}' names secret '{ref.name}', which the environment does "
                f"not declare; add it to spec.secrets"
            )
        return None
    service = env.backing_services.get(ref.name)
    if service is None:
        names = ", ".join(sorted(env.backing_services)) or "none"
        return (
            f"'${{{ref.text}}}' names backing service '{ref.name}', which the environment "
            f"does not have (it has: {names})"
        )
    allowed = models.BACKING_ATTRIBUTES[service.type]
    if ref.attribute not in allowed:
        return (
            f"'${{{ref.text}}}': a {service.type} service has no attribute "
            f"'{ref.attribute}'; use one of {', '.join(allowed)}"
        )
    return None


def substitute(value: str, lookup: Callable[[Ref], str]) -> str:
    """Replace every reference in ``value`` with ``lookup(ref)``."""
    return _REF.sub(lambda m: lookup(find(m.group(0))[0]), value)
