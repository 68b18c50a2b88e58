"""Where a cluster is and how to prove who we are: the kubeconfig, read the way kubectl reads it.

:func:`load` takes the file (``CIVIC_KUBECONFIG``, else ``KUBECONFIG``, else
``~/.kube/config``) and a context name (a cluster's ``context`` in civic.yaml) and
returns a :class:`Connection`: the server's URL, the TLS settings and the headers.
Bearer tokens, token files, client certificates and exec plugins (``aws eks
get-token``) are supported. Called by :mod:`.client`. Reads files, may run the exec
plugin.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import os
import ssl
import subprocess
import tempfile
from typing import Any

import yaml

from civic.errors import BackendError


@dataclasses.dataclass(frozen=True)
class Connection:
    server: str
    verify: ssl.SSLContext | bool = True
    headers: dict[str, str] = dataclasses.field(default_factory=dict, repr=False)
    context: str = ""


def path() -> str:
    for name in ("CIVIC_KUBECONFIG", "KUBECONFIG"):
        value = os.environ.get(name)
        if value:
            return value.split(os.pathsep)[0]
    return os.path.expanduser("~/.kube/config")


def _named(items: list[dict[str, Any]], name: str, what: str, file: str) -> dict[str, Any]:
    for item in items or []:
        if item.get("name") == name:
            return item.get(what) or {}
    raise BackendError(
        f"{file} has no {what} named '{name}'; check the kubeconfig or the cluster's context in civic.yaml."
    )


def load(file: str | None = None, *, context: str | None = None) -> Connection:
    file = file or path()
    try:
        with open(file, encoding="utf-8") as f:
            config = yaml.safe_load(f) or {}
    except (OSError, yaml.YAMLError) as e:
        raise BackendError(
            f"cannot read the kubeconfig {file}: {e}. Set CIVIC_KUBECONFIG to the kubeconfig of the cluster."
        ) from e
    name = context or config.get("current-context")
    if not name:
        raise BackendError(f"{file} has no current-context; give the cluster a context in civic.yaml.")
    ctx = _named(config.get("contexts", []), name, "context", file)
    cluster = _named(config.get("clusters", []), ctx.get("cluster", ""), "cluster", file)
    user = _named(config.get("users", []), ctx.get("user", ""), "user", file) if ctx.get("user") else {}
    server = cluster.get("server")
    if not server:
        raise BackendError(f"cluster '{ctx.get('cluster')}' in {file} has no server URL.")
    return Connection(server.rstrip("/"), _tls(cluster, user, file), _headers(user, file), name)


def _pem(item: dict[str, Any], key: str, base: str) -> bytes | None:
    if item.get(f"{key}-data"):
        return base64.b64decode(item[f"{key}-data"])
    if item.get(key):
        target = os.path.join(os.path.dirname(base), item[key])
        with open(target, "rb") as f:
            return f.read()
    return None


def _tls(cluster: dict[str, Any], user: dict[str, Any], file: str) -> ssl.SSLContext | bool:
    if cluster.get("insecure-skip-tls-verify"):
        return False
    ca = _pem(cluster, "certificate-authority", file)
    context = ssl.create_default_context(cadata=ca.decode() if ca else None)
    cert, key = _pem(user, "client-certificate", file), _pem(user, "client-key", file)
    if cert and key:
        with tempfile.TemporaryDirectory() as tmp:  # ssl reads key pairs from files only
            cert_path, key_path = os.path.join(tmp, "c.pem"), os.path.join(tmp, "k.pem")
            for target, data in ((cert_path, cert), (key_path, key)):
                with open(os.open(target, os.O_WRONLY | os.O_CREAT, 0o600), "wb") as f:
                    f.write(data)
            context.load_cert_chain(cert_path, key_path)
    return context


def _headers(user: dict[str, Any], file: str) -> dict[str, str]:
    token = user.get("token")
    if not token and user.get("tokenFile"):
        with open(user["tokenFile"], encoding="utf-8") as f:
            token = f.read().strip()
    if not token and user.get("exec"):
        token = _exec_token(user["exec"], file)
    return {"Authorization": f"Bearer {token}"} if token else {}


def _exec_token(spec: dict[str, Any], file: str) -> str:
    env = os.environ | {e["name"]: e["value"] for e in spec.get("env") or []}
    try:
        done = subprocess.run(
            [spec["command"], *(spec.get("args") or [])],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
            check=True,
        )
        return json.loads(done.stdout)["status"]["token"]
    except (OSError, subprocess.SubprocessError, ValueError, KeyError) as e:
        raise BackendError(f"the kubeconfig's exec plugin '{spec.get('command')}' ({file}) gave no token: {e}.") from e
