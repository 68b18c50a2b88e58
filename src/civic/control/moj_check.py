"""Import the MoJ's environments, render them for Kubernetes, and compare with the originals.

The I/O half of :mod:`civic.importers.comparison`: it imports a cloud-platform-environments
checkout into a temporary estate, renders every environment with the Kubernetes backend
(for a cluster set up as the MoJ's live cluster is) and compares each with the
namespace's own 00-04 files. Called by scripts/compare-moj and the tests.
"""

from __future__ import annotations

import os
import tempfile
from typing import Any

import yaml

from civic.backends.kubernetes import inputs, rendering
from civic.importers import comparison, importing
from civic.spec import estate as estate_mod
from civic.spec import models

LIVE = models.Cluster.model_validate(
    {
        "name": "live",
        "context": "live.cloud-platform.service.justice.gov.uk",
        "baseDomain": "apps.live.cloud-platform.service.justice.gov.uk",
        "kubernetesVersion": "1.30",
    }
)
ALIASES = {"ingress-controllers": LIVE.ingress_namespace, "monitoring": LIVE.monitoring_namespace}
"""The MoJ selects its system namespaces by a ``component`` label."""


def originals(folder: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for name in comparison.FILES:
        path = os.path.join(folder, name)
        if os.path.isfile(path):
            with open(path, encoding="utf-8") as f:
                out += [d for d in yaml.safe_load_all(f) if d]
    return out


def run(src: str) -> tuple[list[comparison.Difference], list[str]]:
    """Every difference, and the namespaces that were not imported (so not compared)."""
    result = importing.run(src)
    with tempfile.TemporaryDirectory() as tmp:
        dest = os.path.join(tmp, "estate")
        importing.write(result, dest, force=False)
        loaded = estate_mod.load(dest)
    differences: list[comparison.Difference] = []
    skipped = []
    for cluster, name, _ in importing.read_source(src):
        folder = os.path.join(src, importing.NAMESPACES_DIR, cluster, name)
        if name not in loaded.environments:
            skipped.append(name)
            continue
        rendered = rendering.render(inputs.desired(loaded, name), LIVE).objects()
        differences += comparison.compare(name, originals(folder), rendered, aliases=ALIASES)
    return differences, skipped
