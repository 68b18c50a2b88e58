"""Mutated estates and service files, and the checks every one of them must pass (issue 12).

A case starts from a copy of examples/estate (or examples/services/hello's service file)
and applies a few :class:`Mutation` values drawn by Hypothesis: YAML text cut, spliced and
salted with hostile snippets (alias bombs, deep nesting, tags that cannot be read, NUL
bytes, huge numbers and strings), values and structure changed field by field, files
turned into FIFOs, folders, links out of the estate or to ``/dev/urandom``, folders
duplicated under other names, and policies with hostile CEL. :func:`run_estate` runs
``civic validate`` (and, when it fails, ``civic apply``) through the CLI's entry point,
:func:`run_service` the deploy parser and checks, each in a forked child under a deadline
and a memory limit (:mod:`tests.spec.bounded`). :func:`failures` says what went wrong:
an exit 70 or an unexpected exception, a hang, a case killed for memory, or a store
changed by an apply after a failed validate.

Used by tests/spec/test_fuzz.py (a bounded number of examples, in CI) and by
benchmarks/fuzz_estate.py (many more).
"""

from __future__ import annotations

import dataclasses
import functools
import os
import shutil
import sqlite3
from typing import Any

import yaml
from hypothesis import strategies as st
from tests.spec import bounded

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXAMPLE_ESTATE = os.path.join(ROOT, "examples", "estate")
EXAMPLE_SERVICE = os.path.join(ROOT, "examples", "services", "hello", "civic.service.yaml")

FILES = sorted(
    os.path.relpath(os.path.join(folder, name), EXAMPLE_ESTATE).replace(os.sep, "/")
    for folder, _, names in os.walk(EXAMPLE_ESTATE)
    for name in names
    if name.endswith(".yaml") and ".civic" not in folder
)
NEW_FILES = ["teams/new-team.yaml", "environments/new-env/environment.yaml", "policies/new.yaml"]
FOLDERS = ["teams", "environments", "policies", "policies/tests", "environments/opg-lpa-dev"]


def _bomb(levels: int) -> str:
    lines = ["b0: &b0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    lines += [f"b{i}: &b{i} [{', '.join([f'*b{i - 1}'] * 9)}]" for i in range(1, levels)]
    return "\n".join(lines)


LARGE = {
    "<bomb of 3 levels>": _bomb(3),
    "<bomb of 9 levels>": _bomb(9),
    "<100 nested lists>": "x: " + "[" * 100 + "]" * 100,
    "<1000 nested lists>": "x: " + "[" * 1000 + "]" * 1000,
    "<80 nested mappings>": "x: " + "{a: " * 80 + "b" + "}" * 80,
    "<4301 digits>": "x: " + "9" * 4301,
    "<5000 é>": "x: " + "é" * 5000,
    "<300,000 x>": "x: " + "x" * 300_000,
    "<2000 é in CEL>": "é" * 2000,
    "<500 # in CEL>": "#" * 500,
    "<40 parentheses in CEL>": "(" * 40 + "true" + ")" * 40,
    "<5000 additions in CEL>": "1 + " * 5000 + "1 > 0",
}
"""Snippets too large to show: drawn by name (Hypothesis prints every value it draws)."""

SNIPPETS = [
    *(name for name in LARGE if "CEL" not in name),
    "x: !!int abc",
    "x: !!float abc",
    "x: !!bool maybe",
    "x: !!timestamp nope",
    "x: 2024-02-30",
    "x: 2024-13-01T25:61:61Z",
    "x: !!binary aGVsbG8=",
    "x: !!binary '%%%'",
    "x: !!set {a, b}",
    "x: !!omap [a: 1, b: 2]",
    "x: !!python/object/apply:os.system [echo hi]",
    "x: !unknown tag",
    "x: !!map scalar",
    "x: 9223372036854775808",
    "x: -0x8000000000000001",
    "x: 1e999",
    "x: .nan",
    'x: "a\\0b"',
    '"A\\0B": x',
    "A=B: x",
    "\tx: tab",
    "x: \x00",
    "\ufeffx: bom",
    "---",
    "...",
    "%YAML 1.1\n---",
    "? [a, b]\n: c",
    "<<: *b0",
    "x: *undefined",
    "x: &dup 1\ny: &dup 2",
    "x: &self [*self]",
    "x: |\n  block\n  text",
    "x: 'unterminated",
    "x: {a: [b, c",
    "- - - -",
    "x: ${services.nope.url}",
    "x: ${",
]

HOSTILE_STRINGS = [
    "",
    " ",
    "\x00",
    "A\x00B",
    "line\nbreak",
    "é" * 70,
    "x" * 300,
    "${services.db.url}",
    "${secrets.nope}",
    "${",
    "UPPER",
    "-leading-dash",
    "a" * 64,
    "1e999",
    "2024-02-30",
    "hello.opg-lpa-dev.localhost",
    "evil.localhost\nbackend x",
    "../../etc/passwd",
    "'; DROP TABLE specs; --",
    "`rm -rf /`",
    "$(id)",
]

CEL = [
    *(name for name in LARGE if "CEL" in name),
    "1 / 0 == 1",
    "9223372036854775807 + 1 > 0",
    "[1][5] == 1",
    "uint(-1) == 1u",
    "object.spec.nope == 1",
    "object.spec.team.matches('(')",
    "size(object.spec) > 0",
    "'é' == 'ééé'",
    "[1, 2, 3].map(x, [1, 2, 3].map(y, x * y)).size() > 0",
    "object.spec.variables.all(k, k.size() < 100)",
    "true",
    "'",
    "",
]


def large(text: str) -> str:
    """A drawn snippet or expression, with a name in :data:`LARGE` written out."""
    return LARGE.get(text, text)


scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(),
    st.text(max_size=30),
    st.sampled_from(HOSTILE_STRINGS),
)
keys = st.one_of(st.text(max_size=12), st.sampled_from(HOSTILE_STRINGS))
values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(keys, inner, max_size=4)),
    max_leaves=12,
)


@dataclasses.dataclass(frozen=True)
class Mutation:
    """One change to a file of the estate (or to the service file: ``file`` is then '')."""

    kind: str
    file: str
    args: tuple[Any, ...] = ()

    def __str__(self) -> str:
        shown = ", ".join(_short(a) for a in self.args)
        return f"{self.kind}({self.file}{', ' if self.file and shown else ''}{shown})"


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:45] + f"...({len(text):,} chars)"


def text_mutations(file: st.SearchStrategy[str]) -> st.SearchStrategy[Mutation]:
    """Mutations of a file's text (and, through ``file``, of which file)."""
    at = st.integers(min_value=0, max_value=10_000)
    return st.one_of(
        st.builds(
            lambda f, i, n, s: Mutation("insert", f, (i, n, s)),
            file,
            at,
            st.sampled_from([0, 2, 4, 6]),
            st.one_of(st.sampled_from(SNIPPETS), st.text(max_size=40)),
        ),
        st.builds(lambda f, i, n: Mutation("cut", f, (i, n)), file, at, st.integers(min_value=1, max_value=400)),
        st.builds(lambda f, i: Mutation("truncate", f, (i,)), file, at),
        st.builds(lambda f, i, s: Mutation("splice", f, (i, s)), file, at, st.text(max_size=10)),
        st.builds(lambda f, b: Mutation("bytes", f, (b,)), file, st.binary(max_size=60)),
        st.builds(lambda f, i, v: Mutation("value", f, (i, v)), file, at, values),
        st.builds(lambda f, i: Mutation("delete-key", f, (i,)), file, at),
        st.builds(lambda f, i, k: Mutation("rename-key", f, (i, k)), file, at, keys),
        st.builds(lambda f, i: Mutation("wrap", f, (i,)), file, at),
    )


def estate_mutations() -> st.SearchStrategy[Mutation]:
    files = st.sampled_from(FILES + NEW_FILES)
    kinds = st.sampled_from(
        ["fifo", "folder", "link-urandom", "link-outside", "link-inside", "link-dangling", "empty", "missing", "huge"]
    )
    env_folders = st.sampled_from([f.split("/")[1] for f in FILES if f.startswith("environments/")])
    return st.one_of(
        text_mutations(files),
        st.builds(lambda f, k: Mutation("file-kind", f, (k,)), files, kinds),
        st.builds(lambda d: Mutation("folder-as-file", d), st.sampled_from(FOLDERS)),
        st.builds(
            lambda e, n: Mutation("copy-environment", f"environments/{e}", (n,)),
            env_folders,
            st.integers(min_value=1, max_value=40),
        ),
        st.builds(
            lambda x, w: Mutation("policy", "policies/fuzz.yaml", (x, w)),
            st.one_of(st.sampled_from(CEL), st.text(max_size=40)),
            st.one_of(st.none(), st.sampled_from(CEL)),
        ),
    )


def service_mutations() -> st.SearchStrategy[Mutation]:
    return text_mutations(st.just(""))


OVERRIDES = [
    "replicas=3",
    "env.GREETING=`echo hi`",
    "env.A=a && b",
    "env.B=x | y",
    "replicas=!!int abc",
    "port=" + "9" * 4301,
    "run.command=[a, [b, [c]]]",
    "image=&a [*a, *a]",
    "env.C\x00D=x",
    "readiness.path=/ok",
]


# --- applying mutations ------------------------------------------------------------------------


def apply_to_text(text: str, mutation: Mutation) -> str | bytes:
    """``text`` changed by a text or value mutation (bytes for a ``bytes`` mutation)."""
    kind, args = mutation.kind, mutation.args
    lines = text.splitlines(keepends=True) or [""]
    if kind == "insert":
        at, indent, snippet = args
        block = "".join(" " * indent + line + "\n" for line in large(snippet).split("\n"))
        index = at % (len(lines) + 1)
        return "".join(lines[:index]) + block + "".join(lines[index:])
    if kind == "cut":
        start = args[0] % (len(text) + 1)
        return text[:start] + text[start + args[1] :]
    if kind == "truncate":
        return text[: args[0] % (len(text) + 1)]
    if kind == "splice":
        at = args[0] % (len(text) + 1)
        return text[:at] + args[1] + text[at:]
    if kind == "bytes":
        raw: bytes = args[0]
        return text.encode("utf-8", "surrogateescape")[: len(raw)] + raw
    return _structural(text, mutation)


def _structural(text: str, mutation: Mutation) -> str:
    from civic.spec import yamlpos  # bounded, where yaml.safe_load would let the fuzzer itself eat an alias bomb

    document, problems = yamlpos.parse(text, file="fuzzed.yaml")
    if document is None or problems:
        return text
    data = document.data
    paths = list(_paths(data, ()))
    if not paths:
        return text
    path = paths[mutation.args[0] % len(paths)]
    if not path:
        return text if mutation.kind != "value" else _dump(mutation.args[1])
    parent = data
    for part in path[:-1]:
        parent = parent[part]
    last = path[-1]
    if mutation.kind == "value":
        parent[last] = mutation.args[1]
    elif mutation.kind == "delete-key":
        del parent[last]
    elif mutation.kind == "wrap":
        parent[last] = [parent[last]]
    elif mutation.kind == "rename-key" and isinstance(parent, dict):
        parent[mutation.args[1]] = parent.pop(last)
    return _dump(data)


def _paths(data: Any, path: tuple[Any, ...]) -> Any:
    yield path
    items = data.items() if isinstance(data, dict) else enumerate(data) if isinstance(data, list) else ()
    for key, value in items:
        yield from _paths(value, (*path, key))


def _dump(data: Any) -> str:
    try:
        return yaml.safe_dump(data, allow_unicode=True, sort_keys=False)
    except yaml.YAMLError:  # a value PyYAML cannot write back (a key it cannot represent)
        return yaml.safe_dump(str(data), allow_unicode=True)


def prepare_estate(estate: str, outside: str, mutations: list[Mutation]) -> None:
    """A fresh copy of the example estate at ``estate``, with ``mutations`` applied
    (``outside``: a folder beside it, for links that leave the estate)."""
    if os.path.lexists(estate):
        _remove(estate)
    shutil.copytree(EXAMPLE_ESTATE, estate, ignore=shutil.ignore_patterns(".civic"))
    os.makedirs(outside, exist_ok=True)
    with open(os.path.join(outside, "secret.yaml"), "w") as f:
        f.write("SECRET-TOKEN-FROM-OUTSIDE\n")
    for mutation in mutations:
        try:
            _apply(estate, outside, mutation)
        except OSError:  # it cannot be made in this tree (a file under what became a file): skip it
            continue


def _remove(path: str) -> None:
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path)
    else:
        os.unlink(path)


def _apply(estate: str, outside: str, mutation: Mutation) -> None:
    path = os.path.join(estate, mutation.file)
    if mutation.kind == "folder-as-file":
        if os.path.lexists(path):
            _remove(path)
        _write(path, "not a folder\n")
    elif mutation.kind == "copy-environment":
        if os.path.isdir(path):
            for i in range(mutation.args[0]):
                shutil.copytree(path, f"{path}-copy-{i}", symlinks=True, dirs_exist_ok=True)
    elif mutation.kind == "policy":
        expression, when = mutation.args
        body = {"description": "fuzz", "appliesTo": ["Environment", "Service"], "expression": large(expression)}
        body |= {"when": large(when)} if when is not None else {}
        document = {"apiVersion": "civic/v1", "kind": "Policy", "metadata": {"name": "fuzz"}, "spec": body}
        _write(path, yaml.safe_dump(document | {"spec": {**body, "message": "fuzz"}}, allow_unicode=True))
    elif mutation.kind == "file-kind":
        _file_kind(path, estate, outside, mutation.args[0])
    elif os.path.isfile(path) and not os.path.islink(path):
        with open(path, encoding="utf-8", errors="surrogateescape") as f:
            changed = apply_to_text(f.read(), mutation)
        _write(path, changed)
    elif not os.path.lexists(path):
        _write(path, apply_to_text("", mutation))


def _file_kind(path: str, estate: str, outside: str, kind: str) -> None:
    if os.path.lexists(path):
        _remove(path)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "folder":
        os.makedirs(path)
    elif kind == "link-urandom":
        os.symlink("/dev/urandom", path)
    elif kind == "link-outside":
        os.symlink(os.path.relpath(os.path.join(outside, "secret.yaml"), os.path.dirname(path)), path)
    elif kind == "link-inside":
        os.symlink(os.path.relpath(os.path.join(estate, "civic.yaml"), os.path.dirname(path)), path)
    elif kind == "link-dangling":
        os.symlink("does-not-exist.yaml", path)
    elif kind == "empty":
        _write(path, "")
    elif kind == "huge":
        _write(path, "# " * (3 * 1024 * 1024))


def _write(path: str, content: str | bytes) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    if isinstance(content, str):
        content = content.encode("utf-8", "surrogateescape")
    with open(path, "wb") as f:
        f.write(content)


# --- running a case ------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Ran:
    """What one case did: the commands' exit codes and first lines, and what went wrong."""

    mutations: tuple[Mutation, ...]
    outcome: str
    validate: int | None = None
    apply: int | None = None
    first_problem: str = ""
    peak_mb: float = 0.0
    failures: tuple[str, ...] = ()
    overrides: tuple[str, ...] = ()  # a service file's --set items

    def describe(self) -> str:
        """The mutations, and any --set items, as one line."""
        shown = "; ".join(str(m) for m in self.mutations)
        return shown + (f" with --set {list(self.overrides)}" if self.overrides else "")


def pristine(folder: str) -> str:
    """A store at ``folder``/state.db with the example estate applied (by ``civic apply`` in this
    process, which also loads and warms what every forked case then shares); its path."""
    state = os.path.join(folder, "state.db")
    prepare_estate(os.path.join(folder, "estate"), os.path.join(folder, "outside"), [])
    for args in (("validate",), ("apply", "--state", state)):
        done = bounded.cli(*args, "--estate", os.path.join(folder, "estate"))
        if done.code != 0:
            raise RuntimeError(f"civic {args[0]} of the example estate failed: {done}")
    _example()
    return state


def store_dump(state: str) -> str:
    """The store's whole content, as SQL (what an apply could have changed)."""
    with sqlite3.connect(state) as db:
        return "\n".join(db.iterdump())


def run_estate(estate: str, state: str, mutations: list[Mutation], *, seconds: float = bounded.SECONDS) -> Ran:
    """``civic validate`` on the mutated estate, then ``civic apply`` (to ``state``) if it failed."""

    def case() -> tuple[bounded.Result, bounded.Result | None]:
        validated = bounded.cli("validate", "--estate", estate)
        applied = None
        if validated.code != 0:
            applied = bounded.cli("apply", "--estate", estate, "--state", state, "--lock-timeout", "5")
        return validated, applied

    before = store_dump(state)
    outcome = bounded.run(case, seconds=seconds)
    if outcome.value is None:
        return Ran(tuple(mutations), str(outcome), failures=(str(outcome),))
    validated, applied = outcome.value
    failures = []
    if validated.code not in (0, 1) or "internal error" in validated.err:
        failures.append(f"validate exited {validated.code}: {validated.err.strip()[-300:]}")
    if applied is not None:
        if applied.code == 0 or "internal error" in applied.err:
            failures.append(f"apply after a failed validate exited {applied.code}: {applied.out.strip()[-300:]}")
        if store_dump(state) != before:
            failures.append("apply after a failed validate changed the store")
    problem = next((line.strip() for line in validated.err.splitlines()[1:2]), "")
    return Ran(
        tuple(mutations),
        "ran",
        validated.code,
        applied.code if applied else None,
        problem[:200],
        outcome.peak_mb,
        tuple(failures),
    )


def run_service(mutations: list[Mutation], overrides: list[str], *, seconds: float = bounded.SECONDS) -> Ran:
    """The deploy parser and a deploy's checks on the mutated service file."""
    with open(EXAMPLE_SERVICE, encoding="utf-8") as f:
        text: str | bytes = f.read()
    for mutation in mutations:
        text = apply_to_text(text if isinstance(text, str) else text.decode("utf-8", "replace"), mutation)
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    _example()
    outcome = bounded.run(lambda: _deploy_checks(str(text), overrides), seconds=seconds)
    if outcome.value is None:
        return Ran(tuple(mutations), str(outcome), failures=(str(outcome),), overrides=tuple(overrides))
    verdict: str = outcome.value
    failures = (verdict,) if verdict.startswith("unexpected") else ()
    return Ran(
        tuple(mutations),
        "ran",
        first_problem=verdict[:200],
        peak_mb=outcome.peak_mb,
        failures=failures,
        overrides=tuple(overrides),
    )


@functools.cache
def _example() -> Any:
    from civic.spec import estate as estate_mod

    return estate_mod.load(EXAMPLE_ESTATE)


def _deploy_checks(text: str, overrides: list[str]) -> str:
    from civic.control import deploying
    from civic.errors import CivicError

    loaded = _example()  # loaded in the parent: every child shares it
    try:
        service, doc = deploying.parse(text, file="civic.service.yaml", overrides=overrides)
        deploying.prepare(
            service,
            environment=loaded.environments["opg-lpa-dev"],
            platform=loaded.platform,
            others={},
            secret_names={"api-key"},
            doc=doc,
        )
    except CivicError as e:
        return f"refused: {type(e).__name__}: {e.message.splitlines()[-1].strip()}"
    except Exception as e:  # noqa: BLE001 - what the fuzz looks for: anything else is a bug
        return f"unexpected {type(e).__name__}: {e}"
    return "accepted"
