"""Workspace API keys: shown once, stored as a hash, recognised by a short display prefix."""

from __future__ import annotations

import hashlib
import re
import secrets

KEY_PREFIX = "plati_"
PREFIX_LENGTH = 12
# token_urlsafe(32) encodes 32 bytes as 43 URL-safe base64 characters without padding.
_KEY_RE = re.compile(r"plati_[A-Za-z0-9_-]{43}")


def generate_api_key() -> str:
    """A new API key: ``"plati_"`` followed by 43 URL-safe characters (256 random bits)."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_api_key(key: str) -> str:
    """The SHA-256 hex digest stored for ``key``.

    A fast hash is right here, unlike for passwords: keys carry 256 random bits, so there is
    nothing to brute-force, and a deterministic hash lets the key be found by an indexed lookup.
    """
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def key_prefix(key: str) -> str:
    """The first 12 characters of ``key``, safe to display (``plati_`` + 6 characters)."""
    return key[:PREFIX_LENGTH]


def looks_like_api_key(value: str) -> bool:
    """Whether ``value`` has the shape of a key made by :func:`generate_api_key`."""
    return _KEY_RE.fullmatch(value) is not None
