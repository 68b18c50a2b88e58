"""The layers of docs/architecture.md, checked: a module imports only its own layer or lower.

    cli | web > client > api > reconcile > runtime | backends | services | observability |
    logs | importers > store | vcs > policy > plan > spec > errors

Imports under ``if TYPE_CHECKING:`` are not counted (they never run).
"""

from __future__ import annotations

import ast
import os

SRC = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "src", "civic")

LAYERS = {
    "errors": 0, "spec": 1, "plan": 2, "policy": 3, "store": 4, "vcs": 4,
    "runtime": 5, "backends": 5, "services": 5, "observability": 5, "logs": 5, "importers": 5,
    "reconcile": 6, "api": 7, "client": 8, "cli": 9, "web": 9, "__main__": 9,
}


def _layer_of(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] != "civic" or len(parts) < 2:
        return None
    return parts[1]


def _runtime_imports(tree: ast.Module) -> list[str]:
    out = []
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skip.update(id(n) for child in node.body for n in ast.walk(child))
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.append(node.module)
            out += [f"{node.module}.{a.name}" for a in node.names if node.module == "civic"]
        elif isinstance(node, ast.Import):
            out += [a.name for a in node.names]
    return out


def test_every_module_imports_only_its_own_layer_or_lower():
    wrong = []
    for folder, _, files in os.walk(SRC):
        for name in files:
            if not name.endswith(".py"):
                continue
            path = os.path.join(folder, name)
            rel = os.path.relpath(path, os.path.dirname(SRC)).removesuffix(".py").replace(os.sep, ".")
            own = _layer_of(rel)
            if own not in LAYERS:
                if own is not None and own != "__init__":
                    wrong.append(f"{rel}: its package '{own}' has no layer; add it to LAYERS and docs/architecture.md")
                continue
            with open(path, encoding="utf-8") as f:
                tree = ast.parse(f.read(), filename=path)
            for imported in _runtime_imports(tree):
                layer = _layer_of(imported)
                if layer in LAYERS and LAYERS[layer] > LAYERS[own]:
                    wrong.append(f"{rel} (layer {own}) imports {imported} (layer {layer})")
    assert not wrong, "\n".join(wrong)


def test_the_core_does_no_io():
    """spec, plan and policy are pure: no sockets, subprocesses, databases or HTTP."""
    banned = ("subprocess", "socket", "sqlalchemy", "httpx", "requests", "psycopg", "asyncio")
    wrong = []
    for layer in ("spec", "plan", "policy"):
        folder = os.path.join(SRC, layer)
        for name in sorted(os.listdir(folder)) if os.path.isdir(folder) else []:
            if name.endswith(".py"):
                with open(os.path.join(folder, name), encoding="utf-8") as f:
                    tree = ast.parse(f.read())
                wrong += [f"civic/{layer}/{name} imports {m}" for m in _runtime_imports(tree)
                          if m.split(".")[0] in banned]
    assert not wrong, "\n".join(wrong)
