"""Pack a service's folder into a deterministic, content-addressed ``.tar.gz`` to upload.

The client calls :func:`pack` for ``civic deploy`` of a folder and uploads the archive
with its digest; the control plane keeps releases by that digest, so packing the same
files twice must give the same bytes. Hence every entry is written in one fixed form:
sorted by path, mtime 0, uid and gid 0 with no user or group names, modes 0755 for
folders and for files their owner may execute, 0644 for other files, PAX format, and a
gzip header with no name and mtime 0. (The bytes are the same for the same zlib; the
digest names the upload, it does not promise that two machines compress alike.)

What is packed: regular files, folders and symlinks whose target stays inside the folder,
minus what :mod:`civic.releases.ignoring` leaves out. Refused with a
:class:`~civic.errors.UsageError` before anything is written:

- obvious secrets (:func:`secret_reason`), unless ``include_secrets``: an ignored file is
  never looked at, so .civicignore is the way to keep one behind;
- symlinks that point outside the folder (absolute, or escaping with ``..``, or through
  another link); links are never followed while walking;
- more than :data:`MAX_FILES` entries or :data:`MAX_BYTES` bytes before compression.

Special files (FIFOs, sockets, devices) hold nothing to ship: they are skipped and counted
in :attr:`Packed.skipped`, not refused, so a socket a local tool left behind does not block
a deploy. Files are streamed into the archive and the digest is taken as it is written, so
memory stays bounded whatever the folder holds.
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import os
import re
import stat
import tarfile
import tempfile
from typing import BinaryIO, Literal

from civic.errors import CivicError, UsageError
from civic.releases import files, ignoring

MAX_FILES = 20_000
"""The most entries (files, links and folders) a folder may pack to."""
MAX_BYTES = 256 * 1024 * 1024
"""The most bytes of file content, before compression."""
COMPRESSLEVEL = 6
SECRET_SCAN_BYTES = 64 * 1024
"""Files smaller than this are searched for a private key block."""

_ENV_EXAMPLES = frozenset({".env.example", ".env.sample", ".env.template", ".env.dist"})
_KEY_SUFFIXES = (".pem", ".key", ".p12", ".pfx")
_SSH_KEYS = frozenset({"id_rsa", "id_dsa", "id_ecdsa", "id_ed25519"})
_CREDENTIALS = frozenset({".pypirc", ".netrc"})
_NPM_TOKEN = re.compile(rb"^\s*(?:\S*:)?_(?:authToken|auth|password)\s*=", re.MULTILINE)
_PRIVATE_KEY = re.compile(rb"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----")

_ADVICE = " Make it readable, or leave it out with .civicignore."


@dataclasses.dataclass(frozen=True)
class Packed:
    """An archive :func:`pack` wrote; the caller removes :attr:`path` when done with it."""

    path: str
    """The .tar.gz file, in ``dest_dir`` or the system's temporary folder."""
    digest: str
    """``sha256:<64 hex>`` of the archive's bytes."""
    size: int
    """Bytes of the archive."""
    files: int
    """Regular files packed."""
    ignored: int
    """Paths left out by the ignore rules (a left-out folder counts once, not its contents)."""
    skipped: int = 0
    """Special files (FIFOs, sockets, devices) left out: they hold no content to ship."""


@dataclasses.dataclass(frozen=True)
class _Entry:
    name: str
    """Relative to the folder, ``/``-separated."""
    kind: Literal["dir", "file", "link"]
    mode: int
    size: int = 0
    target: str = ""


@dataclasses.dataclass
class _Walk:
    entries: list[_Entry] = dataclasses.field(default_factory=list)
    ignored: int = 0
    skipped: int = 0
    bytes: int = 0
    secrets: list[str] = dataclasses.field(default_factory=list)
    outside: list[str] = dataclasses.field(default_factory=list)


def pack(folder: str, *, include_secrets: bool = False, dest_dir: str | None = None) -> Packed:
    """Pack ``folder`` into a new .tar.gz in ``dest_dir`` (default: a temporary folder).

    Raises UsageError, naming the path, for a folder that is not one, an unreadable file,
    secrets (unless ``include_secrets``), links that leave the folder, or a folder over
    the bounds; nothing is written then. CivicError if the archive cannot be written.
    """
    root = files.real_folder(folder)
    walk = _walk(root, include_secrets=include_secrets)
    _refuse(folder, walk)
    try:
        fd, path = tempfile.mkstemp(prefix="civic-release-", suffix=".tar.gz", dir=dest_dir)
    except OSError as e:
        raise CivicError(f"cannot write the archive in '{dest_dir or tempfile.gettempdir()}': {e.strerror}.") from e
    try:
        with os.fdopen(fd, "wb") as raw:
            sink = _Sink(raw, path)
            _write(root, walk.entries, sink)
    except BaseException:
        os.unlink(path)
        raise
    return Packed(
        path=path,
        digest="sha256:" + sink.sha256.hexdigest(),
        size=sink.size,
        files=sum(1 for e in walk.entries if e.kind == "file"),
        ignored=walk.ignored,
        skipped=walk.skipped,
    )


def secret_reason(name: str) -> str | None:
    """Why a file called ``name`` (its base name) is taken for a secret, or None."""
    lower = name.lower()
    if name == ".env" or (name.startswith(".env.") and name not in _ENV_EXAMPLES):
        return "an environment file"
    if lower.endswith(_KEY_SUFFIXES):
        return "a key or certificate file"
    if name in _SSH_KEYS:
        return "an SSH private key"
    if name in _CREDENTIALS:
        return "a credentials file"
    return None


def _walk(root: str, *, include_secrets: bool) -> _Walk:
    """Every entry to pack, in path order, checked against the rules and bounds."""
    walk = _Walk()
    stack: list[tuple[str, ignoring.Rules | None]] = [("", None)]
    while stack:
        prefix, parent = stack.pop()
        listing = _listing(root, prefix)  # first, so an unreadable folder is named as one
        if parent is None:
            rules = ignoring.Rules.at_root(root)
        else:
            rules = parent.within(prefix, os.path.join(root, prefix))
        for entry in listing:
            rel = prefix + entry.name
            st = _lstat(entry, rel)
            if stat.S_ISDIR(st.st_mode):
                if rules.ignored(rel, is_dir=True):
                    walk.ignored += 1
                    continue
                _add(walk, _Entry(rel, "dir", 0o755))
                stack.append((rel + "/", rules))
            elif stat.S_ISREG(st.st_mode) or stat.S_ISLNK(st.st_mode):
                if rules.ignored(rel, is_dir=False):
                    walk.ignored += 1
                    continue
                _add(walk, _file_or_link(root, rel, entry.path, st, walk, include_secrets=include_secrets))
            else:
                walk.skipped += 1
    walk.entries.sort(key=lambda e: e.name.split("/"))
    return walk


def _listing(root: str, prefix: str) -> list[os.DirEntry[str]]:
    try:
        with os.scandir(os.path.join(root, prefix)) as it:
            return sorted(it, key=lambda e: e.name)
    except OSError as e:
        raise UsageError(f"cannot read the folder '{prefix or '.'}': {e.strerror or e}.{_ADVICE}") from e


def _lstat(entry: os.DirEntry[str], rel: str) -> os.stat_result:
    try:
        return entry.stat(follow_symlinks=False)
    except OSError as e:
        raise UsageError(f"cannot read '{rel}': {e.strerror or e}.{_ADVICE}") from e


def _file_or_link(root: str, rel: str, path: str, st: os.stat_result, walk: _Walk, *, include_secrets: bool) -> _Entry:
    if not include_secrets:
        reason = _secret(rel, path, st)
        if reason:
            walk.secrets.append(f"{rel} ({reason})")
    if stat.S_ISLNK(st.st_mode):
        try:
            target = os.readlink(path)
        except OSError as e:
            raise UsageError(f"cannot read the link '{rel}': {e.strerror or e}.") from e
        _utf8(target, f"the target of '{rel}'")
        if not _inside(root, rel, path, target):
            walk.outside.append(f"{rel} -> {target}")
        return _Entry(rel, "link", 0o777, target=target)
    walk.bytes += st.st_size
    if walk.bytes > MAX_BYTES:
        raise _too_big(rel)
    mode = 0o755 if st.st_mode & stat.S_IXUSR else 0o644
    return _Entry(rel, "file", mode, size=st.st_size)


def _too_big(rel: str) -> UsageError:
    return UsageError(
        f"the folder holds more than {_amount(MAX_BYTES)} of files to pack (the limit, before "
        f"compression; '{rel}' went over it). Leave out what need not ship, such as data or build "
        "output, with .civicignore."
    )


def _amount(n: int) -> str:
    mib = 1024 * 1024
    return f"{n // mib:,} MiB" if n % mib == 0 else f"{n:,} bytes"


def _utf8(text: str, what: str) -> None:
    """Names in the archive are UTF-8; a name made of other bytes (os.fsdecode's surrogates) is refused."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise UsageError(f"{what} is not UTF-8; rename it, or leave it out with .civicignore.") from None


def _add(walk: _Walk, entry: _Entry) -> None:
    _utf8(entry.name, f"the name {entry.name!r}")
    walk.entries.append(entry)
    if len(walk.entries) > MAX_FILES:
        raise UsageError(
            f"the folder holds more than {MAX_FILES:,} files and folders to pack (the limit). Leave out "
            "what need not ship, such as data, caches or build output, with .civicignore."
        )


def _secret(rel: str, path: str, st: os.stat_result) -> str | None:
    """Why the file or link at ``rel`` looks like a secret, or None; reads small files."""
    name = rel.rsplit("/", 1)[-1]
    reason = secret_reason(name)
    if reason or not stat.S_ISREG(st.st_mode):
        return reason
    if name == ".npmrc":
        if _NPM_TOKEN.search(files.read_head(path, shown=rel, follow=False)):
            return "an npm configuration holding a token"
        return None
    small = st.st_size < SECRET_SCAN_BYTES
    if small and _PRIVATE_KEY.search(files.read_head(path, shown=rel, most=SECRET_SCAN_BYTES, follow=False)):
        return "holds a private key"
    return None


def _inside(root: str, rel: str, path: str, target: str) -> bool:
    """Whether the link at ``rel`` resolves inside ``root``: by its text (not absolute, no
    ``..`` past the root) and by the filesystem (no escape through another link)."""
    if os.path.isabs(target):
        return False
    lexical = os.path.normpath(os.path.join(os.path.dirname(rel), target))
    if lexical == ".." or lexical.startswith("../"):
        return False
    resolved = os.path.realpath(path)
    return resolved == root or resolved.startswith(root + os.sep)


def _refuse(folder: str, walk: _Walk) -> None:
    parts = []
    if walk.outside:
        parts.append(
            f"{len(walk.outside)} link{'s' if len(walk.outside) != 1 else ''} in '{folder}' point outside it, "
            "where the release cannot follow: " + ", ".join(walk.outside) + ". Copy what they point at into "
            "the folder, make them relative links inside it, or leave them out with .civicignore."
        )
    if walk.secrets:
        parts.append(
            f"{len(walk.secrets)} file{'s' if len(walk.secrets) != 1 else ''} in '{folder}' look like "
            "secrets, refusing to pack them: " + ", ".join(walk.secrets) + ". Add each to .civicignore to "
            "keep it behind (give the service its secrets with 'civic secret set'), or pass "
            "--include-secrets if it is really meant to ship."
        )
    if parts:
        raise UsageError("\n".join(parts))


class _Sink:
    """A write-only file that counts and hashes what passes through it to ``raw`` (the
    archive at ``path``); a failure to write is a CivicError, told apart from a failure to read."""

    def __init__(self, raw: BinaryIO, path: str) -> None:
        self.raw, self.path = raw, path
        self.sha256 = hashlib.sha256()
        self.size = 0
        self.content = 0
        """Bytes of file content written so far, for :data:`MAX_BYTES`."""

    def write(self, data: bytes) -> int:
        self.sha256.update(data)
        self.size += len(data)
        try:
            return self.raw.write(data)
        except OSError as e:
            raise CivicError(f"cannot write the archive '{self.path}': {e.strerror or e}.") from e

    def flush(self) -> None:
        try:
            self.raw.flush()
        except OSError as e:
            raise CivicError(f"cannot write the archive '{self.path}': {e.strerror or e}.") from e


def _write(root: str, entries: list[_Entry], sink: _Sink) -> None:
    gz = gzip.GzipFile(filename="", mode="wb", fileobj=sink, compresslevel=COMPRESSLEVEL, mtime=0)
    with gz, tarfile.open(fileobj=gz, mode="w|", format=tarfile.PAX_FORMAT, encoding="utf-8") as tar:
        for entry in entries:
            info = tarfile.TarInfo(entry.name)
            info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "", ""
            info.mode = entry.mode
            if entry.kind == "dir":
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            elif entry.kind == "link":
                info.type, info.linkname = tarfile.SYMTYPE, entry.target
                tar.addfile(info)
            else:
                _add_file(tar, info, os.path.join(root, entry.name), sink)


def _add_file(tar: tarfile.TarFile, info: tarfile.TarInfo, path: str, sink: _Sink) -> None:
    """Stream the file at ``path`` into ``tar``; its size is taken from the open file, so a
    file that grew since the walk still gives a well-formed entry, and is held to the bound."""
    fd = files.open_regular(path, shown=info.name, follow=False, advice=_ADVICE)
    with os.fdopen(fd, "rb") as f:
        info.size = os.fstat(f.fileno()).st_size
        info.type = tarfile.REGTYPE
        sink.content += info.size
        if sink.content > MAX_BYTES:
            raise _too_big(info.name)
        try:
            tar.addfile(info, f)
        except OSError as e:  # read from the file (writes raise CivicError): it shrank, or the disk failed
            raise UsageError(f"cannot read '{info.name}': {e.strerror or e}; did it change while packing?") from e
