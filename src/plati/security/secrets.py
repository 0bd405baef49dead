"""Secrets at rest (registered MCP headers and environment) and their masked display."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Mapping
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from ..errors import PlatiError

# Changing either constant makes every stored secret unreadable: bump the version and keep the old
# derivation around to re-encrypt, never edit in place.
_HKDF_SALT = b"plati.secretbox.salt.v1"
_HKDF_INFO = b"plati.secretbox.fernet-key.v1"

_MASK = "****"
_AUTH_SCHEMES = frozenset({"bearer", "basic", "token", "digest", "apikey", "api-key", "key"})


class SecretsError(PlatiError):
    """A stored secret cannot be decrypted (wrong PLATI_SECRET_KEY or a damaged value)."""

    status_code = 500
    code = "secrets_error"


def _derive_fernet_key(secret_key: str) -> bytes:
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=_HKDF_SALT, info=_HKDF_INFO)
    return base64.urlsafe_b64encode(hkdf.derive(secret_key.encode("utf-8")))


class SecretBox:
    """Authenticated encryption (Fernet) of JSON values under a key derived from the secret key."""

    def __init__(self, secret_key: str) -> None:
        if not secret_key:
            raise SecretsError("The secret key is empty; set PLATI_SECRET_KEY or let Plati generate one.")
        self._fernet = Fernet(_derive_fernet_key(secret_key))

    def encrypt_json(self, value: Any) -> str:
        """Serialise ``value`` as JSON and encrypt it; the token is ASCII text."""
        data = json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
        return self._fernet.encrypt(data).decode("ascii")

    def decrypt_json(self, token: str) -> Any:
        """Decrypt a token made by :meth:`encrypt_json`.

        Raises:
            SecretsError: the token was made with another secret key, or was altered.
        """
        try:
            data = self._fernet.decrypt(token.encode("ascii"))
        except (InvalidToken, UnicodeEncodeError):
            raise SecretsError(
                "A stored secret cannot be decrypted: PLATI_SECRET_KEY differs from the one it was "
                "encrypted with, or the stored value is damaged."
            ) from None
        return json.loads(data)


def mask_secret(value: str) -> str:
    """Mask a secret for display: ``"Bearer 1234567890"`` -> ``"Bearer ****7890"``.

    A leading authentication scheme word (Bearer, Basic, Token, ...) is kept; the last four
    characters are kept only when the secret part has at least eight characters.
    """
    scheme = ""
    secret = value
    head, sep, tail = value.partition(" ")
    if sep and head.lower() in _AUTH_SCHEMES:
        scheme, secret = f"{head} ", tail.strip()
    if len(secret) >= 8:
        return f"{scheme}{_MASK}{secret[-4:]}"
    return f"{scheme}{_MASK}"


def mask_headers(headers: Iterable[Mapping[str, Any]]) -> list[dict[str, str]]:
    """``[{"key", "value"}]`` with every value masked by :func:`mask_secret`."""
    return [{"key": str(h["key"]), "value": mask_secret(str(h.get("value", "")))} for h in headers]
