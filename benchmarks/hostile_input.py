"""How long, and how much memory, Civic takes to refuse each hostile input of issue 12's drills.

    python benchmarks/hostile_input.py [--seconds 60]

Each case is a copy of examples/estate with one hostile change, run through ``civic
validate`` (the CLI's entry point), or a hostile service file run through the deploy parser
that the API calls in a worker thread. Each runs in a forked child (tests/spec/bounded.py)
with a 1 GiB memory limit and a deadline; the table shows the exit code (or what was
refused), the first problem, the seconds the refusal took (fork included) and how far the
child's resident memory rose. Before issue 12, the 386-byte alias bomb took over 60 s and
7.4 GB, the 1 MB policy ``when:`` 23.7 GB, and a FIFO or /dev/urandom never finished.
Target: each within a second or two, in bounded memory.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # for tests.spec

from tests.spec import bounded

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLE = os.path.join(ROOT, "examples", "estate")
ENV = "environments/opg-lpa-dev/environment.yaml"
SERVICE = "apiVersion: civic/v1\nkind: Service\nmetadata: {name: web}\nspec:\n  run: {command: x}\n"


def bomb(levels: int, indent: str = "") -> str:
    lines = [f'{indent}a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for previous, name in zip("abcdefghij", "bcdefghijk"[: levels - 1], strict=False):
        lines.append(f"{indent}{name}: &{name} [{','.join([f'*{previous}'] * 9)}]")
    return "\n".join(lines) + "\n"


def append(text: str, rel: str = ENV) -> Callable[[str], None]:
    def change(estate: str) -> None:
        with open(os.path.join(estate, rel), "a", encoding="utf-8") as f:
            f.write(text)

    return change


def policy(expression: str = "true", when: str = "true") -> Callable[[str], None]:
    import json

    def change(estate: str) -> None:
        with open(os.path.join(estate, "policies", "drill.yaml"), "w", encoding="utf-8") as f:
            f.write(
                "apiVersion: civic/v1\nkind: Policy\nmetadata: {name: drill}\nspec:\n  description: d\n"
                f"  appliesTo: [Environment]\n  expression: {json.dumps(expression, ensure_ascii=False)}\n"
                f"  when: {json.dumps(when, ensure_ascii=False)}\n  message: m\n"
            )

    return change


def special(kind: str) -> Callable[[str], None]:
    def change(estate: str) -> None:
        os.makedirs(os.path.join(estate, "environments", "odd"))
        path = os.path.join(estate, "environments", "odd", "environment.yaml")
        if kind == "fifo":
            os.mkfifo(path)
        elif kind == "urandom":
            os.symlink("/dev/urandom", path)
        else:
            secret = os.path.join(os.path.dirname(estate), "client.json")
            with open(secret, "w") as f:
                f.write("civic_SECRET-TOKEN\n")
            os.symlink(secret, path)

    return change


def copies(count: int) -> Callable[[str], None]:
    def change(estate: str) -> None:
        source = os.path.join(estate, "environments", "opg-lpa-dev")
        for i in range(count):
            shutil.copytree(source, os.path.join(estate, "environments", f"copy-{i:05d}"))

    return change


def environments_file(estate: str) -> None:
    shutil.rmtree(os.path.join(estate, "environments"))
    with open(os.path.join(estate, "environments"), "w") as f:
        f.write("a file\n")


ESTATE_CASES: list[tuple[str, Callable[[str], None]]] = [
    ("env-var name with a NUL byte", append('  variables: {"A\\0B": x}\n')),
    ("alias bomb, 386 bytes", append("  variables:\n" + bomb(9, "    "))),
    ("nesting 600 deep", append("  variables: " + "[" * 600 + "]" * 600 + "\n")),
    ("file of 6 MiB", append("# " * 3 * 1024 * 1024 + "\n", "civic.yaml")),
    ("string of 300,000 characters", append("  owner: " + "x" * 300_000 + "\n")),
    ("150,000 values", append("  variables: [" + "a," * 150_000 + "a]\n")),
    ("date 2024-02-30", append("  reviewAfter: 2024-02-30\n")),
    ("!!timestamp nope", append("  reviewAfter: !!timestamp nope\n")),
    ("!!int abc", append("  serviceArea: !!int abc\n")),
    ("4,301-digit integer", append("  quota: {replicas: " + "9" * 4301 + "}\n")),
    ("policy 1 / 0", policy("1 / 0 == 1")),
    ("policy overflow", policy("9223372036854775807 + 1 > 0")),
    ("policy when: 1 MB non-ASCII", policy(when="é" * 1_000_000)),
    ("policy when: 100 kB non-ASCII", policy(when="é" * 100_000)),
    ("policy when: 20 kB non-ASCII", policy(when="x && " + "é" * 20_000)),
    ("policy: chain of 5,000 operators", policy("1 + " * 5000 + "1 > 0")),
    ("FIFO as an environment.yaml", special("fifo")),
    ("link to /dev/urandom", special("urandom")),
    ("link to a token outside", special("leak")),
    ("10,000 folders naming one environment", copies(10_000)),
    ("environments is a file", environments_file),
]

SERVICE_CASES: list[tuple[str, str]] = [
    ("deploy: alias bomb, 340 bytes", SERVICE + "  env:\n" + bomb(8, "    ")),
    ("deploy: alias bomb, 386 bytes", SERVICE + "  env:\n" + bomb(9, "    ")),
    ("deploy: env-var name with a NUL byte", SERVICE + '  env: {"A\\0B": x}\n'),
    ("deploy: nesting 600 deep", SERVICE + "  env: " + "[" * 600 + "]" * 600 + "\n"),
    ("deploy: 4,301-digit integer", SERVICE + "  port: " + "9" * 4301 + "\n"),
    ("deploy: text of 6 MiB", SERVICE + "# " * 3 * 1024 * 1024),
]


def _parse(text: str) -> str:
    from civic.control import deploying
    from civic.errors import CivicError

    try:
        deploying.parse(text, file="civic.service.yaml")
    except CivicError as e:
        return f"refused: {e.message.splitlines()[-1].strip()}"
    return "accepted"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="the deadline of one case")
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix="civic-hostile-")
    os.environ.setdefault("XDG_CACHE_HOME", os.path.join(work, "cache"))
    try:
        return _measure(args, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _measure(args: argparse.Namespace, work: str) -> int:
    estate = os.path.join(work, "estate")
    shutil.copytree(EXAMPLE, estate, ignore=shutil.ignore_patterns(".civic"))
    bounded.cli("validate", "--estate", estate)  # imports and caches, shared by every forked case
    _parse(SERVICE)
    print(f"{'case':<40} {'seconds':>8} {'peak MB':>8}  result")
    slow = 0
    for name, change in ESTATE_CASES:
        shutil.rmtree(work + "/case", ignore_errors=True)
        case = os.path.join(work, "case", "estate")
        shutil.copytree(EXAMPLE, case, ignore=shutil.ignore_patterns(".civic"))
        change(case)
        slow += _row(name, lambda case=case: bounded.cli("validate", "--estate", case), args.seconds)
    for name, text in SERVICE_CASES:
        slow += _row(name, lambda text=text: _parse(text), args.seconds)
    print(f"\n{len(ESTATE_CASES) + len(SERVICE_CASES)} cases; {slow} took more than 2 s or did not end in a refusal.")
    return 1 if slow else 0


def _row(name: str, case: Callable[[], object], seconds: float) -> int:
    started = time.monotonic()
    outcome = bounded.run(case, seconds=seconds)
    took = time.monotonic() - started
    value = outcome.value
    if isinstance(value, bounded.Result):
        err, out = value.err.splitlines(), [line for line in value.out.splitlines() if "deny" in line]
        first = (err[1:2] or err[:1] or out[:1] or value.out.splitlines()[:1] or [""])[0].strip()
        shown, ok = f"exit {value.code}: {first}", value.code == 1
    elif isinstance(value, str):
        shown, ok = value, value.startswith("refused")
    else:
        shown, ok = str(outcome), False
    print(f"{name:<40} {took:8.2f} {outcome.peak_mb:8.0f}  {shown[:150]}")
    return 0 if ok and took <= 2.0 else 1


if __name__ == "__main__":
    sys.exit(main())
