"""Derive a service spec for a folder that has no ``civic.service.yaml``, as buildpacks do.

``civic deploy`` of a folder without a spec calls :func:`derive`, shows the person the
document and why, and can save it. Looked for in this order, the first that answers wins:

1. a ``Procfile`` with a ``web:`` line: its command (Heroku's convention; Civic sets
   ``$PORT`` as Heroku does). Run through ``sh -c`` only when it needs a shell.
2. Python: an entry of ``pyproject.toml``'s ``[project.scripts]``; else ``app.py`` or
   ``main.py``: a FastAPI or Starlette app under uvicorn, a Flask app under gunicorn (when the
   dependencies name it) or Flask's own server, or else the file run as a program.
3. Node: ``package.json`` with a ``start`` script: ``npm start``.

The code is read, never imported or run: this runs in the person's ``civic`` and its
answer becomes a spec the control plane runs, and Civic runs a tenant's code only as that
tenant's user inside a release. So the app's variable is found with a regular expression
on the source (``app = FastAPI(``), which is enough for the layouts these conventions
name; anything else is told to write its spec. Every file is read bounded
(:data:`civic.releases.files.MAX_READ`); a file that cannot be parsed is a UsageError
naming it and what is wrong.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shlex
import tomllib
import unicodedata
from typing import Any

import yaml

from civic.errors import UsageError
from civic.releases import files
from civic.spec import models

SPEC_FILE = "civic.service.yaml"
PROCFILE = "Procfile"
PYPROJECT = "pyproject.toml"
REQUIREMENTS = "requirements.txt"
PACKAGE_JSON = "package.json"
PYTHON_FILES = ("app.py", "main.py")

_PROCFILE_LINE = re.compile(r"^([A-Za-z0-9_-]+):\s*(.*?)\s*$")
# What only a shell understands: operators, redirections, globs, `~`, variables other than
# $PORT (which Civic itself replaces in each argument), and leading VAR=value assignments.
_NEEDS_SHELL = re.compile(r"[|&;<>()`*?\[\]~]|\$(?!PORT\b|\{PORT\})|^\s*[A-Za-z_]\w*=")
_REQUIREMENT = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[([^\]]*)\])?")
_HOST_PORT = "--host 127.0.0.1 --port $PORT"


@dataclasses.dataclass(frozen=True)
class _Framework:
    name: str
    imports: re.Pattern[str]
    variable: re.Pattern[str]
    server: str


def _framework(name: str, modules: str, cls: str, server: str) -> _Framework:
    imports = re.compile(rf"^\s*(?:from\s+(?:{modules})\b[\w.]*\s+import\b|import\s+(?:{modules})\b)", re.MULTILINE)
    variable = re.compile(rf"^(\w+)\s*(?::[^=\n]*)?=\s*(?:[\w.]+\.)?(?:{cls})\(", re.MULTILINE)
    return _Framework(name, imports, variable, server)


_FRAMEWORKS = (
    _framework("FastAPI", "fastapi", "FastAPI", "uvicorn"),
    _framework("Starlette", "starlette", "Starlette", "uvicorn"),
    _framework("Flask", "flask", "Flask", "flask"),
)
_FACTORY = re.compile(r"^(?:async\s+)?def\s+(create_app|make_app)\s*\(", re.MULTILINE)


@dataclasses.dataclass(frozen=True)
class Derived:
    """A spec derived for a folder, and why."""

    data: dict[str, Any]
    """The civic.service.yaml document: apiVersion, kind, metadata.name, spec."""
    text: str
    """That document as YAML, its first line a comment saying how it was derived."""
    how: str
    """What it was derived from, e.g. "the Procfile's web: line"."""
    warnings: tuple[str, ...] = ()
    """What may stop it from running, e.g. a server missing from the dependencies."""


@dataclasses.dataclass(frozen=True)
class _Found:
    command: str
    how: str
    warnings: tuple[str, ...] = ()


def derive(folder: str) -> Derived:
    """The spec of the service in ``folder``; a UsageError if Civic cannot tell how to run it."""
    root = files.real_folder(folder)
    name = service_name(os.path.basename(root))
    if not name:
        raise UsageError(
            f"the folder name '{os.path.basename(root)}' gives no valid service name (lower-case letters, "
            f"digits and '-'); write {SPEC_FILE} in '{folder}' with metadata.name."
        )
    found = _procfile(root) or _python(root) or _node(root)
    if found is None:
        raise UsageError(
            f"Civic cannot tell how to run the code in '{folder}': it looked for a {PROCFILE} with a web: "
            f"line, a {PYPROJECT} with [project.scripts], {' or '.join(PYTHON_FILES)}, and a {PACKAGE_JSON} "
            f"with a start script, and found none. Write {SPEC_FILE} with spec.run.command, the command "
            "that serves HTTP on $PORT."
        )
    # No readiness check: Civic's probe (backends/local/health.py) counts only 200-399 as ready,
    # so an app with no "/" route (a 404) would never become ready. Without one, a replica is
    # ready once its port accepts connections.
    data: dict[str, Any] = {
        "apiVersion": models.API_VERSION,
        "kind": "Service",
        "metadata": {"name": name},
        "spec": {"run": {"command": found.command}, "replicas": 1},
    }
    head = [f"# Derived by Civic from {found.how}.", f"# Review it, then keep it beside the code as {SPEC_FILE}."]
    head += [f"# warning: {w}" for w in found.warnings]
    body = yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=1 << 16)
    return Derived(data=data, text="\n".join(head) + "\n" + body, how=found.how, warnings=found.warnings)


def service_name(text: str) -> str:
    """``text`` made a DNS label: accents dropped, lower case, other characters runs of '-',
    at most 63 characters, no '-' at either end; '' if nothing is left."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    label = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower())[:63].strip("-")
    return label if models.DNS_LABEL.fullmatch(label) else ""


# --- 1. Procfile ------------------------------------------------------------------


def _procfile(root: str) -> _Found | None:
    path = os.path.join(root, PROCFILE)
    if not os.path.lexists(path):
        return None
    text = files.read_head(path, shown=PROCFILE).decode("utf-8", errors="replace")
    for number, line in enumerate(text.splitlines(), 1):
        match = _PROCFILE_LINE.match(line)
        if not match or match[1] != "web":
            continue
        command = match[2]
        try:
            words = shlex.split(command)
        except ValueError as e:
            raise UsageError(f"{PROCFILE}:{number}: the web: command cannot be read: {e}; fix it.") from e
        if not words:
            raise UsageError(f"{PROCFILE}:{number}: the web: line has no command; give the one that serves $PORT.")
        if _NEEDS_SHELL.search(command):
            command = "sh -c " + shlex.quote(command)
        return _Found(command, f"the {PROCFILE}'s web: line")
    return None


# --- 2. Python ----------------------------------------------------------------------


def _python(root: str) -> _Found | None:
    pyproject = _pyproject(root)
    project = _table(pyproject, "project", PYPROJECT)
    scripts = _table(project, "scripts", f"{PYPROJECT}: [project.scripts]")
    if scripts:
        name = _script(scripts, project.get("name"))
        return _Found(shlex.quote(name), f"{PYPROJECT}'s [project.scripts] entry '{name}'")
    for file in PYTHON_FILES:
        path = os.path.join(root, file)
        if os.path.lexists(path):
            source = files.read_head(path, shown=file).decode("utf-8", errors="replace")
            return _python_file(file, source, _dependencies(root, pyproject))
    return None


def _script(scripts: dict[str, Any], project_name: Any) -> str:
    """The script named like the project, else the first."""
    for name, target in scripts.items():
        if not isinstance(target, str):
            raise UsageError(f"{PYPROJECT}: [project.scripts] '{name}' must be a string such as 'package.module:main'.")
    if isinstance(project_name, str):
        for name in scripts:
            if _normal(name) == _normal(project_name):
                return name
    return next(iter(scripts))


def _python_file(file: str, source: str, dependencies: dict[str, str]) -> _Found:
    module = file.removesuffix(".py")
    for framework in _FRAMEWORKS:
        if framework.imports.search(source):
            return _served(file, module, source, framework, dependencies)
    return _Found(f"python {file}", f"{file}, run as a program that serves HTTP on $PORT")


def _served(file: str, module: str, source: str, framework: _Framework, dependencies: dict[str, str]) -> _Found:
    """The command that serves ``framework``'s app in ``file``, and what its dependencies lack."""
    variables = [m[1] for m in framework.variable.finditer(source)]
    variable = next((v for v in ("app", "application") if v in variables), variables[0] if variables else None)
    factory = _FACTORY.search(source)
    if variable is None and factory is None:
        raise UsageError(
            f"{file} imports {framework.name}, but Civic found no line such as 'app = {framework.name}(' or "
            f"'def create_app(' in it; write {SPEC_FILE} with spec.run.command, the command that serves it on $PORT."
        )
    if variable:
        uvicorn_app = gunicorn_app = flask_app = f"{module}:{variable}"
    else:
        assert factory is not None
        uvicorn_app = f"{module}:{factory[1]} --factory"
        gunicorn_app = shlex.quote(f"{module}:{factory[1]}()")
        flask_app = module  # Flask finds create_app and make_app by itself
    server = framework.server
    if server == "uvicorn":
        command = f"python -m uvicorn {uvicorn_app} {_HOST_PORT}"
    elif "gunicorn" in dependencies:
        server = "gunicorn"
        command = f"gunicorn --bind 127.0.0.1:$PORT {gunicorn_app}"
    else:
        command = f"python -m flask --app {flask_app} run {_HOST_PORT}"
    warnings = tuple(
        f"{package} is not in {REQUIREMENTS} or {PYPROJECT}'s dependencies; add it, or the release cannot start."
        for package in dict.fromkeys((_normal(framework.name), server))
        if package not in dependencies
    )
    source_of = f" from {dependencies[server]}" if server in dependencies else ", not among the dependencies"
    article = "an" if framework.name[0] in "AEIOU" else "a"
    return _Found(command, f"{file}, {article} {framework.name} app ({server}{source_of})", warnings)


def _dependencies(root: str, pyproject: dict[str, Any]) -> dict[str, str]:
    """Normalised names of the packages requirements.txt and pyproject.toml name → the file.

    Extras that bring a server count as that server: ``fastapi[standard]`` and
    ``uvicorn[standard]`` both install uvicorn.
    """
    found: dict[str, str] = {}
    lines = []
    path = os.path.join(root, REQUIREMENTS)
    if os.path.lexists(path):
        text = files.read_head(path, shown=REQUIREMENTS).decode("utf-8", errors="replace")
        lines += [(line, REQUIREMENTS) for line in text.splitlines() if not line.lstrip().startswith(("-", "#"))]
    project = _table(pyproject, "project", PYPROJECT)
    listed = project.get("dependencies", [])
    if not isinstance(listed, list) or not all(isinstance(d, str) for d in listed):
        raise UsageError(f"{PYPROJECT}: [project] dependencies must be a list of strings such as 'flask>=3'.")
    lines += [(line, PYPROJECT) for line in listed]
    poetry = _table(_table(_table(pyproject, "tool", PYPROJECT), "poetry", PYPROJECT), "dependencies", PYPROJECT)
    lines += [(name, PYPROJECT) for name in poetry]
    for line, file in lines:
        match = _REQUIREMENT.match(line)
        if match:
            name, extras = _normal(match[1]), {e.strip() for e in (match[2] or "").split(",")}
            found.setdefault(name, file)
            if name == "fastapi" and extras & {"standard", "all"}:
                found.setdefault("uvicorn", file)
    return found


def _pyproject(root: str) -> dict[str, Any]:
    path = os.path.join(root, PYPROJECT)
    if not os.path.lexists(path):
        return {}
    text = _text(path, PYPROJECT)
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise UsageError(f"{PYPROJECT} is not valid TOML: {e}; fix it, or write {SPEC_FILE}.") from e
    except RecursionError:
        raise UsageError(f"{PYPROJECT} nests too deeply to read; fix it, or write {SPEC_FILE}.") from None


def _table(data: dict[str, Any], key: str, where: str) -> dict[str, Any]:
    value = data.get(key, {})
    if not isinstance(value, dict):
        raise UsageError(f"{where}: '{key}' must be a table, got {type(value).__name__}; fix it, or write {SPEC_FILE}.")
    return value


def _normal(name: str) -> str:
    """A package name as PyPI compares them (PEP 503)."""
    return re.sub(r"[-_.]+", "-", name).lower()


# --- 3. Node --------------------------------------------------------------------------


def _node(root: str) -> _Found | None:
    path = os.path.join(root, PACKAGE_JSON)
    if not os.path.lexists(path):
        return None
    text = _text(path, PACKAGE_JSON)
    try:
        package = json.loads(text)
    except json.JSONDecodeError as e:
        raise UsageError(
            f"{PACKAGE_JSON}:{e.lineno}:{e.colno}: not valid JSON: {e.msg}; fix it, or write {SPEC_FILE}."
        ) from e
    except RecursionError:
        raise UsageError(f"{PACKAGE_JSON} nests too deeply to read; fix it, or write {SPEC_FILE}.") from None
    if not isinstance(package, dict):
        raise UsageError(f"{PACKAGE_JSON} must hold an object, got {type(package).__name__}; fix it.")
    scripts = package.get("scripts", {})
    if not isinstance(scripts, dict):
        raise UsageError(f"{PACKAGE_JSON}: 'scripts' must be an object of names and commands; fix it.")
    start = scripts.get("start")
    if start is None:
        return None
    if not isinstance(start, str) or not start.strip():
        raise UsageError(f"{PACKAGE_JSON}: scripts.start must be a command string; fix it.")
    return _Found("npm start", f"{PACKAGE_JSON}'s start script ({start.strip()[:80]!r})")


def _text(path: str, shown: str) -> str:
    """The whole file as UTF-8 text; a UsageError if it is larger than 1 MiB or not UTF-8."""
    data = files.read_head(path, shown=shown, whole=True)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise UsageError(f"{shown} is not UTF-8 text (byte {e.start}); fix it, or write {SPEC_FILE}.") from e
