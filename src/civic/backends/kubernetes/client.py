"""A small asynchronous Kubernetes API client: discovery, get, list, server-side apply, delete.

Only what the apply engine needs, over httpx, so every request is visible and
countable (``Client.requests``), and tests point it at a server on loopback through
an ordinary kubeconfig. (lightkube 1.0 moved to the ``httpx2`` fork, which would put
a second HTTP stack beside the httpx the rest of Civic uses.) Server-side apply is a
PATCH with ``application/apply-patch+yaml`` and ``fieldManager=civic``. Errors are
:class:`~civic.errors.BackendError`; a field-ownership conflict is :class:`Conflict`.
Called by :mod:`.cluster` and :mod:`.backend`.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import httpx

from civic.backends.kubernetes import kubeconfig, ownership
from civic.errors import BackendConflict, BackendError

APPLY = "application/apply-patch+yaml"


@dataclasses.dataclass(frozen=True)
class Resource:
    api_version: str
    kind: str
    plural: str
    namespaced: bool

    def path(self, *, namespace: str | None = None, name: str | None = None) -> str:
        root = "/api/v1" if self.api_version == "v1" else f"/apis/{self.api_version}"
        where = f"/namespaces/{namespace}" if self.namespaced and namespace else ""
        return f"{root}{where}/{self.plural}" + (f"/{name}" if name else "")


class Conflict(BackendConflict):
    """Server-side apply refused: fields the object has are owned by another manager."""

    def __init__(self, message: str, fields: list[str]) -> None:
        super().__init__(message)
        self.fields = fields


class Client:
    def __init__(self, connection: kubeconfig.Connection, *, timeout: float = 30.0) -> None:
        self.connection = connection
        self.requests = 0
        self._http = httpx.AsyncClient(
            base_url=connection.server, verify=connection.verify, headers=connection.headers, timeout=timeout
        )
        self._groups: set[str] | None = None
        self._resources: dict[str, dict[str, Resource] | None] = {}

    @classmethod
    def from_kubeconfig(cls, file: str | None = None, *, context: str | None = None) -> Client:
        return cls(kubeconfig.load(file, context=context))

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _call(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        self.requests += 1
        try:
            return await self._http.request(method, url, **kwargs)
        except httpx.HTTPError as e:
            raise BackendError(
                f"cannot reach the cluster at {self.connection.server} ({method} {url}): "
                f"{e}. Check that it is up and that the kubeconfig is right."
            ) from e

    def _fail(self, response: httpx.Response, what: str) -> BackendError:
        try:
            message = response.json().get("message", response.text)
        except ValueError:
            message = response.text
        hint = " The kubeconfig's user lacks the permission." if response.status_code in (401, 403) else ""
        return BackendError(f"the cluster refused to {what}: {response.status_code} {message}.{hint}")

    async def _get_json(self, url: str, what: str, **kwargs: Any) -> dict[str, Any] | None:
        response = await self._call("GET", url, **kwargs)
        if response.status_code == 404:
            return None
        if response.status_code >= 400:
            raise self._fail(response, what)
        return response.json()

    # --- discovery -----------------------------------------------------------------------

    async def _served_group_versions(self) -> set[str]:
        if self._groups is None:
            groups = await self._get_json("/apis", "list its APIs") or {}
            self._groups = {"v1"} | {v["groupVersion"] for g in groups.get("groups", []) for v in g.get("versions", [])}
        return self._groups

    async def resource(self, api_version: str, kind: str) -> Resource | None:
        """The resource serving ``kind`` in ``api_version``; None when the cluster does not serve it."""
        if api_version not in await self._served_group_versions():
            return None
        if api_version not in self._resources:
            root = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
            listing = await self._get_json(root, f"describe {api_version}")
            self._resources[api_version] = (
                None
                if listing is None
                else {
                    r["kind"]: Resource(api_version, r["kind"], r["name"], r["namespaced"])
                    for r in listing.get("resources", [])
                    if "/" not in r["name"]
                }
            )
        kinds = self._resources[api_version]
        return kinds.get(kind) if kinds else None

    # --- objects -------------------------------------------------------------------------

    async def get(self, resource: Resource, name: str, namespace: str | None = None) -> dict[str, Any] | None:
        return await self._get_json(resource.path(namespace=namespace, name=name), f"read {resource.kind} {name}")

    async def list(
        self, resource: Resource, *, namespace: str | None = None, selector: str | None = None
    ) -> list[dict[str, Any]]:
        params = {"labelSelector": selector} if selector else {}
        found = await self._get_json(resource.path(namespace=namespace), f"list {resource.plural}", params=params)
        return (found or {}).get("items", [])

    async def apply(
        self, resource: Resource, obj: dict[str, Any], *, force: bool = False, dry_run: bool = False
    ) -> dict[str, Any]:
        meta = obj["metadata"]
        params = {"fieldManager": ownership.FIELD_MANAGER, "force": str(force).lower()}
        if dry_run:
            params["dryRun"] = "All"
        response = await self._call(
            "PATCH",
            resource.path(namespace=meta.get("namespace"), name=meta["name"]),
            params=params,
            content=json.dumps(obj),
            headers={"Content-Type": APPLY},
        )
        if response.status_code == 409:
            causes = (response.json().get("details") or {}).get("causes") or []
            fields = [c.get("field", "") for c in causes]
            raise Conflict(
                f"{obj['kind']} {meta.get('namespace', '')}/{meta['name']}: "
                f"{response.json().get('message', 'conflict')}",
                fields,
            )
        if response.status_code >= 400:
            raise self._fail(response, f"apply {obj['kind']} {meta['name']}")
        return response.json()

    async def delete(self, resource: Resource, name: str, namespace: str | None = None) -> bool:
        response = await self._call(
            "DELETE", resource.path(namespace=namespace, name=name), params={"propagationPolicy": "Foreground"}
        )
        if response.status_code == 404:
            return False
        if response.status_code >= 400:
            raise self._fail(response, f"delete {resource.kind} {name}")
        return True
