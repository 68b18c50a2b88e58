"""The crash drill at length: `python benchmarks/crash_drill.py [--rounds 50] [--seed 1]`
(needs haproxy; run as root to read the replicas' environments).

It runs the drill of tests/e2e/test_crash_consistency.py with many more rounds than CI does:
on a copy of the example estate, each round changes the estate, starts `civic apply` or
`civic up` (two services deployed) and SIGKILLs it at a random moment. Then it checks, and
prints, what held:

1. every command between the kills finished that was not killed (no stale lock made one wait);
2. the apply after the kills finished, with no lock left, and a second one had nothing to do;
3. no duplicate revision in the store;
4. a `civic up` after the kills served every service;
5. every recorded replica runs, and every running replica (by CIVIC_REPLICA_ID) is recorded.

Exit code 0 when everything held, 1 otherwise. Every number printed is measured in this run.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "src"))
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))

from test_crash_consistency import MARKER, Drill, Findings


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=50, help="kills of each kind (apply, up)")
    parser.add_argument("--seed", type=int, default=int(time.time()))
    args = parser.parse_args()
    tmp = tempfile.mkdtemp(prefix="civic-crash-drill-")
    estate = os.path.join(tmp, "estate")
    shutil.copytree(os.path.join(ROOT, "examples", "estate"), estate, ignore=shutil.ignore_patterns(".civic"))
    os.environ.setdefault("XDG_CACHE_HOME", os.path.join(tmp, "cache"))
    drill = Drill(estate, tmp, seed=args.seed)
    began = time.monotonic()
    print(f"crash drill: {args.rounds} kills of `civic apply` and {args.rounds} of `civic up`, seed {args.seed}")
    try:
        drill.calibrate()
        drill.run(args.rounds)
        found = drill.check()
    finally:
        drill.close()
    held = report(found)
    if held:
        shutil.rmtree(tmp, ignore_errors=True)
        print(f"{time.monotonic() - began:.0f} s")
    else:
        print(f"{time.monotonic() - began:.0f} s; the log of every command: {drill.log}")
    return 0 if held else 1


def report(found: Findings) -> bool:
    killed = [r for r in found.rounds if " killed " in r]
    print(
        f"rounds: {len(found.rounds) - 2}, killed: {len(killed)} "
        f"(apply {sum(r.startswith('apply') for r in killed)}, up {sum(r.startswith('up') for r in killed)})"
    )
    print(f"  {found.rounds[0]}\n  {found.rounds[1]}")
    print(f"  killed while holding the lock: {sum('holding the lock' in r for r in killed)}")
    print(f"  locks left by a killed command and taken over by the next one: {found.takeovers}")
    checks = [
        ("no command between the kills failed", not found.failed, "; ".join(found.failed)),
        (
            "the apply after the kills finished" + (" (it took over a lock left behind)" if found.took_over else ""),
            found.apply_code == 0,
            found.apply_error,
        ),
        ("no lock left behind", not found.locks_left, "; ".join(found.locks_left)),
        ("a second apply had nothing to do", not found.left_to_apply, ""),
        ("no duplicate revision", not found.duplicates, "; ".join(found.duplicates)),
        ("civic up served every service", not found.not_served, "not served: " + ", ".join(found.not_served)),
        ("every recorded replica runs", not found.not_running, "; ".join(found.not_running)),
    ]
    if found.marked:
        checks.append(("every running replica is recorded (no orphan)", not found.orphans, "; ".join(found.orphans)))
    else:
        checks.append(("every running replica is recorded (no orphan)", False, f"no replica carries {MARKER}"))
    for what, ok, detail in checks:
        print(f"  {'held' if ok else 'BROKE'}: {what}" + ("" if ok or not detail else f": {detail}"))
    return all(ok for _, ok, _ in checks)


if __name__ == "__main__":
    sys.exit(main())
