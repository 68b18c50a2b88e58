"""Policy evaluation speed: evaluations per second on one core, and a full audit of a big estate.

    python benchmarks/policy_eval.py [--environments 1500]

1. One compiled CEL policy (production-replicas) on one service, many times: the
   per-evaluation cost once the expression is compiled (target: at least 10,000/s).
2. A generated estate of N environments (copies of examples/estate's laa-apply-dev under
   new names), stored as canonical specs as the store holds them, judged by every
   policy in force with civic.policy.audit (target for 1,500: under 1 s).
Prints what it measured; asserts nothing.
"""

from __future__ import annotations

import argparse
import datetime
import os
import sys
import time

from civic import policy
from civic.policy import evaluation, expressions, library, subjects
from civic.spec import estate, models

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLE = os.path.join(ROOT, "examples", "estate")
TODAY = datetime.date.today()


def evaluations_per_second(seconds: float = 1.0) -> tuple[float, int]:
    loaded = estate.load(EXAMPLE)
    env = loaded.environments["laa-apply-production"]
    service = models.Service.model_validate(
        {
            "apiVersion": "civic/v1",
            "kind": "Service",
            "metadata": {"name": "web"},
            "spec": {"run": {"command": ["web"]}, "replicas": 2, "readiness": {"path": "/healthz"}},
        }
    )
    subject = subjects.from_model(service, environment=env)
    platform = subjects.full(loaded.platform)
    context = expressions.Context({**subjects.platform_variables(platform), **subjects.variables(subject, platform)})
    chosen = next(p for p in library.BUILTIN if p.name == "production-replicas")
    program = expressions.compile_(chosen.expression)
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        for _ in range(1000):
            evaluation.violations(context.run(program, chosen.params))
        n += 1000
    return n / (time.perf_counter() - start), n


def generated_specs(count: int) -> dict[tuple[str, str], dict]:
    loaded = estate.load(EXAMPLE)
    specs = {key: model.canonical() for key, model in loaded.objects().items()}
    template = loaded.environments["laa-apply-dev"].canonical()
    for i in range(count):
        copy = {**template, "metadata": {**template["metadata"], "name": f"gen-{i:05d}-dev"}}
        specs[("Environment", f"gen-{i:05d}-dev")] = copy
    return specs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--environments", type=int, default=1500)
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core
    rate, n = evaluations_per_second()
    print(f"evaluations: {rate:,.0f} per second on one core ({n:,} evaluations of production-replicas, compiled once)")
    specs = generated_specs(args.environments)
    chosen = policy.policy_set(estate.load(EXAMPLE))
    start = time.perf_counter()
    report = policy.audit(specs, policies=chosen, today=TODAY)
    took = time.perf_counter() - start
    c = report.counts()
    print(
        f"audit: {len(specs):,} objects ({args.environments:,} generated environments) judged by "
        f"{c['policies']} policies in {took:.3f} s: {c['verdicts']:,} verdicts, {c['denied']} denied, "
        f"{c['warnings']} warnings; {c['verdicts'] / took:,.0f} verdicts/s"
    )
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores on the machine")


if __name__ == "__main__":
    main()
