"""The estate: every file of an estate repository, loaded and checked together.

:func:`read` gathers the files' texts (the only I/O here); :func:`parse` turns texts
into an :class:`Estate` or raises :class:`~civic.errors.SpecError` with every problem
in every file, sorted. The CLI and the API call ``load(root)``, which is both.

    civic.yaml                            Platform
    teams/<team>.yaml                     Team
    environments/<env>/environment.yaml   Environment
    policies/*.yaml                       organisation policies (read by civic.policy)

Only regular files inside the estate are read. A path that leads out of it through a
symbolic link, a FIFO or a device, and a file larger than ``yamlpos.MAX_CHARS`` are
refused unread: :func:`read` gives their text as :data:`REFUSED` and the reason, which
:func:`parse` reports as a problem at the path (never with the content of what the link
points at).
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import stat
from collections.abc import Mapping, MutableMapping

from civic.errors import Problem, SpecError
from civic.spec import checks, loading, models, yamlpos

PLATFORM_FILE = "civic.yaml"
TEAMS_DIR = "teams"
ENVIRONMENTS_DIR = "environments"
ENVIRONMENT_FILE = "environment.yaml"
POLICIES_DIR = "policies"
FOLDERS = (TEAMS_DIR, POLICIES_DIR, f"{POLICIES_DIR}/tests", ENVIRONMENTS_DIR)
"""The estate's folders: a file at one of these paths is an error, not an empty folder."""
MISSING = "\x00missing"  # the text of an environment folder's absent environment.yaml
REFUSED = "\x00refused\x00"
"""The start of the text of a path :func:`read` refused to read; the rest says why."""


@dataclasses.dataclass(frozen=True)
class Estate:
    """A loaded, valid estate. ``files`` maps ("Environment", name) to its relative path."""

    root: str
    platform: models.Platform
    teams: Mapping[str, models.Team]
    environments: Mapping[str, models.Environment]
    files: Mapping[tuple[str, str], str]
    documents: Mapping[str, yamlpos.Document]
    extra_texts: Mapping[str, str] = dataclasses.field(default_factory=dict)
    digests: Mapping[str, str] = dataclasses.field(default_factory=dict)  # path -> sha256 of its text

    def objects(self) -> dict[tuple[str, str], models.Kind]:
        """Every object that plan and apply track, keyed by (kind, name)."""
        out: dict[tuple[str, str], models.Kind] = {("Platform", "platform"): self.platform}
        out.update({("Team", n): t for n, t in self.teams.items()})
        out.update({("Environment", n): e for n, e in self.environments.items()})
        return out

    def document(self, kind: str, name: str) -> yamlpos.Document:
        return self.documents[self.files[(kind, name)]]


def read(root: str) -> dict[str, str]:
    """Texts of the estate's files, keyed by path relative to ``root`` (with '/'); a path
    refused unread has :data:`REFUSED` and the reason as its text."""
    if not os.path.isdir(root):
        raise SpecError(
            [
                Problem(
                    root,
                    0,
                    0,
                    "",
                    "no such directory; give the path of an estate "
                    "repository (one with a civic.yaml), or create one with 'civic init'.",
                )
            ]
        )
    root = os.path.normpath(root)
    reals = {root: os.path.realpath(root)}
    return {rel: _read_file(os.path.join(root, rel), reals) for rel in paths(root)}


def _read_file(path: str, reals: dict[str, str]) -> str:
    """One file's text, if it is a regular file inside the estate (``reals``: real paths of
    the folders seen so far, the estate's root first)."""
    inside = next(iter(reals.values())).rstrip(os.sep) + os.sep
    try:
        found = os.lstat(path)
    except FileNotFoundError:
        return MISSING
    except OSError as e:
        return REFUSED + f"cannot be read: {e.strerror}."
    if stat.S_ISLNK(found.st_mode):
        real = os.path.realpath(path)
    else:
        folder, name = os.path.split(path)
        real = os.path.join(_real(folder, reals), name)
    if not real.startswith(inside):
        return REFUSED + (
            "leads outside the estate through a symbolic link; Civic reads only files inside it: "
            "copy the file in, or remove the link."
        )
    try:
        if stat.S_ISLNK(found.st_mode):
            found = os.stat(real)
        if not stat.S_ISREG(found.st_mode):
            return REFUSED + f"is {_kind_of(found.st_mode)}, not a regular file; Civic reads only regular files."
        if found.st_size > yamlpos.MAX_CHARS:
            return REFUSED + _too_large(found.st_size)
        # O_NONBLOCK: should a FIFO have taken the file's place since, opening it does not wait
        fd = os.open(real, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC)
        try:
            opened = os.fstat(fd)
            raw = b""
            if (opened.st_dev, opened.st_ino) == (found.st_dev, found.st_ino):
                while len(raw) <= found.st_size and (more := os.read(fd, found.st_size + 1 - len(raw))):
                    raw += more
        finally:
            os.close(fd)
    except OSError as e:
        return REFUSED + f"cannot be read: {e.strerror}."
    if (opened.st_dev, opened.st_ino) != (found.st_dev, found.st_ino) or len(raw) != found.st_size:
        return REFUSED + "changed while Civic read it; run the command again."
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return "\x00"  # parse() reports it as unreadable


def _real(folder: str, reals: dict[str, str]) -> str:
    """``os.path.realpath(folder)``, each folder under the root looked up once (1,500
    environment folders would otherwise each cost a look at every folder above them)."""
    if folder not in reals:
        parent, name = os.path.split(folder)
        if parent == folder or os.path.islink(folder) or not name:
            reals[folder] = os.path.realpath(folder)
        else:
            reals[folder] = os.path.join(_real(parent, reals), name)
    return reals[folder]


def _kind_of(mode: int) -> str:
    kinds = {stat.S_IFIFO: "a FIFO", stat.S_IFCHR: "a device", stat.S_IFBLK: "a device", stat.S_IFSOCK: "a socket"}
    return kinds.get(stat.S_IFMT(mode), "a folder" if stat.S_ISDIR(mode) else "not a file")


def _too_large(size: int) -> str:
    return f"the file is {size:,} bytes, more than the {yamlpos.MAX_CHARS:,} Civic reads; split it."


def texts_from(files: Mapping[str, bytes | None]) -> dict[str, str]:
    """What :func:`read` gives, from the estate's files of a git commit (chosen with
    :func:`select`; None for a file the commit lacks), as text. Pure."""
    texts = {}
    for rel, raw in files.items():
        try:
            texts[rel] = MISSING if raw is None else raw.decode("utf-8")
        except UnicodeDecodeError:
            texts[rel] = "\x00"  # parse() reports it as unreadable
    return texts


def select(files: list[str]) -> list[str]:
    """The estate's files among ``files`` (every file of a git commit, relative to the
    estate's root), as :func:`paths` finds them on disk: an environment folder without
    an environment.yaml still names one, so that :func:`parse` says it is missing."""
    out = [PLATFORM_FILE] if PLATFORM_FILE in files else []
    folders: dict[str, list[str]] = {TEAMS_DIR: [], "policies": [], "policies/tests": []}
    envs: set[str] = set()
    for rel in files:
        head, _, name = rel.rpartition("/")
        if head in folders:
            folders[head].append(rel)
        parts = rel.split("/")
        if len(parts) >= 3 and parts[0] == ENVIRONMENTS_DIR:
            envs.add(parts[1])
    for folder in folders.values():
        out += sorted(folder)
    out += [folder for folder in FOLDERS if folder in files]  # a file where a folder belongs
    return out + [f"{ENVIRONMENTS_DIR}/{name}/{ENVIRONMENT_FILE}" for name in sorted(envs)]


def paths(root: str) -> list[str]:
    """The estate's files, relative to ``root`` (an environment folder's environment.yaml
    even when it is missing, so that :func:`parse` can say so). Everything in a folder
    that is not a folder is listed, FIFOs and links too, so that :func:`read` can refuse
    them by name; a file where a folder belongs is listed by its own path."""
    out = []
    if os.path.lexists(os.path.join(root, PLATFORM_FILE)):
        out.append(PLATFORM_FILE)
    for folder in FOLDERS[:-1]:
        full = os.path.join(root, folder)
        if os.path.isdir(full):
            out += [f"{folder}/{n}" for n in sorted(os.listdir(full)) if not os.path.isdir(os.path.join(full, n))]
        elif os.path.lexists(full):
            out.append(folder)
    envs = os.path.join(root, ENVIRONMENTS_DIR)
    if os.path.isdir(envs):
        for name in sorted(os.listdir(envs)):
            if os.path.isdir(os.path.join(envs, name)):
                out.append(f"{ENVIRONMENTS_DIR}/{name}/{ENVIRONMENT_FILE}")
    elif os.path.lexists(envs):
        out.append(ENVIRONMENTS_DIR)
    return out


ParseCache = MutableMapping[tuple[str, str], tuple[yamlpos.Document, models.Kind]]
Known = MutableMapping[tuple[str, str], tuple[yamlpos.Document, str]]
"""(path, sha256 of its text) → the file's parsed document and its model's fingerprint."""


def load(root: str, *, cache: ParseCache | None = None, known: Known | None = None) -> Estate:
    """Read and parse the estate at ``root``; raise SpecError listing every problem.

    A long-running caller (the API) passes the same ``cache`` each time, so that only
    the files whose text changed are parsed again. A new process (the CLI) passes
    ``known``, kept on disk between commands (:mod:`civic.control.memo`): YAML is then
    parsed only for the files whose text changed, though every model is validated.
    """
    return parse(read(root), root=root, cache=cache, known=known)


def parse(
    texts: Mapping[str, str], *, root: str = ".", cache: ParseCache | None = None, known: Known | None = None
) -> Estate:
    """Texts of files (relative paths) in, a checked Estate out. Pure but for ``cache``,
    which maps (path, text) to the document and model of files that loaded cleanly, and
    ``known`` (see :data:`Known`), which gains the files parsed here that loaded cleanly."""
    problems: list[Problem] = []
    documents: dict[str, yamlpos.Document] = {}
    loaded: dict[str, models.Kind] = {}
    extra: dict[str, str] = {}
    digests = {rel: hashlib.sha256(text.encode()).hexdigest() for rel, text in texts.items()}
    if PLATFORM_FILE not in texts:
        problems.append(
            Problem(
                PLATFORM_FILE,
                0,
                0,
                "",
                "missing: an estate needs a civic.yaml with the platform's settings; 'civic init' writes one.",
            )
        )
    for rel, text in sorted(texts.items()):
        if text.startswith(REFUSED):
            problems.append(Problem(rel, 0, 0, "", text[len(REFUSED) :]))
            continue
        if rel in FOLDERS:
            problems.append(Problem(rel, 0, 0, "", f"is a file; it must be a folder{_HOLDS[rel]}. Move the file away."))
            continue
        expect = _kind_for(rel)
        if expect is None:
            if rel.startswith("policies/"):
                extra[rel] = text
            elif rel.startswith(TEAMS_DIR + "/"):
                problems.append(
                    Problem(rel, 0, 0, "", "only '<team>.yaml' files belong in teams/; rename it or move it out.")
                )
            continue
        if text == MISSING:
            problems.append(
                Problem(
                    rel,
                    0,
                    0,
                    "",
                    "missing: every folder under environments/ "
                    "needs an environment.yaml; add one or remove the folder.",
                )
            )
            continue
        if "\x00" in text:
            problems.append(Problem(rel, 0, 0, "", "is not UTF-8 text."))
            continue
        hit = cache.get((rel, text)) if cache is not None else None
        if hit is not None:
            documents[rel], loaded[rel] = hit
            continue
        seen = known.get((rel, digests[rel])) if known is not None else None
        doc: yamlpos.Document | None
        found: list[Problem]
        if seen is not None:
            doc, found = seen[0], []
        else:
            doc, found = yamlpos.parse(text, file=rel)
            problems += found
        if doc is None:
            continue
        documents[rel] = doc
        parsed_cleanly = not found
        model, found = loading.load(doc, expect=expect)
        problems += found
        if model is not None and not found:
            loaded[rel] = model
            if cache is not None and parsed_cleanly:  # a file with problems is parsed (and reported) again
                cache[(rel, text)] = (doc, model)
            if seen is not None:
                model.known_fingerprint(seen[1])
            elif known is not None and parsed_cleanly:
                known[(rel, digests[rel])] = (doc, model.fingerprint())
    if cache is not None:  # forget files that changed or went away
        for key in [k for k in cache if texts.get(k[0]) != k[1]]:
            del cache[key]
    problems += checks.file_names(loaded, documents)
    estate = _assemble(root, loaded, documents, extra)
    if estate is not None:
        estate = dataclasses.replace(estate, digests=digests)
        problems += checks.check(estate, present=frozenset(texts))
    if problems or estate is None:
        raise SpecError(problems)
    return estate


_HOLDS = {
    TEAMS_DIR: " holding one <team>.yaml per team",
    POLICIES_DIR: " holding the estate's own policies",
    f"{POLICIES_DIR}/tests": " holding the policies' test suites",
    ENVIRONMENTS_DIR: " holding one folder per environment",
}


def _kind_for(rel: str) -> str | None:
    parts = rel.split("/")
    if rel == PLATFORM_FILE:
        return "Platform"
    if len(parts) == 2 and parts[0] == TEAMS_DIR and parts[1].endswith(".yaml"):
        return "Team"
    if len(parts) == 3 and parts[0] == ENVIRONMENTS_DIR and parts[2] == ENVIRONMENT_FILE:
        return "Environment"
    return None


def _assemble(
    root: str, loaded: dict[str, models.Kind], documents: dict[str, yamlpos.Document], extra: dict[str, str]
) -> Estate | None:
    """The estate of the files that loaded; None if civic.yaml did not."""
    platform = loaded.get(PLATFORM_FILE)
    teams: dict[str, models.Team] = {}
    environments: dict[str, models.Environment] = {}
    files: dict[tuple[str, str], str] = {("Platform", "platform"): PLATFORM_FILE}
    for rel, model in sorted(loaded.items()):  # of files with one name, the one it belongs in (checks.file_names)
        if isinstance(model, models.Team | models.Environment):
            key = (model.kind, model.metadata.name)
            if key in files and rel != checks.path_of(*key):
                continue
            files[key] = rel
            if isinstance(model, models.Team):
                teams[model.metadata.name] = model
            else:
                environments[model.metadata.name] = model
    if not isinstance(platform, models.Platform):
        return None
    return Estate(root, platform, teams, environments, files, documents, extra)
