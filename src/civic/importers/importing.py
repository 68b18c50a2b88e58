"""``civic import``'s I/O: read a cloud-platform-environments checkout, write an estate.

:func:`read_source` gathers the texts of every ``namespaces/<cluster>/<namespace>/``
folder; :func:`run` reads them with :mod:`civic.importers.moj`, assembles and checks
the estate with :mod:`civic.importers.assembly`, and :func:`write` puts the estate and
its report in place in one move: everything is written to a temporary folder beside
DEST first, so DEST never holds half an estate. Called by :mod:`civic.cli.importer`.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile

from civic.errors import CivicError, UsageError
from civic.importers import assembly, moj
from civic.importers import report as report_mod

NAMESPACES_DIR = "namespaces"
REPORT_JSON = "import-report.json"
REPORT_MD = "import-report.md"
# What an import writes at DEST's top level; with --force only these are replaced.
WRITTEN = ("civic.yaml", "teams", "environments", REPORT_JSON, REPORT_MD)


def read_source(src: str) -> list[tuple[str, str, dict[str, str]]]:
    """(cluster, namespace folder, {relative path: text}) for every namespace folder."""
    root = os.path.join(src, NAMESPACES_DIR)
    if not os.path.isdir(src):
        raise UsageError(
            f"'{src}' does not exist; give the path of a cloud-platform-environments "
            "checkout (the folder that holds namespaces/)."
        )
    if not os.path.isdir(root):
        raise UsageError(
            f"'{src}' has no {NAMESPACES_DIR}/ folder; give the root of a "
            "cloud-platform-environments checkout, where namespaces/<cluster>/<namespace>/ live."
        )
    out = []
    for cluster in sorted(os.listdir(root)):
        cluster_dir = os.path.join(root, cluster)
        if not os.path.isdir(cluster_dir):
            continue
        for folder in sorted(os.listdir(cluster_dir)):
            path = os.path.join(cluster_dir, folder)
            if os.path.isdir(path):
                out.append((cluster, folder, _files(path)))
    if not out:
        raise UsageError(f"'{root}' holds no namespace folders (namespaces/<cluster>/<namespace>/).")
    return out


def _files(folder: str) -> dict[str, str]:
    files = {}
    for name in sorted(os.listdir(folder)):
        if os.path.isfile(os.path.join(folder, name)):
            files[name] = _text(os.path.join(folder, name))
    resources = os.path.join(folder, "resources")
    if os.path.isdir(resources):
        for name in sorted(os.listdir(resources)):
            if name.endswith(".tf") and os.path.isfile(os.path.join(resources, name)):
                files[f"resources/{name}"] = _text(os.path.join(resources, name))
    return files


def _text(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except UnicodeDecodeError:
        return "\x00"  # moj.read_namespace reports it as not UTF-8
    except OSError as e:
        raise CivicError(f"{path}: cannot be read: {e.strerror}.") from e


def run(src: str, *, platform_name: str = "imported") -> assembly.Result:
    """Read and convert the checkout at ``src``; nothing is written."""
    namespaces = [
        moj.read_namespace(cluster=cluster, folder=folder, files=files) for cluster, folder, files in read_source(src)
    ]
    return assembly.assemble(namespaces, source=os.path.abspath(src), platform_name=platform_name)


def check_dest(dest: str, *, force: bool) -> None:
    """Refuse a DEST that is a file, or a non-empty folder without --force."""
    if os.path.exists(dest) and not os.path.isdir(dest):
        raise UsageError(f"'{dest}' is a file; give a folder for the estate.")
    if os.path.isdir(dest) and os.listdir(dest) and not force:
        raise UsageError(
            f"'{dest}' is not empty; give an empty or new folder, or --force to replace its {', '.join(WRITTEN)}."
        )


def write(result: assembly.Result, dest: str, *, force: bool) -> None:
    """Write the estate and its report into ``dest`` in one move."""
    check_dest(dest, force=force)
    if not result.texts:
        raise CivicError(
            "no namespace could be imported, so no estate was written; the report above says why for each one."
        )
    parent = os.path.dirname(os.path.abspath(dest))
    os.makedirs(parent, exist_ok=True)
    staging = tempfile.mkdtemp(prefix=".civic-import-", dir=parent)
    try:
        for rel, text in result.texts.items():
            path = os.path.join(staging, *rel.split("/"))
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w", encoding="utf-8") as f:
                f.write(text)
        with open(os.path.join(staging, REPORT_JSON), "w", encoding="utf-8") as f:
            json.dump(result.report.as_dict(), f, indent=2, default=str)
        with open(os.path.join(staging, REPORT_MD), "w", encoding="utf-8") as f:
            f.write(report_mod.to_markdown(result.report))
        _move_into_place(staging, dest)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _move_into_place(staging: str, dest: str) -> None:
    if not os.path.exists(dest):
        os.rename(staging, dest)
        return
    backup = tempfile.mkdtemp(prefix=".civic-import-old-", dir=os.path.dirname(os.path.abspath(dest)))
    moved: list[str] = []
    try:
        for name in WRITTEN:
            if os.path.lexists(os.path.join(dest, name)):
                os.rename(os.path.join(dest, name), os.path.join(backup, name))
                moved.append(name)
        for name in os.listdir(staging):
            os.rename(os.path.join(staging, name), os.path.join(dest, name))
    except OSError as e:
        for name in moved:  # put the old estate back as it was
            shutil.rmtree(os.path.join(dest, name), ignore_errors=True)
            os.rename(os.path.join(backup, name), os.path.join(dest, name))
        raise CivicError(f"could not move the new estate into '{dest}': {e.strerror}; the folder is as it was.") from e
    finally:
        shutil.rmtree(backup, ignore_errors=True)
