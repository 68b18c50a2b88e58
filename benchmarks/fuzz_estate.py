"""Fuzz Civic's estate reading and deploy parsing with many more examples than CI runs.

    python benchmarks/fuzz_estate.py [--estates 500] [--services 500] [--seed 1] [--seconds 30]

The cases are tests/spec/test_fuzz.py's (tests/spec/fuzzing.py): copies of examples/estate
with a few mutations each (YAML text spliced with hostile snippets, values and structure
changed, files turned into FIFOs, folders, links out of the estate or to /dev/urandom,
folders copied under other names, policies with hostile CEL), run through ``civic
validate`` and, when it fails, ``civic apply``; and mutated service files through the
deploy parser and a deploy's checks. Each runs in a forked child with a deadline and a
1 GiB memory limit. Prints one line per case (what it did, the exit codes, the time and the
peak memory), then what it found: every exit 70 or unexpected exception, hang, case killed
for memory, or apply after a failed validate, with the mutations that caused it.
"""

from __future__ import annotations

import argparse
import collections
import os
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # for tests.spec

from hypothesis import given, seed, settings
from hypothesis import strategies as st
from tests.spec import fuzzing


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--estates", type=int, default=500, help="mutated estates to run")
    parser.add_argument("--services", type=int, default=500, help="mutated service files to run")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--seconds", type=float, default=30.0, help="the hang deadline of one case")
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix="civic-fuzz-")
    os.environ.setdefault("XDG_CACHE_HOME", os.path.join(work, "cache"))
    try:
        return _fuzz(args, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _fuzz(args: argparse.Namespace, work: str) -> int:
    found: list[tuple[str, fuzzing.Ran]] = []
    codes: collections.Counter[str] = collections.Counter()

    print(f"fuzzing: {args.estates} estates, {args.services} service files, seed {args.seed}, in {work}")
    with open(fuzzing.pristine(os.path.join(work, "pristine")), "rb") as f:
        pristine = f.read()

    def report(kind: str, number: int, ran: fuzzing.Ran, seconds: float) -> None:
        codes[f"{kind}: {ran.outcome if ran.outcome != 'ran' else _verdict(ran)}"] += 1
        flag = "FOUND" if ran.failures else "ok   "
        what = ran.describe()
        print(f"{flag} {kind} {number:>4} {seconds:6.2f} s {ran.peak_mb:6.0f} MB  {_verdict(ran):<22} {what}")
        if ran.failures:
            found.append((kind, ran))

    count = {"estate": 0, "service": 0}

    @settings(max_examples=max(args.estates, 1), deadline=None, database=None)
    @seed(args.seed)
    @given(mutations=st.lists(fuzzing.estate_mutations(), min_size=1, max_size=3))
    def estates(mutations: list[fuzzing.Mutation]) -> None:
        count["estate"] += 1
        case = os.path.join(work, "case.db")
        with open(case, "wb") as f:
            f.write(pristine)
        fuzzing.prepare_estate(os.path.join(work, "estate"), os.path.join(work, "outside"), mutations)
        started = time.monotonic()
        ran = fuzzing.run_estate(os.path.join(work, "estate"), case, mutations, seconds=args.seconds)
        report("estate ", count["estate"], ran, time.monotonic() - started)

    @settings(max_examples=max(args.services, 1), deadline=None, database=None)
    @seed(args.seed)
    @given(
        mutations=st.lists(fuzzing.service_mutations(), min_size=1, max_size=3),
        overrides=st.lists(st.sampled_from(fuzzing.OVERRIDES), max_size=2),
    )
    def services(mutations: list[fuzzing.Mutation], overrides: list[str]) -> None:
        count["service"] += 1
        started = time.monotonic()
        ran = fuzzing.run_service(mutations, overrides, seconds=args.seconds)
        report("service", count["service"], ran, time.monotonic() - started)

    if args.estates:
        estates()
    if args.services:
        services()

    print(f"\nran {count['estate']} estates and {count['service']} service files:")
    for verdict, n in sorted(codes.items()):
        print(f"  {n:>5}  {verdict}")
    if not found:
        print(
            "found nothing: no exit 70, no unexpected exception, no hang, no case killed for memory, "
            "no apply after a failed validate."
        )
        return 0
    print(f"found {len(found)}:")
    for kind, ran in found:
        print(f"  {kind}: {'; '.join(ran.failures)}\n    after: {ran.describe()}")
    return 1


def _verdict(ran: fuzzing.Ran) -> str:
    if ran.outcome != "ran":
        return ran.outcome
    if ran.validate is not None:
        return f"validate {ran.validate}" + (f", apply {ran.apply}" if ran.apply is not None else "")
    return ran.first_problem.split(":")[0]


if __name__ == "__main__":
    sys.exit(main())
