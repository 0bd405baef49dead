"""API keys and secrets at rest."""

from .keys import generate_api_key, hash_api_key, key_prefix, looks_like_api_key
from .secrets import SecretBox, SecretsError, mask_headers, mask_secret

__all__ = [
    "SecretBox",
    "SecretsError",
    "generate_api_key",
    "hash_api_key",
    "key_prefix",
    "looks_like_api_key",
    "mask_headers",
    "mask_secret",
]
