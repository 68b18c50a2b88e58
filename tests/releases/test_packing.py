"""Packing a service's folder: the same files give the same bytes; ignore rules, secrets,
links and bounds decide what ships, on real folders in tmp_path."""

from __future__ import annotations

import gzip
import os
import shutil
import socket
import subprocess
import sys
import tarfile
import tempfile
import textwrap
import tracemalloc

import pytest

from civic.errors import UsageError
from civic.releases import packing

# Built from parts so that no scanner (nor Civic's own packing) takes this test for a key.
KEY_BLOCK = "-----BEGIN " + "RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA\n-----END " + "RSA PRIVATE KEY-----\n"


def write(root, files: dict[str, str | bytes]) -> None:
    for rel, content in files.items():
        path = os.path.join(root, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(content.encode() if isinstance(content, str) else content)


def members(packed: packing.Packed) -> dict[str, tarfile.TarInfo]:
    with tarfile.open(packed.path) as tar:
        return {m.name: m for m in tar.getmembers()}


def names(packed: packing.Packed) -> set[str]:
    return {name for name, m in members(packed).items() if not m.isdir()}


def pack(folder, **kwargs) -> packing.Packed:
    """Pack into the test's own folder, so nothing is left in the system's temp folder."""
    dest = os.path.join(os.path.dirname(str(folder)), "out")
    os.makedirs(dest, exist_ok=True)
    return packing.pack(str(folder), dest_dir=dest, **kwargs)


APP = {
    "app.py": "print('hello')\n",
    "requirements.txt": "flask\n",
    "static/site.css": "body {}\n",
    "static/img/logo.svg": "<svg/>\n",
    "bin/run": "#!/bin/sh\nexec python app.py\n",
}


# --- determinism ------------------------------------------------------------------


def test_the_same_files_give_the_same_bytes_whatever_their_mtimes_modes_or_creation_order(tmp_path):
    one = tmp_path / "one" / "svc"
    write(one, APP)
    os.chmod(one / "bin/run", 0o755)
    first = pack(one)
    again = pack(one)
    assert first.digest == again.digest and first.path != again.path
    with open(first.path, "rb") as a, open(again.path, "rb") as b:
        assert a.read() == b.read()

    for folder, _, files in os.walk(one):
        for name in files:
            os.utime(os.path.join(folder, name), (1, 1_000_000_000))
    os.chmod(one / "app.py", 0o600)  # only the owner's execute bit counts
    assert pack(one).digest == first.digest

    two = tmp_path / "two" / "svc"  # created in the reverse order, at other times
    write(two, dict(reversed(list(APP.items()))))
    os.chmod(two / "bin/run", 0o700)
    assert pack(two).digest == first.digest


def test_a_changed_byte_a_new_name_or_an_execute_bit_give_another_digest(tmp_path):
    root = tmp_path / "svc"
    write(root, APP)
    before = pack(root).digest
    write(root, {"app.py": "print('hellp')\n"})
    changed = pack(root).digest
    assert changed != before
    os.rename(root / "static/site.css", root / "static/main.css")
    renamed = pack(root).digest
    assert renamed != changed
    os.chmod(root / "app.py", 0o744)
    assert pack(root).digest != renamed


def test_entries_are_sorted_with_fixed_owners_times_and_modes(tmp_path):
    root = tmp_path / "svc"
    write(root, {**APP, "a-b/x": "1", "a/y": "2"})
    os.chmod(root / "bin/run", 0o750)
    packed = pack(root)
    with open(packed.path, "rb") as f:
        header = f.read(10)
        f.seek(0)
        assert hashlib_digest(f) == packed.digest
    assert header[3] == 0, "no file name (nor any other optional field) in the gzip header"
    assert header[4:8] == b"\0\0\0\0", "gzip mtime 0"
    assert packed.size == os.path.getsize(packed.path)
    with tarfile.open(packed.path) as tar:
        got = tar.getmembers()
    assert [m.name for m in got] == [
        "a", "a/y", "a-b", "a-b/x", "app.py", "bin", "bin/run", "requirements.txt",
        "static", "static/img", "static/img/logo.svg", "static/site.css",
    ]  # fmt: skip
    for m in got:
        assert (m.mtime, m.uid, m.gid, m.uname, m.gname) == (0, 0, 0, "", "")
        assert m.mode == (0o755 if m.isdir() or m.name == "bin/run" else 0o644), m.name
    assert packed.files == 7


def hashlib_digest(f) -> str:
    import hashlib

    return "sha256:" + hashlib.file_digest(f, "sha256").hexdigest()


def test_the_archive_goes_to_dest_dir_or_the_temp_folder_and_unpacks_to_the_same_files(tmp_path):
    root = tmp_path / "svc"
    write(root, APP)
    packed = packing.pack(str(root))
    try:
        assert os.path.dirname(packed.path) == tempfile.gettempdir()
        out = tmp_path / "unpacked"
        with tarfile.open(packed.path) as tar:
            tar.extractall(out, filter="data")
    finally:
        os.unlink(packed.path)
    for rel, content in APP.items():
        assert (out / rel).read_text() == content


# --- ignore rules -----------------------------------------------------------------


def test_gitignore_files_root_and_nested_with_negation(tmp_path):
    root = tmp_path / "svc"
    write(
        root,
        {
            ".gitignore": "*.log\nbuild/\n/local.txt\n",
            "app.py": "",
            "debug.log": "",
            "local.txt": "",
            "build/out.js": "",
            "src/build": "a file, not a folder: build/ does not match it",
            "src/.gitignore": "!keep.log\n/local.txt\ngenerated/\n",
            "src/keep.log": "",
            "src/other.log": "",
            "src/local.txt": "",
            "src/generated/x.py": "",
            "src/deep/local.txt": "",
            "src/deep/keep.log": "",
        },
    )
    packed = pack(root)
    assert names(packed) == {
        ".gitignore",
        "app.py",
        "src/build",
        "src/.gitignore",
        "src/keep.log",  # the nested file's ! overrides the root's *.log
        "src/deep/keep.log",  # ... below its folder too
        "src/deep/local.txt",  # /local.txt is anchored to its own file's folder
    }
    # debug.log, local.txt, build/, src/other.log, src/local.txt, src/generated/
    assert packed.ignored == 6


def test_civicignore_leaves_out_more_and_brings_back_with_negation(tmp_path):
    root = tmp_path / "svc"
    write(
        root,
        {
            ".gitignore": "dist/\n*.log\n",
            ".civicignore": "!dist/\ndocs/\ntests/**/*.json\n!important.log\n",
            "app.py": "",
            "dist/bundle.js": "",
            "docs/index.md": "",
            "tests/fixtures/big.json": "",
            "tests/test_app.py": "",
            "important.log": "",
            "other.log": "",
        },
    )
    assert names(pack(root)) == {
        ".gitignore",
        ".civicignore",
        "app.py",
        "dist/bundle.js",
        "tests/test_app.py",
        "important.log",
    }


def test_a_left_out_folder_is_not_entered_so_nothing_under_it_comes_back(tmp_path):
    root = tmp_path / "svc"
    write(root, {".gitignore": "cache/\n!cache/keep.txt\n", "cache/keep.txt": "", "cache/x": "", "app.py": ""})
    packed = pack(root)
    assert names(packed) == {".gitignore", "app.py"}
    assert packed.ignored == 1  # the folder, counted once


def test_version_control_state_caches_and_rebuilt_folders_are_always_left_out(tmp_path):
    root = tmp_path / "svc"
    venv = tmp_path / "elsewhere-venv"
    venv.mkdir()
    write(
        root,
        {
            "app.py": "",
            ".git/config": "",
            ".civic/state.db": "",
            "__pycache__/app.cpython-311.pyc": "",
            "pkg/__pycache__/m.cpython-311.pyc": "",
            "pkg/stale.pyc": "",
            "pkg/m.py": "",
            "node_modules/left-pad/index.js": "",
            "web/node_modules/x/index.js": "",
            # nothing brings them back
            ".civicignore": "!node_modules/\n!.git/\n!*.pyc\n",
        },
    )
    os.symlink(venv, root / ".venv")  # a link out of the folder, but left out, so not refused
    packed = pack(root)
    assert names(packed) == {"app.py", "pkg/m.py", ".civicignore"}
    assert packed.ignored == 8


# --- secrets ----------------------------------------------------------------------

SECRETS = {
    ".env": "DATABASE_URL=postgres://u:p@h/db\n",
    "config/.env.production": "X=1\n",
    "certs/server.pem": "cert\n",
    "certs/server.KEY": "key\n",
    "certs/client.p12": b"\x30\x82",
    "certs/client.pfx": b"\x30\x82",
    "deploy/id_rsa": "key\n",
    "deploy/id_ed25519": "key\n",
    ".pypirc": "[pypi]\npassword = x\n",
    ".netrc": "machine h login u password p\n",
    ".npmrc": "//registry.npmjs.org/:_authToken=npm_abc\n",
    "notes/setup.txt": "the key is:\n" + KEY_BLOCK,
}
NOT_SECRETS = {
    ".env.example": "DATABASE_URL=\n",
    ".env.sample": "",
    ".env.template": "",
    ".env.dist": "",
    "web/.npmrc": "save-exact=true\n",
    "app.py": "print('no key here')\n",
}


def test_obvious_secrets_are_refused_every_one_named_and_nothing_is_written(tmp_path):
    root = tmp_path / "svc"
    write(root, {**SECRETS, **NOT_SECRETS})
    dest = tmp_path / "out"
    dest.mkdir()
    with pytest.raises(UsageError) as e:
        packing.pack(str(root), dest_dir=str(dest))
    message = e.value.message
    for rel in SECRETS:
        assert f"{rel} (" in message, rel
    for rel in NOT_SECRETS:
        assert f" {rel} (" not in message and f": {rel} (" not in message, rel
    assert "12 files" in message
    assert ".civicignore" in message and "--include-secrets" in message
    assert os.listdir(dest) == []


def test_secrets_are_packed_with_include_secrets(tmp_path):
    root = tmp_path / "svc"
    write(root, {**SECRETS, **NOT_SECRETS})
    assert names(pack(root, include_secrets=True)) == set(SECRETS) | set(NOT_SECRETS)


def test_an_ignored_secret_is_not_refused_and_not_packed(tmp_path):
    root = tmp_path / "svc"
    write(
        root,
        {
            ".gitignore": ".env\n",
            ".civicignore": "*.pem\nnotes/\n",
            ".env": "X=1\n",
            "tls.pem": "cert\n",
            "notes/key.txt": KEY_BLOCK,
            "app.py": "",
        },
    )
    assert names(pack(root)) == {".gitignore", ".civicignore", "app.py"}


def test_a_large_file_is_not_searched_for_a_key(tmp_path):
    root = tmp_path / "svc"
    write(root, {"data.txt": "x" * packing.SECRET_SCAN_BYTES + KEY_BLOCK, "app.py": ""})
    assert names(pack(root)) == {"data.txt", "app.py"}


def test_a_link_named_like_a_secret_is_refused_too(tmp_path):
    root = tmp_path / "svc"
    write(root, {"config/prod.env": "X=1\n"})
    os.symlink("config/prod.env", root / ".env")
    with pytest.raises(UsageError, match=r"\.env \(an environment file\)"):
        pack(root)


# --- links and special files --------------------------------------------------------


def test_links_inside_the_folder_are_kept_as_links_and_not_followed(tmp_path):
    root = tmp_path / "svc"
    write(root, {"static/site.css": "body {}\n", "app.py": ""})
    os.symlink("static/site.css", root / "style.css")
    os.symlink("static", root / "assets")  # a folder: kept as a link, not walked twice
    os.symlink("../app.py", root / "static/app.py")
    os.symlink("missing.txt", root / "dangling")  # inside, if nowhere yet
    got = members(pack(root))
    assert got["style.css"].issym() and got["style.css"].linkname == "static/site.css"
    assert got["assets"].issym() and got["assets"].linkname == "static"
    assert got["static/app.py"].issym() and got["static/app.py"].linkname == "../app.py"
    assert got["dangling"].issym()
    assert "assets/site.css" not in got


def test_links_that_leave_the_folder_are_refused_every_one_named(tmp_path):
    root = tmp_path / "svc"
    write(root, {"app.py": "", "sub/x": ""})
    (tmp_path / "secret.txt").write_text("outside")
    os.symlink("/etc/passwd", root / "passwd")
    os.symlink(str(root / "app.py"), root / "absolute-but-inside")
    os.symlink("../secret.txt", root / "up")
    os.symlink("../../secret.txt", root / "sub/up2")
    os.symlink("..", root / "sub/parent")  # the folder itself: inside
    os.symlink("sub/parent/..", root / "through")  # text stays inside; through the link it leaves
    dest = tmp_path / "out"
    dest.mkdir()
    with pytest.raises(UsageError) as e:
        packing.pack(str(root), dest_dir=str(dest))
    message = e.value.message
    for link in ("passwd -> /etc/passwd", "absolute-but-inside ->", "up -> ../secret.txt", "sub/up2 ->", "through ->"):
        assert link in message
    assert "sub/parent ->" not in message
    assert "5 links" in message and ".civicignore" in message
    assert os.listdir(dest) == []


def test_special_files_are_skipped_and_counted(tmp_path):
    root = tmp_path / "svc"
    write(root, {"app.py": ""})
    os.mkfifo(root / "pipe")
    server = socket.socket(socket.AF_UNIX)
    try:
        server.bind(str(root / "sock"))
        packed = pack(root)
    finally:
        server.close()
    assert names(packed) == {"app.py"}
    assert packed.skipped == 2


# --- bounds and failures --------------------------------------------------------------


def test_more_files_than_the_limit_is_refused_saying_which_limit(tmp_path, monkeypatch):
    root = tmp_path / "svc"
    write(root, {f"f{i}.txt": "" for i in range(5)})
    monkeypatch.setattr(packing, "MAX_FILES", 5)
    assert pack(root).files == 5
    monkeypatch.setattr(packing, "MAX_FILES", 4)
    with pytest.raises(UsageError, match=r"more than 4 files and folders .*\.civicignore"):
        pack(root)


def test_more_bytes_than_the_limit_is_refused_saying_which_limit(tmp_path, monkeypatch):
    root = tmp_path / "svc"
    write(root, {"a.bin": b"x" * 600, "b.bin": b"y" * 400})
    monkeypatch.setattr(packing, "MAX_BYTES", 1000)
    assert pack(root).files == 2
    monkeypatch.setattr(packing, "MAX_BYTES", 999)
    with pytest.raises(UsageError, match=r"more than 999 bytes of files .*before compression.*\.civicignore"):
        pack(root)


def test_a_large_file_is_streamed_not_read_whole(tmp_path):
    root = tmp_path / "svc"
    root.mkdir()
    chunk = os.urandom(1 << 20)
    with open(root / "data.bin", "wb") as f:
        for _ in range(24):
            f.write(chunk)
    tracemalloc.start()
    try:
        packed = pack(root)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 << 20, f"packing 24 MiB held {peak >> 20} MiB in memory at once"
    with tarfile.open(packed.path) as tar:
        assert tar.getmember("data.bin").size == 24 << 20


def test_a_folder_that_does_not_exist_or_is_a_file_is_named(tmp_path):
    with pytest.raises(UsageError, match="'.*nowhere' does not exist"):
        packing.pack(str(tmp_path / "nowhere"))
    (tmp_path / "file").write_text("")
    with pytest.raises(UsageError, match="'.*file' is not a folder"):
        packing.pack(str(tmp_path / "file"))


def test_a_name_that_is_not_utf8_is_refused(tmp_path):
    root = tmp_path / "svc"
    root.mkdir()
    with open(os.path.join(os.fsencode(root), b"caf\xe9.txt"), "w") as f:
        f.write("")
    with pytest.raises(UsageError, match=r"the name 'caf\\udce9\.txt' is not UTF-8"):
        pack(root)
    os.unlink(os.path.join(os.fsencode(root), b"caf\xe9.txt"))
    os.mkdir(os.path.join(os.fsencode(root), b"d\xe9"))
    with pytest.raises(UsageError, match=r"the name 'd\\udce9' is not UTF-8"):
        pack(root)


def test_an_unreadable_file_or_folder_is_named(tmp_path):
    """Root reads every file, so as root the packing runs in a child that has become nobody."""
    base = tempfile.mkdtemp(prefix="civic-test-")  # /tmp: a folder nobody may enter
    try:
        os.chmod(base, 0o755)
        root = os.path.join(base, "svc")
        write(root, {"app.py": "", "secret/data.txt": "x", "private.txt": "x"})
        os.chmod(os.path.join(root, "private.txt"), 0o000)
        assert "cannot read 'private.txt': Permission denied" in _pack_as_another_user(root)
        os.chmod(os.path.join(root, "private.txt"), 0o644)
        os.chmod(os.path.join(root, "secret"), 0o000)
        assert "cannot read the folder 'secret/': Permission denied" in _pack_as_another_user(root)
    finally:
        os.chmod(os.path.join(base, "svc", "secret"), 0o755)
        shutil.rmtree(base)


def _pack_as_another_user(root: str) -> str:
    """The UsageError's message of packing ``root`` as this user, or as nobody when root."""
    script = textwrap.dedent(
        f"""
        import os, sys
        from civic.errors import UsageError
        from civic.releases import packing
        if os.geteuid() == 0:  # after the imports: nobody cannot read root's Python
            os.setgroups([]); os.setgid(65534); os.setuid(65534)
        try:
            packed = packing.pack({root!r})
        except UsageError as e:
            print(e.message)
        else:
            os.unlink(packed.path)
            sys.exit("packed")
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_a_long_name_gets_a_pax_header_and_the_tar_is_whole_records(tmp_path):
    """The archive is gzip over a PAX tar, which any tar reads, padded to whole records."""
    root = tmp_path / "svc"
    write(root, {"a" * 150 + ".txt": "long name"})  # over ustar's 100 characters: a PAX header
    packed = pack(root)
    with gzip.open(packed.path) as f:
        raw = f.read()
    assert len(raw) % tarfile.RECORDSIZE == 0
    with tarfile.open(packed.path) as tar:
        assert tar.getnames() == ["a" * 150 + ".txt"]
    assert pack(root).digest == packed.digest
