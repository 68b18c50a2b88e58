"""Secrets: encrypted at rest, never printed, and their changes shown without values."""

from __future__ import annotations

import os
import sqlite3
import stat

from civic.store.crypto import SecretBox

VALUE = "s3cr3t-value-for-the-test"


def test_secret_is_encrypted_at_rest_and_never_printed(cli, estate_dir):
    set_ = cli("secret", "set", "laa-apply-dev", "api-key", "--estate", estate_dir, stdin=VALUE + "\n")
    assert set_.code == 0, set_.err
    db = os.path.join(estate_dir, ".civic", "state.db")
    raw = b""
    for name in os.listdir(os.path.join(estate_dir, ".civic")):
        with open(os.path.join(estate_dir, ".civic", name), "rb") as f:
            raw += f.read()
    assert VALUE.encode() not in raw
    conn = sqlite3.connect(db)
    (ciphertext,) = conn.execute("select ciphertext from civic_secrets").fetchone()
    conn.close()
    box = SecretBox.load(os.path.join(estate_dir, ".civic", "secret.key"))
    assert box.decrypt(ciphertext) == VALUE  # the trailing newline of stdin is not part of it
    key_mode = stat.S_IMODE(os.stat(os.path.join(estate_dir, ".civic", "secret.key")).st_mode)
    assert key_mode == 0o600

    listed = cli("secret", "list", "--estate", estate_dir, "-o", "json")
    assert '"name": "api-key"' in listed.out and VALUE not in listed.out
    for args in (("plan",), ("plan", "-o", "json"), ("plan", "-o", "markdown"), ("apply",)):
        result = cli(*args, "--estate", estate_dir)
        assert VALUE not in result.out + result.err


def test_undeclared_secret_is_stored_with_a_note(cli, estate_dir):
    result = cli("secret", "set", "laa-apply-dev", "not-declared", "--estate", estate_dir, stdin="x")
    assert result.code == 0
    assert "does not declare 'not-declared' yet; add it to spec.secrets" in result.err


def test_empty_value_and_unknown_environment_are_refused(cli, estate_dir):
    empty = cli("secret", "set", "laa-apply-dev", "api-key", "--estate", estate_dir, stdin="")
    assert empty.code == 1 and "no value was given on standard input; nothing was stored" in empty.err
    unknown = cli("secret", "set", "no-such-env", "api-key", "--estate", estate_dir, stdin="x")
    assert unknown.code == 2 and "environment 'no-such-env' does not exist" in unknown.err


def test_key_from_environment_and_bad_key(cli, estate_dir, monkeypatch):
    monkeypatch.setenv("CIVIC_SECRET_KEY", "not-a-key")
    result = cli("secret", "set", "laa-apply-dev", "api-key", "--estate", estate_dir, stdin="x")
    assert result.code == 1
    assert "the secret key is not a valid Fernet key" in result.err
    key = cli("secret", "keygen").out.strip()
    monkeypatch.setenv("CIVIC_SECRET_KEY", key)
    assert cli("secret", "set", "laa-apply-dev", "api-key", "--estate", estate_dir, stdin="x").code == 0
    assert not os.path.exists(os.path.join(estate_dir, ".civic", "secret.key"))


def test_readable_key_file_is_refused(cli, estate_dir):
    os.makedirs(os.path.join(estate_dir, ".civic"))
    path = os.path.join(estate_dir, ".civic", "secret.key")
    with open(path, "w") as f:
        f.write(cli("secret", "keygen").out.strip())
    os.chmod(path, 0o644)
    result = cli("secret", "set", "laa-apply-dev", "api-key", "--estate", estate_dir, stdin="x")
    assert result.code == 1 and f"run 'chmod 600 {path}'" in result.err
