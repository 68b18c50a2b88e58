"""Import the MoJ's environments, render them for Kubernetes, and compare with the originals.

The I/O half of :mod:`civic.importers.comparison`: it imports a cloud-platform-environments
checkout into a temporary estate, renders every environment with the Kubernetes backend
(for a cluster set up as the MoJ's live cluster is) and compares each with the objects
of the namespace's own YAML files: every file the importer reads, whatever its name
(00-namespace.yaml, 02-limit-range.yaml, 04-networkpolicy.yml ...), read by the same
code. Called by scripts/compare-moj and the tests.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from typing import Any

from civic.backends.kubernetes import inputs, rendering
from civic.importers import comparison, documents, importing, moj, normalise
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


def originals(files: Mapping[str, str]) -> list[dict[str, Any]]:
    """The objects of a namespace folder's YAML files, as the importer reads them.

    ``files`` is the folder's entry of :func:`importing.read_source`; the files chosen
    (:func:`moj.is_yaml`) and the parser (:func:`documents.split`, bounded) are the importer's.
    """
    out: list[dict[str, Any]] = []
    for rel, text in sorted(files.items()):
        if moj.is_yaml(rel) and "\x00" not in text:
            parts = documents.split(text, file=rel)
            out += [p.document.data for p in parts if p.document and isinstance(p.document.data, dict)]
    return out


def run(src: str) -> tuple[list[comparison.Difference], list[str]]:
    """Every difference, and the namespace folders that were not imported (so not compared).

    A missing ``src``, or one without namespaces/, is a :class:`~civic.errors.UsageError`.
    """
    source = importing.read_source(src)
    result = importing.run(src)
    with tempfile.TemporaryDirectory() as tmp:
        dest = os.path.join(tmp, "estate")
        importing.write(result, dest, force=False)
        loaded = estate_mod.load(dest)
    differences: list[comparison.Difference] = []
    skipped = []
    # The report keys folders by cluster and name: a name in two clusters is compared once, with its own files.
    written = {(n.cluster, n.namespace): n.environment for n in result.report.namespaces if n.imported}
    for cluster, folder, files in source:
        env = written.get((cluster, normalise.to_name(folder)))
        if env is None or env not in loaded.environments:
            skipped.append(folder)
            continue
        rendered = rendering.render(inputs.desired(loaded, env), LIVE).objects()
        differences += comparison.compare(env, originals(files), rendered, aliases=ALIASES)
    return differences, skipped
