"""What the import-linter contracts in pyproject.toml cannot say about the layers.

The contracts (``lint-imports``, run by ``make test``) check that a module imports only
its own layer or lower ones, that the two backends are independent, that the pure core
does no I/O, and that the CLI and the API never import a backend. import-linter only
knows the packages a contract names, though: a new package that nobody added to the
layers would go unchecked. And an import it cannot see (a module named in a string)
would go unchecked too.
"""

from __future__ import annotations

import ast
import os
import re
import tomllib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SRC = os.path.join(ROOT, "src", "civic")


def _contracts() -> list[dict]:
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
        return tomllib.load(f)["tool"]["importlinter"]["contracts"]


def test_every_package_of_civic_has_a_layer():
    layers = next(c for c in _contracts() if c["type"] == "layers")["layers"]
    named = {m.split(".")[1] for layer in layers for m in re.findall(r"civic\.[\w.]+", layer)}
    present = {
        name.removesuffix(".py")
        for name in os.listdir(SRC)
        if (name.endswith(".py") and name != "__init__.py") or os.path.isfile(os.path.join(SRC, name, "__init__.py"))
    }
    assert present - named == set(), (
        f"{sorted(present - named)} have no layer: add them to [tool.importlinter] in pyproject.toml "
        "and to docs/architecture.md"
    )


def test_no_module_is_imported_by_a_name_in_a_string():
    """importlib.import_module("civic....") hides an import from the linter: import inside a function."""
    wrong = []
    for folder, _, files in os.walk(SRC):
        for name in (n for n in files if n.endswith(".py")):
            path = os.path.join(folder, name)
            with open(path, encoding="utf-8") as f:
                tree = ast.parse(f.read(), filename=path)
            for node in ast.walk(tree):
                if (
                    isinstance(node, ast.Call)
                    and node.args
                    and isinstance(node.args[0], ast.Constant)
                    and isinstance(node.args[0].value, str)
                    and node.args[0].value.startswith("civic.")
                    and ast.unparse(node.func).split(".")[-1] in ("import_module", "lazy", "__import__")
                ):
                    wrong.append(f"{os.path.relpath(path, ROOT)}:{node.lineno}: {ast.unparse(node)}")
    assert not wrong, "\n".join(wrong)
