"""API keys: random, recognisable, stored only as a hash, displayed by a short prefix."""

from __future__ import annotations

import hashlib

from plati.security.keys import generate_api_key, hash_api_key, key_prefix, looks_like_api_key


def test_keys_are_prefixed_url_safe_and_unique() -> None:
    keys = {generate_api_key() for _ in range(100)}
    assert len(keys) == 100
    for key in keys:
        assert key.startswith("plati_")
        assert len(key) == len("plati_") + 43
        assert looks_like_api_key(key)


def test_the_hash_is_sha256_hex_and_deterministic() -> None:
    key = generate_api_key()
    assert hash_api_key(key) == hashlib.sha256(key.encode()).hexdigest()
    assert hash_api_key(key) == hash_api_key(key)
    assert hash_api_key(key) != hash_api_key(generate_api_key())
    assert len(hash_api_key(key)) == 64


def test_the_display_prefix_is_the_first_twelve_characters() -> None:
    key = generate_api_key()
    assert key_prefix(key) == key[:12]
    assert key_prefix(key).startswith("plati_")


def test_other_strings_do_not_look_like_keys() -> None:
    key = generate_api_key()
    for value in ["", "plati_", key[:-1], key + "x", "sk-" + key[6:], key.replace("plati_", "PLATI_"), key + "\n"]:
        assert not looks_like_api_key(value), value
