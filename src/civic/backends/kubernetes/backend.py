"""The Kubernetes backend: the backend protocol (``apply``, ``observe``, ``aclose``) on a cluster.

The reconciler hands it the whole desired state of one environment, as it hands the
local runtime; it renders (:mod:`.rendering`) and converges (:mod:`.cluster`), and
keeps the last report per environment for whoever wants the details (missing
capabilities, foreign objects). ``observe`` reads the Deployments back and judges
them as Argo CD would.
"""

from __future__ import annotations

from civic.backends import base
from civic.backends.kubernetes import client as client_mod
from civic.backends.kubernetes import cluster, health, ownership, rendering
from civic.spec import models


class KubernetesBackend:
    name = "kubernetes"

    def __init__(self, target: models.Cluster, api: client_mod.Client, *, base_domain: str = "localhost") -> None:
        self.target = target
        self.api = api
        self.base_domain = target.base_domain or base_domain
        self.reports: dict[str, cluster.Report] = {}

    async def adopt(self) -> int:
        """Nothing to adopt: the cluster keeps its own state."""
        return 0

    def start(self) -> None:
        """Nothing to start: the cluster's controllers run the workloads."""

    def url(self, environment: str, service: str) -> str:
        return f"https://{service}.{environment}.{self.base_domain}/"

    def replicas(self, environment: str | None = None) -> list[base.ReplicaView]:
        """Pods are the cluster's to list (``kubectl get pods``); Civic keeps no record of them."""
        return []

    async def stop_all(self) -> None:
        """``civic down`` leaves a cluster's workloads running: they are the cluster's, not this process's."""
        await self.aclose()

    async def apply(self, desired: base.DesiredEnvironment) -> None:
        if desired.environment is None:
            namespaces = await self.api.resource("v1", "Namespace")
            live = await self.api.get(namespaces, desired.name) if namespaces else None
            managed_by = live["metadata"].get("labels", {}).get(ownership.MANAGED_BY) if live else None
            if namespaces and managed_by == ownership.MANAGER:
                await self.api.delete(namespaces, desired.name)
            return
        rendered = rendering.render(desired, self.target)
        self.reports[desired.name] = await cluster.sync(self.api, rendered)

    async def observe(self, environment: str) -> base.Observed:
        namespaces = await self.api.resource("v1", "Namespace")
        deployments = await self.api.resource("apps/v1", "Deployment")
        assert namespaces is not None and deployments is not None
        if await self.api.get(namespaces, environment) is None:
            return base.Observed(environment, exists=False)
        found = await self.api.list(
            deployments, namespace=environment, selector=f"{ownership.MANAGED_BY}={ownership.MANAGER}"
        )
        return base.Observed(environment, exists=True, services=tuple(_status(d) for d in found))

    async def aclose(self) -> None:
        await self.api.aclose()


def _status(deployment: dict) -> base.ServiceStatus:
    verdict, message = health.judge(deployment)
    meta, status = deployment["metadata"], deployment.get("status", {})
    revision = meta.get("annotations", {}).get(ownership.PREFIX + "revision")
    return base.ServiceStatus(
        name=meta["name"],
        revision=int(revision) if revision else None,
        desired=deployment.get("spec", {}).get("replicas", status.get("replicas", 0)),
        ready=status.get("readyReplicas", 0),
        health=verdict,
        message=message,
    )
