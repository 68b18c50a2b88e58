"""How fast ``civic import cloud-platform-environments`` reads an estate the size of the MoJ's.

    python benchmarks/import_scale.py [--namespaces 1466] [--keep]

Builds a cloud-platform-environments tree of N namespace folders (1,466 by default: the
MoJ's whole repository, which holds 12,460 ``.tf`` files) in a temporary folder, by
repeating the two shared samples under new names: ``../shared/corpus/moj-environments``
(46 folders, YAML only) once, then ``../shared/corpus/moj-environments-fidelity`` (50
folders with their Terraform, ``resources/`` subfolders included) until there are N. That
mix comes closest to the real repository's Terraform per namespace (8.4 ``.tf`` files a
folder in the fidelity sample, 8.5 in the repository). Each copy's folders get a suffix
(``-r001``, ``-r002``, ...) and every mention of a sample namespace's name in their files
is renamed the same way, so that ``allowFrom`` peers, hosts and RoleBinding namespaces still
point inside the copy. ``monitoring`` keeps its name inside files: other namespaces' policies
select it by that name. Each copied ``.tf`` file ends with a comment naming its copy, so that
no two texts are the same (most of the samples' Terraform names no namespace, and identical
texts would flatter any cache).

Then it runs ``civic import`` on the tree as a user would, in a new process, cold: an empty
cache folder (``XDG_CACHE_HOME``), as on a fresh machine or a CI runner. It prints the
seconds, the peak memory of the import's processes together (sampled every 20 ms; a
process pool's workers count) and the largest single process, and what the tree holds.
Target (issue 14): under 10 s on a 2-core machine.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

import psutil

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(os.path.dirname(os.path.dirname(HERE)), "shared", "corpus")
YAML_ONLY = os.path.join(CORPUS, "moj-environments")
FIDELITY = os.path.join(CORPUS, "moj-environments-fidelity")
KEEP_NAMES = {"monitoring"}  # selected by name from other namespaces; never renamed inside files


def _folders(sample: str) -> list[tuple[str, str]]:
    """(cluster, folder) for every namespace folder of a sample."""
    root = os.path.join(sample, "namespaces")
    return [
        (cluster, folder)
        for cluster in sorted(os.listdir(root))
        for folder in sorted(os.listdir(os.path.join(root, cluster)))
        if os.path.isdir(os.path.join(root, cluster, folder))
    ]


def _renamer(names: set[str], suffix: str) -> tuple[re.Pattern[str], dict[str, str]]:
    renamed = {n: n + suffix for n in names - KEEP_NAMES}
    alternatives = "|".join(re.escape(n) for n in sorted(renamed, key=len, reverse=True))
    return re.compile(rf"(?<![A-Za-z0-9-])({alternatives})(?![A-Za-z0-9-])"), renamed


def copy_sample(sample: str, tree: str, suffix: str, *, limit: int) -> tuple[int, int]:
    """Copy up to ``limit`` folders of ``sample`` into ``tree``, renamed; (folders, .tf files) copied."""
    folders = _folders(sample)[:limit]
    pattern, renamed = _renamer({folder for _, folder in _folders(sample)}, suffix)
    tf = 0
    for cluster, folder in folders:
        src = os.path.join(sample, "namespaces", cluster, folder)
        dst = os.path.join(tree, "namespaces", cluster, folder + suffix)
        for dirpath, _, files in os.walk(src):
            out = os.path.join(dst, os.path.relpath(dirpath, src))
            os.makedirs(out, exist_ok=True)
            for name in files:
                with open(os.path.join(dirpath, name), encoding="utf-8", errors="surrogateescape") as f:
                    text = f.read()
                text = pattern.sub(lambda m: renamed[m.group(1)], text)
                if name.endswith(".tf"):  # each copy's own text, as each namespace's is in the repository
                    text += f"\n# {folder}{suffix}\n"
                with open(os.path.join(out, name), "w", encoding="utf-8", errors="surrogateescape") as f:
                    f.write(text)
                tf += name.endswith(".tf")
    return len(folders), tf


def build(tree: str, *, namespaces: int) -> tuple[int, int]:
    """The tree of ``namespaces`` folders; (folders, .tf files) in it."""
    total, tf = 0, 0
    for copy, sample in enumerate([YAML_ONLY] + [FIDELITY] * namespaces, start=1):
        if total >= namespaces:
            break
        n, t = copy_sample(sample, tree, f"-r{copy:03d}", limit=namespaces - total)
        total, tf = total + n, tf + t
    return total, tf


def import_cold(tree: str, dest: str) -> tuple[float, float, float, str]:
    """Run ``civic import`` in a new process with an empty cache; seconds, peak MB of the
    process tree, peak MB of its largest process, and what it printed."""
    cache = tempfile.mkdtemp(prefix="civic-bench-cache-")
    try:
        start = time.perf_counter()
        proc = psutil.Popen(
            [sys.executable, "-c", "from civic.cli.main import run; run()"]
            + ["import", "cloud-platform-environments", tree, dest],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, "XDG_CACHE_HOME": cache},
        )
        peak_tree = 0.0
        while proc.poll() is None:
            peak_tree = max(peak_tree, _tree_rss(proc))
            time.sleep(0.02)  # a benchmark samples memory; tests never sleep
        seconds = time.perf_counter() - start
        output = proc.stdout.read() if proc.stdout else ""
        if proc.returncode != 0:
            sys.exit(f"civic import failed ({proc.returncode}):\n{output}")
        import resource

        largest = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        return seconds, peak_tree / 2**20, largest, output
    finally:
        shutil.rmtree(cache, ignore_errors=True)


def _tree_rss(proc: psutil.Process) -> float:
    total = 0.0
    try:
        for p in [proc, *proc.children(recursive=True)]:
            try:
                total += p.memory_info().rss
            except psutil.Error:
                pass
    except psutil.Error:
        pass
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--namespaces", type=int, default=1466)
    parser.add_argument("--keep", action="store_true", help="keep the tree and the estate; print where")
    args = parser.parse_args()
    for sample in (YAML_ONLY, FIDELITY):
        if not os.path.isdir(os.path.join(sample, "namespaces")):
            sys.exit(f"the sample {sample} is missing; this benchmark builds its tree from it")
    work = tempfile.mkdtemp(prefix="civic-import-bench-")
    try:
        tree, dest = os.path.join(work, "cloud-platform-environments"), os.path.join(work, "estate")
        folders, tf = build(tree, namespaces=args.namespaces)
        print(f"tree: {folders} namespace folders, {tf} .tf files (cores: {os.cpu_count()})")
        seconds, peak, largest, output = import_cold(tree, dest)
        summary = [line for line in output.splitlines() if "namespace" in line.lower()][:2]
        for line in summary:
            print(f"  civic: {line.strip()}")
        print(f"cold import: {seconds:.1f} s, peak {peak:.0f} MB (all processes), {largest:.0f} MB (largest process)")
        print(f"target: < 10 s: {'met' if seconds < 10 else 'NOT met'}")
        if args.keep:
            print(f"kept: {work}")
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
