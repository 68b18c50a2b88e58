"""A FAKE Kubernetes API server, written for Civic's tests: no real one can run here.

These machines have no Docker and no kube-apiserver in any reachable registry, so the
apply engine is tested against this stand-in. It serves real HTTP on loopback, so
Civic's real client code runs (kubeconfig, httpx, URLs, content types), and it
implements the semantics the engine relies on, as the API server documents them:

- discovery (``/api``, ``/apis``, ``/api/v1``, ``/apis/G/V``) of the kinds it is told
  to serve; a CRD it does not serve is absent, as on a cluster without that operator,
  and so is admissionregistration.k8s.io/v1's ValidatingAdmissionPolicy (cluster-scoped)
  when told to be a cluster older than Kubernetes 1.30;
- server-side apply (PATCH ``application/apply-patch+yaml``) as create-or-update, with
  ``managedFields`` per manager, 409 conflicts when another manager owns a field with
  a different value unless ``force=true``, removal of fields an applier stops setting,
  and ``dryRun=All``;
- ``resourceVersion`` (bumped on every change) and ``generation`` (bumped when
  anything but metadata and status changes);
- label selectors (``k=v``, ``k!=v``, ``k``, ``!k``, comma-joined);
- DELETE (deleting a Namespace deletes what is in it).

It is a fake: lists are atomic (no merge keys), there is no defaulting, admission or
garbage collector, and status only changes when a test calls :meth:`FakeCluster.set_status`
(to simulate a rollout) or :meth:`FakeCluster.update` (another controller, e.g. the
HPA writing ``spec.replicas``). Every request is counted in ``requests``.
"""

from __future__ import annotations

import copy
import itertools
import json
import os
import re
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

import yaml

# (apiVersion, kind, plural, namespaced); the last three are CRDs.
CORE = [
    ("v1", "Namespace", "namespaces", False),
    ("v1", "ConfigMap", "configmaps", True),
    ("v1", "Secret", "secrets", True),
    ("v1", "Service", "services", True),
    ("v1", "LimitRange", "limitranges", True),
    ("v1", "ResourceQuota", "resourcequotas", True),
    ("apps/v1", "Deployment", "deployments", True),
    ("rbac.authorization.k8s.io/v1", "RoleBinding", "rolebindings", True),
    ("networking.k8s.io/v1", "NetworkPolicy", "networkpolicies", True),
    ("networking.k8s.io/v1", "Ingress", "ingresses", True),
    ("autoscaling/v2", "HorizontalPodAutoscaler", "horizontalpodautoscalers", True),
    ("policy/v1", "PodDisruptionBudget", "poddisruptionbudgets", True),
]
CRDS = [
    ("monitoring.coreos.com/v1", "ServiceMonitor", "servicemonitors", True),
    ("monitoring.coreos.com/v1", "PrometheusRule", "prometheusrules", True),
    ("external-secrets.io/v1", "ExternalSecret", "externalsecrets", True),
]
ADMISSION = [
    ("admissionregistration.k8s.io/v1", "ValidatingAdmissionPolicy", "validatingadmissionpolicies", False),
    ("admissionregistration.k8s.io/v1", "ValidatingAdmissionPolicyBinding", "validatingadmissionpolicybindings", False),
]  # v1 since Kubernetes 1.30
SKIP = {("apiVersion",), ("kind",), ("metadata", "name"), ("metadata", "namespace")}
Path = tuple[str, ...]


def leaves(obj: Any, prefix: Path = ()) -> dict[Path, Any]:
    """Field paths set by ``obj``: dict keys recursively; lists and scalars are leaves."""
    if isinstance(obj, dict) and obj:
        out: dict[Path, Any] = {}
        for key, value in obj.items():
            out.update(leaves(value, prefix + (key,)))
        return out
    return {prefix: obj}


def _get(obj: Any, path: Path) -> Any:
    for part in path:
        if not isinstance(obj, dict) or part not in obj:
            return KeyError
        obj = obj[part]
    return obj


def _set(obj: dict, path: Path, value: Any) -> None:
    for part in path[:-1]:
        obj = obj.setdefault(part, {})
    obj[path[-1]] = copy.deepcopy(value)


def _remove(obj: dict, path: Path) -> None:
    parents = [obj]
    for part in path[:-1]:
        obj = obj.get(part)
        if not isinstance(obj, dict):
            return
        parents.append(obj)
    obj.pop(path[-1], None)
    for parent, part in zip(reversed(parents[:-1]), reversed(path[:-1]), strict=True):
        if parent.get(part) == {}:
            del parent[part]


def _fields_v1(paths: set[Path]) -> dict:
    out: dict = {}
    for path in paths:
        node = out
        for part in path:
            node = node.setdefault(f"f:{part}", {})
    return out


def matches(labels: dict[str, str], selector: str | None) -> bool:
    for term in filter(None, (selector or "").split(",")):
        term = term.strip()
        if "!=" in term:
            key, value = term.split("!=", 1)
            if labels.get(key) == value:
                return False
        elif "=" in term:
            key, value = term.replace("==", "=").split("=", 1)
            if labels.get(key) != value:
                return False
        elif term.startswith("!"):
            if term[1:] in labels:
                return False
        elif term not in labels:
            return False
    return True


class FakeCluster:
    """The fake's state and its test-facing API; :meth:`start` serves it on 127.0.0.1."""

    def __init__(self, *, crds: bool = True, admission: bool = True) -> None:
        served = CORE + (CRDS if crds else []) + (ADMISSION if admission else [])
        self.kinds = {(a, k): (p, n) for a, k, p, n in served}
        self.objects: dict[tuple[str, str, str, str], dict] = {}  # (apiVersion, kind, ns, name)
        self.owners: dict[tuple[str, str, str, str], dict[str, tuple[str, set[Path]]]] = {}
        self.requests: list[tuple[str, str]] = []
        self.lock = threading.Lock()
        self._versions = itertools.count(1000)
        self._server: ThreadingHTTPServer | None = None
        self._last_version: dict[tuple, str] = {}

    # --- test-facing -----------------------------------------------------------------

    def start(self) -> str:
        handler = type("Handler", (_Handler,), {"fake": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()

    def kubeconfig(self, directory: str, url: str) -> str:
        path = os.path.join(directory, "kubeconfig")
        with open(path, "w", encoding="utf-8") as f:
            yaml.safe_dump(
                {
                    "apiVersion": "v1",
                    "kind": "Config",
                    "current-context": "fake",
                    "clusters": [{"name": "fake", "cluster": {"server": url}}],
                    "users": [{"name": "tester", "user": {"token": "fake-token"}}],
                    "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "tester"}}],
                },
                f,
            )
        return path

    def find(self, api_version: str, kind: str, namespace: str, name: str) -> dict | None:
        with self.lock:
            found = self.objects.get((api_version, kind, namespace, name))
            return copy.deepcopy(found) if found else None

    def of_kind(self, kind: str) -> list[dict]:
        with self.lock:
            return [copy.deepcopy(o) for (a, k, n, m), o in sorted(self.objects.items()) if k == kind]

    def set_status(self, api_version: str, kind: str, namespace: str, name: str, status: dict) -> None:
        with self.lock:
            obj = self.objects[(api_version, kind, namespace, name)]
            obj["status"] = copy.deepcopy(status)
            obj["metadata"]["resourceVersion"] = str(next(self._versions))

    def update(self, api_version: str, kind: str, namespace: str, name: str, patch: dict, *, manager: str) -> None:
        """Another controller or a person changes fields (an Update, not an apply)."""
        with self.lock:
            key = (api_version, kind, namespace, name)
            obj = self.objects[key]
            before = copy.deepcopy(obj)
            changed = leaves(patch)
            for path, value in changed.items():
                _set(obj, path, value)
            owners = self.owners[key]
            for other, (op, paths) in owners.items():
                owners[other] = (op, {p for p in paths if not any(_related(p, c) for c in changed)})
            op, mine = owners.get(manager, ("Update", set()))
            owners[manager] = ("Update", mine | set(changed))
            self._stamp(key, obj, before)

    def count(self, method: str | None = None) -> int:
        return sum(1 for m, _ in self.requests if method is None or m == method)

    # --- semantics ---------------------------------------------------------------------

    def _stamp(self, key: tuple, obj: dict, before: dict | None) -> None:
        meta = obj["metadata"]

        def strip(o: dict) -> dict:
            return {k: v for k, v in o.items() if k not in ("metadata", "status")}

        if before is None:
            meta["generation"] = 1
        elif strip(before) != strip(obj):
            meta["generation"] = before["metadata"].get("generation", 1) + 1
        meta["managedFields"] = [
            {
                "manager": m,
                "operation": op,
                "apiVersion": key[0],
                "fieldsType": "FieldsV1",
                "fieldsV1": _fields_v1(paths),
            }
            for m, (op, paths) in sorted(self.owners[key].items())
            if paths
        ]
        meta.pop("resourceVersion", None)
        if before is not None:
            before["metadata"].pop("resourceVersion", None)
        if before != obj:
            meta["resourceVersion"] = str(next(self._versions))
        else:
            meta["resourceVersion"] = self._last_version.get(key, "0")
        self._last_version[key] = meta["resourceVersion"]

    def apply(self, key: tuple, config: dict, *, manager: str, force: bool, dry_run: bool) -> tuple[int, dict]:
        with self.lock:
            live = self.objects.get(key)
            owners = copy.deepcopy(self.owners.get(key, {}))
            obj = (
                copy.deepcopy(live)
                if live
                else {
                    "apiVersion": key[0],
                    "kind": key[1],
                    "metadata": {
                        "name": key[3],
                        **({"namespace": key[2]} if key[2] else {}),
                        "uid": f"uid-{next(self._versions)}",
                        "creationTimestamp": "2026-01-01T00:00:00Z",
                    },
                }
            )
            applied = {p: v for p, v in leaves(config).items() if p not in SKIP}
            conflicts = [
                (other, p)
                for p, v in applied.items()
                for other, (_, paths) in owners.items()
                if other != manager and any(_related(p, q) for q in paths) and _get(obj, p) != v
            ]
            if conflicts and not force:
                return 409, _conflict(conflicts)
            for other, (op, paths) in list(owners.items()):
                if other != manager:
                    owners[other] = (
                        op,
                        {
                            q
                            for q in paths
                            if not (force and any(_related(q, p) and _get(obj, p) != applied[p] for p in applied))
                        },
                    )
            _, previous = owners.get(manager, ("Apply", set()))
            others = set().union(*(paths for m, (_, paths) in owners.items() if m != manager)) if owners else set()
            for path in previous - set(applied) - others:
                _remove(obj, path)
            for path, value in applied.items():
                _set(obj, path, value)
            owners[manager] = ("Apply", set(applied))
            if dry_run:
                saved = self.owners.get(key)
                self.owners[key] = owners
                self._stamp(key, obj, copy.deepcopy(live) if live else None)
                if saved is None:
                    del self.owners[key]
                    self._last_version.pop(key, None)
                else:
                    self.owners[key] = saved
                return 200, obj
            self.owners[key] = owners
            self._stamp(key, obj, copy.deepcopy(live) if live else None)
            self.objects[key] = obj
            return (200 if live else 201), copy.deepcopy(obj)

    def delete(self, key: tuple) -> int:
        with self.lock:
            if key not in self.objects:
                return 404
            del self.objects[key]
            self.owners.pop(key, None)
            if key[1] == "Namespace":
                for other in [k for k in self.objects if k[2] == key[3]]:
                    del self.objects[other]
                    self.owners.pop(other, None)
            return 200

    def list(self, api_version: str, kind: str, namespace: str | None, selector: str | None) -> list[dict]:
        with self.lock:
            return [
                copy.deepcopy(o)
                for (a, k, n, _), o in sorted(self.objects.items())
                if a == api_version
                and k == kind
                and (namespace is None or n == namespace)
                and matches(o["metadata"].get("labels", {}), selector)
            ]


def _related(a: Path, b: Path) -> bool:
    return a[: len(b)] == b or b[: len(a)] == a


def _conflict(conflicts: list[tuple[str, Path]]) -> dict:
    causes = [
        {
            "reason": "FieldManagerConflict",
            "field": "." + ".".join(p),
            "message": f'conflict with "{m}": .{".".join(p)}',
        }
        for m, p in conflicts
    ]
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "status": "Failure",
        "reason": "Conflict",
        "code": 409,
        "message": f"Apply failed with {len(causes)} conflict(s): " + "; ".join(c["message"] for c in causes),
        "details": {"causes": causes},
    }


_PATH = re.compile(
    r"^/(?:api/(?P<core>v1)|apis/(?P<gv>[^/]+/[^/]+))"
    r"(?:/namespaces/(?P<ns>[^/]+))?(?:/(?P<plural>[^/]+))?(?:/(?P<name>[^/]+))?$"
)


class _Handler(BaseHTTPRequestHandler):
    fake: FakeCluster
    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        super().setup()  # headers and body go in two writes: without NODELAY, 40 ms a request
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, *args: Any) -> None:  # quiet
        pass

    def _send(self, code: int, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _not_found(self) -> None:
        self._send(
            404,
            {
                "kind": "Status",
                "status": "Failure",
                "reason": "NotFound",
                "code": 404,
                "message": "the server could not find the requested resource",
            },
        )

    def _route(self) -> tuple[dict, dict] | None:
        url = urlparse(self.path)
        self.fake.requests.append((self.command, url.path))
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        if self.headers.get("Authorization") != "Bearer fake-token":
            self._send(401, {"kind": "Status", "code": 401, "message": "Unauthorized"})
            return None
        if url.path == "/api":
            self._send(200, {"kind": "APIVersions", "versions": ["v1"]})
            return None
        if url.path == "/apis":
            gvs = sorted({a for a, _ in self.fake.kinds if a != "v1"})
            self._send(
                200,
                {
                    "kind": "APIGroupList",
                    "groups": [
                        {"name": gv.split("/")[0], "versions": [{"groupVersion": gv, "version": gv.split("/")[1]}]}
                        for gv in gvs
                    ],
                },
            )
            return None
        match = _PATH.match(url.path)
        if not match:
            self._not_found()
            return None
        parts = match.groupdict()
        parts["api"] = parts["core"] or parts["gv"]
        return parts, query

    def _resource(self, parts: dict) -> tuple[str, bool] | None:
        # "/api/v1/namespaces/x" is the Namespace x, not a namespaced path.
        if parts["plural"] is None and parts["ns"] is not None:
            parts["plural"], parts["name"], parts["ns"] = "namespaces", parts["ns"], None
        for (api, kind), (plural, namespaced) in self.fake.kinds.items():
            if api == parts["api"] and plural == parts["plural"]:
                # a cluster-scoped kind has no namespaced path, as on a real API server
                return (kind, namespaced) if namespaced or parts["ns"] is None else None
        return None

    def do_GET(self) -> None:
        routed = self._route()
        if routed is None:
            return
        parts, query = routed
        if parts["plural"] is None and parts["ns"] is None:
            resources = [
                {"name": p, "kind": k, "namespaced": n, "verbs": ["get", "list", "patch", "delete"]}
                for (a, k), (p, n) in sorted(self.fake.kinds.items())
                if a == parts["api"]
            ]
            if not resources:
                return self._not_found()
            return self._send(200, {"kind": "APIResourceList", "groupVersion": parts["api"], "resources": resources})
        found = self._resource(parts)
        if found is None:
            return self._not_found()
        kind, _ = found
        if parts["name"] is None:
            items = self.fake.list(parts["api"], kind, parts["ns"], query.get("labelSelector"))
            return self._send(
                200,
                {
                    "kind": f"{kind}List",
                    "apiVersion": parts["api"],
                    "items": items,
                    "metadata": {"resourceVersion": str(next(self.fake._versions))},
                },
            )
        obj = self.fake.find(parts["api"], kind, parts["ns"] or "", parts["name"])
        return self._send(200, obj) if obj else self._not_found()

    def do_PATCH(self) -> None:
        routed = self._route()
        if routed is None:
            return
        parts, query = routed
        body = yaml.safe_load(self.rfile.read(int(self.headers.get("Content-Length", 0))))
        found = self._resource(parts)
        if found is None or parts["name"] is None:
            return self._not_found()
        if self.headers.get("Content-Type") != "application/apply-patch+yaml" or "fieldManager" not in query:
            return self._send(
                415 if "fieldManager" in query else 422,
                {
                    "kind": "Status",
                    "code": 422,
                    "message": "the fake serves server-side apply only, with a fieldManager",
                },
            )
        if body.get("kind") != found[0] or body["metadata"].get("name") != parts["name"]:
            return self._send(400, {"kind": "Status", "code": 400, "message": "kind or name does not match the URL"})
        if body["metadata"].get("namespace", parts["ns"]) != parts["ns"]:
            return self._send(
                400,
                {
                    "kind": "Status",
                    "code": 400,
                    "message": "the namespace of the provided object does not match the namespace sent on the request",
                },
            )
        code, out = self.fake.apply(
            (parts["api"], found[0], parts["ns"] or "", parts["name"]),
            body,
            manager=query["fieldManager"],
            force=query.get("force") == "true",
            dry_run=query.get("dryRun") == "All",
        )
        self._send(code, out)

    def do_DELETE(self) -> None:
        routed = self._route()
        if routed is None:
            return
        parts, _ = routed
        found = self._resource(parts)
        if found is None or parts["name"] is None:
            return self._not_found()
        code = self.fake.delete((parts["api"], found[0], parts["ns"] or "", parts["name"]))
        if code == 404:
            return self._not_found()
        self._send(200, {"kind": "Status", "status": "Success", "code": 200})
