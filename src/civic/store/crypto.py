"""Encryption of secrets at rest, and fingerprints that reveal nothing.

The key comes from ``CIVIC_SECRET_KEY`` (a Fernet key) or from a key file, created
with mode 0600 on first use. A fingerprint is an HMAC of the value under a key derived
from the secret key: equal values give equal fingerprints, so a plan can say "(secret
changed)" without anyone holding the value.
"""

from __future__ import annotations

import hashlib
import hmac
import os

from cryptography.fernet import Fernet, InvalidToken

from civic.errors import SecretError

KEY_ENV = "CIVIC_SECRET_KEY"


class SecretBox:
    def __init__(self, key: bytes) -> None:
        try:
            self._fernet = Fernet(key)
        except ValueError as e:
            raise SecretError(
                f"the secret key is not a valid Fernet key ({KEY_ENV} or the key "
                "file): it must be 32 url-safe base64-encoded bytes. Make one "
                "with 'civic secret keygen'."
            ) from e
        self._mac_key = hashlib.sha256(b"civic-fingerprint\x00" + key).digest()

    def __repr__(self) -> str:
        return "SecretBox(key=***)"

    @classmethod
    def load(cls, key_file: str) -> SecretBox:
        """The key from the environment, else from ``key_file`` (created 0600 if absent)."""
        env = os.environ.get(KEY_ENV)
        if env:
            return cls(env.strip().encode())
        if not os.path.exists(key_file):
            os.makedirs(os.path.dirname(os.path.abspath(key_file)), mode=0o700, exist_ok=True)
            fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(Fernet.generate_key())
        mode = os.stat(key_file).st_mode & 0o077
        if mode:
            raise SecretError(
                f"the key file {key_file} can be read by others (mode "
                f"{oct(os.stat(key_file).st_mode & 0o777)}); run 'chmod 600 {key_file}'."
            )
        with open(key_file, "rb") as f:
            return cls(f.read().strip())

    def encrypt(self, value: str) -> bytes:
        return self._fernet.encrypt(value.encode())

    def decrypt(self, token: bytes) -> str:
        try:
            return self._fernet.decrypt(token).decode()
        except InvalidToken as e:
            raise SecretError(
                f"a stored secret cannot be decrypted with this key; was {KEY_ENV} or the key file changed?"
            ) from e

    def fingerprint(self, value: str) -> str:
        return hmac.new(self._mac_key, value.encode(), hashlib.sha256).hexdigest()[:32]
