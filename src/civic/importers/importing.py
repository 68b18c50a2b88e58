"""``civic import``'s I/O: read a cloud-platform-environments checkout, write an estate.

:func:`read_source` gathers the texts of every ``namespaces/<cluster>/<namespace>/``
folder; :func:`run` reads them with :mod:`civic.importers.moj`, assembles and checks
the estate with :mod:`civic.importers.assembly`, and :func:`write` puts the estate and
its report in place in one move: everything is written to a temporary folder beside
DEST first, so DEST never holds half an estate, and DEST gets the usual permissions
(the umask's), as a folder made by ``mkdir`` would. Called by :mod:`civic.cli.importer`.

A folder's files are its own regular files and the ``.tf`` files of ``resources/`` and its
subfolders, within bounds: links that lead out of the checkout, anything that is not a
regular file, ``.tf`` files over :data:`MAX_TF_CHARS`, folders deeper than
:data:`MAX_DEPTH` and ``.tf`` files past the :data:`MAX_TF_FILES`-th are not read, and the
report says so for each. Folders whose names start with ``.`` (``.terraform``: Terraform's
own downloads) are not configuration and are passed over.

Reading is most of an import's time (1,466 folders in the MoJ's estate), so a large
checkout is read by a pool of processes, one per CPU, each reading whole folders; the
namespaces come back in the same order, so the estate is the same as when read here.
"""

from __future__ import annotations

import concurrent.futures
import json
import multiprocessing
import os
import shutil
import sys
import tempfile
import threading

from civic.errors import CivicError, UsageError
from civic.importers import assembly, moj
from civic.importers import report as report_mod

NAMESPACES_DIR = "namespaces"
RESOURCES_DIR = "resources"
REPORT_JSON = "import-report.json"
REPORT_MD = "import-report.md"
# What an import writes at DEST's top level; with --force only these are replaced.
WRITTEN = ("civic.yaml", "teams", "environments", REPORT_JSON, REPORT_MD)
MAX_TF_CHARS = 1024 * 1024  # the largest .tf file read; the MoJ's largest holds some 40,000
MAX_DEPTH = 8  # folder levels below resources/ that are read
MAX_TF_FILES = 1000  # .tf files read in one namespace folder; the MoJ's most hold some 60
POOL_FROM = 100  # folders; a smaller checkout is read in this process, where a pool costs more than it saves

Folder = tuple[str, str, str]  # (cluster, namespace folder, its path)


def read_source(src: str) -> list[tuple[str, str, dict[str, str]]]:
    """(cluster, namespace folder, {relative path: text}) for every namespace folder."""
    root, folders = _folders(src)
    return [(cluster, folder, _files(path, root=root)[0]) for cluster, folder, path in folders]


def _folders(src: str) -> tuple[str, list[Folder]]:
    """The checkout's real path, and its namespace folders in order."""
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
                out.append((cluster, folder, path))
    if not out:
        raise UsageError(f"'{root}' holds no namespace folders (namespaces/<cluster>/<namespace>/).")
    return os.path.realpath(src), out


Refused = list[tuple[str, str, str]]  # ("File" or "Folder", relative path, why it was not read)


def _files(folder: str, *, root: str) -> tuple[dict[str, str], Refused]:
    """The texts of a namespace folder's files by relative path, and what was not read."""
    files: dict[str, str] = {}
    refused: Refused = []
    inside = _inside(folder, root)  # a folder linked from elsewhere: each file is checked
    for entry in _entries(folder):
        if entry.name == RESOURCES_DIR and entry.is_dir(follow_symlinks=False):
            found = _Found(files, refused)
            _terraform_files(entry.path, RESOURCES_DIR, root=root, inside=inside, found=found)
        elif entry.name == RESOURCES_DIR and entry.is_symlink() and entry.is_dir():
            refused.append(("Folder", RESOURCES_DIR, f"{RESOURCES_DIR}/: {_LINKED_FOLDER}"))
        elif entry.is_file():
            _read_file(entry, entry.name, root=root, inside=inside, bound=None, files=files, refused=refused)
    return files, refused


_LINKED_FOLDER = "a link to a folder; the importer does not follow these"


class _Found:
    """What a walk of resources/ has read, not read, and how many .tf files it met."""

    def __init__(self, files: dict[str, str], refused: Refused) -> None:
        self.files, self.refused, self.terraform = files, refused, 0


def _terraform_files(folder: str, rel_dir: str, *, root: str, inside: bool, found: _Found) -> None:
    """The .tf files of ``resources/`` and its subfolders, as ``resources/<path>``: a
    folder's files first, then its subfolders', in order of name."""
    subfolders = []
    for entry in _entries(folder):
        rel = f"{rel_dir}/{entry.name}"
        if entry.is_dir(follow_symlinks=False):
            if entry.name.startswith("."):
                continue
            if rel.count("/") > MAX_DEPTH:
                found.refused.append(
                    ("Folder", rel, f"{rel}/: deeper than the {MAX_DEPTH} levels under resources/ read")
                )
            else:
                subfolders.append((entry.path, rel))
        elif entry.is_symlink() and entry.is_dir():
            found.refused.append(("Folder", rel, f"{rel}/: {_LINKED_FOLDER}"))
        elif entry.name.endswith(".tf"):
            found.terraform += 1
            if found.terraform > MAX_TF_FILES:
                why = f"past the first {MAX_TF_FILES:,} .tf files of this folder, which are all the importer reads"
                found.refused.append(("File", rel, f"{rel}: {why}"))
            else:
                _read_file(
                    entry, rel, root=root, inside=inside, bound=MAX_TF_CHARS, files=found.files, refused=found.refused
                )
    for path, rel in subfolders:
        _terraform_files(path, rel, root=root, inside=inside, found=found)


def _entries(folder: str) -> list[os.DirEntry[str]]:
    with os.scandir(folder) as it:
        return sorted(it, key=lambda e: e.name)


def _inside(path: str, root: str) -> bool:
    return os.path.commonpath([os.path.realpath(path), root]) == root


def _read_file(
    entry: os.DirEntry[str],
    rel: str,
    *,
    root: str,
    inside: bool,
    bound: int | None,
    files: dict[str, str],
    refused: Refused,
) -> None:
    """Read one file into ``files``, or say in ``refused`` why not: a link out of the
    checkout, not a regular file, or over ``bound`` characters."""
    why = ""
    if (entry.is_symlink() or not inside) and not _inside(entry.path, root):
        why = "a link to a file outside the checkout; not read"
    elif not entry.is_file():
        why = "not a regular file; not read"
    else:
        text = _text(entry.path, bound=bound)
        if bound is None or len(text) <= bound:
            files[rel] = text
            return
        why = f"holds more than the {bound:,} characters the importer reads; not read"
    refused.append(("File", rel, f"{rel}: {why}"))


def _text(path: str, *, bound: int | None = None) -> str:
    """The file's text (its first ``bound`` + 1 characters at most), or NUL if not UTF-8."""
    try:
        with open(path, encoding="utf-8") as f:
            return f.read(-1 if bound is None else bound + 1)
    except UnicodeDecodeError:
        return "\x00"  # moj.read_namespace reports it as not UTF-8
    except OSError as e:
        raise CivicError(f"{path}: cannot be read: {e.strerror}.") from e


def run(src: str, *, platform_name: str = "imported", workers: int | None = None) -> assembly.Result:
    """Read and convert the checkout at ``src``; nothing is written. ``workers``: how many
    processes read the folders (1: this one); by default one per CPU for a large checkout."""
    root, folders = _folders(src)
    jobs = [(root, cluster, folder, path) for cluster, folder, path in folders]
    if workers is None:
        workers = _cpus() if len(jobs) >= POOL_FROM else 1
    namespaces = _read_in_pool(jobs, workers) if workers > 1 and _can_fork() else [_read(job) for job in jobs]
    return assembly.assemble(namespaces, source=os.path.abspath(src), platform_name=platform_name)


def _read(job: tuple[str, str, str, str]) -> moj.Namespace:
    """One namespace folder read; in a pool's worker or here."""
    root, cluster, folder, path = job
    files, refused = _files(path, root=root)
    ns = moj.read_namespace(cluster=cluster, folder=folder, files=files)
    for kind, rel, why in refused:
        ns.skip(rel, 1, kind, rel, "parse-error", why)
    return ns


def _read_in_pool(jobs: list[tuple[str, str, str, str]], workers: int) -> list[moj.Namespace]:
    context = multiprocessing.get_context("fork")  # the workers start with everything imported
    with concurrent.futures.ProcessPoolExecutor(workers, mp_context=context) as pool:
        return list(pool.map(_read, jobs, chunksize=max(1, len(jobs) // (workers * 8))))


def _cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _can_fork() -> bool:
    """A pool's workers are forked: only on Linux, and only from a process with one thread
    (forking a process with others can deadlock, and Python 3.12 warns of it)."""
    return sys.platform == "linux" and threading.active_count() == 1


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
        os.chmod(staging, 0o777 & ~_umask())  # mkdtemp's 0700 would become DEST's
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


def _umask() -> int:
    """The process's umask: from /proc on Linux, where reading it changes nothing."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask
