"""CPU and memory quantities, written as Kubernetes writes them ("500m", "2", "512Mi").

Parsed to integers (millicores, bytes) so quotas can be added up and compared.
Pure; used by the models' validators, the planner and policy.
"""

from __future__ import annotations

import re

_CPU = re.compile(r"^([0-9]+(?:\.[0-9]+)?)(m?)$")
_MEMORY = re.compile(r"^([0-9]+(?:\.[0-9]+)?)(Ki|Mi|Gi|Ti|k|M|G|T)?$")
_MEMORY_FACTORS = {
    None: 1,
    "k": 10**3,
    "M": 10**6,
    "G": 10**9,
    "T": 10**12,
    "Ki": 2**10,
    "Mi": 2**20,
    "Gi": 2**30,
    "Ti": 2**40,
}


def millicores(value: str | int | float) -> int:
    """``"500m"`` → 500, ``"2"`` → 2000; raises ValueError with what is accepted."""
    match = _CPU.match(str(value).strip())
    if not match:
        raise ValueError(f"'{value}' is not a CPU quantity; write cores as '2' or '0.5', or millicores as '500m'")
    number, milli = match.groups()
    return int(float(number) * (1 if milli else 1000))


def bytes_(value: str | int) -> int:
    """``"512Mi"`` → 536870912; raises ValueError with what is accepted."""
    match = _MEMORY.match(str(value).strip())
    if not match:
        raise ValueError(f"'{value}' is not a memory quantity; write it as '512Mi', '2Gi' or a number of bytes")
    number, unit = match.groups()
    return int(float(number) * _MEMORY_FACTORS[unit])
