"""SecretBox encrypts header and environment secrets at rest; masking shows them safely."""

from __future__ import annotations

import pytest

from plati.errors import PlatiError
from plati.security.secrets import SecretBox, SecretsError, mask_headers, mask_secret

HEADERS = [{"key": "Authorization", "value": "Bearer 1234567890"}, {"key": "X-Tenant", "value": "ünïcode"}]


def test_values_round_trip_and_the_token_hides_the_plaintext() -> None:
    box = SecretBox("a secret key")
    token = box.encrypt_json(HEADERS)
    assert isinstance(token, str)
    assert "1234567890" not in token
    assert box.decrypt_json(token) == HEADERS
    assert SecretBox("a secret key").decrypt_json(token) == HEADERS
    assert box.encrypt_json(HEADERS) != token  # a fresh IV every time


@pytest.mark.parametrize("value", [None, 1, "text", {"A": "b"}, [], {"nested": [1, {"x": None}]}])
def test_any_json_value_round_trips(value: object) -> None:
    box = SecretBox("k")
    assert box.decrypt_json(box.encrypt_json(value)) == value


def test_another_secret_key_cannot_decrypt() -> None:
    token = SecretBox("one key").encrypt_json(HEADERS)
    with pytest.raises(SecretsError) as info:
        SecretBox("another key").decrypt_json(token)
    assert isinstance(info.value, PlatiError)
    assert info.value.code == "secrets_error"
    assert "1234567890" not in str(info.value)
    assert "PLATI_SECRET_KEY" in info.value.message


@pytest.mark.parametrize("damage", ["flip", "truncate", "garbage", "non-ascii"])
def test_a_tampered_token_is_refused(damage: str) -> None:
    box = SecretBox("k")
    token = box.encrypt_json(HEADERS)
    if damage == "flip":
        middle = len(token) // 2
        token = token[:middle] + ("A" if token[middle] != "A" else "B") + token[middle + 1 :]
    elif damage == "truncate":
        token = token[:-5]
    elif damage == "garbage":
        token = "not a token"
    else:
        token = token + "é"
    with pytest.raises(SecretsError):
        box.decrypt_json(token)


def test_an_empty_secret_key_is_refused() -> None:
    with pytest.raises(SecretsError):
        SecretBox("")


@pytest.mark.parametrize(
    ("secret", "masked"),
    [
        ("Bearer 1234567890", "Bearer ****7890"),
        ("bearer 1234567890", "bearer ****7890"),
        ("Basic dXNlcjpwYXNz", "Basic ****YXNz"),
        ("Token abcdefgh", "Token ****efgh"),
        ("Bearer 1234567", "Bearer ****"),
        ("Bearer ", "Bearer ****"),
        ("sk-live-abcdefghijkl", "****ijkl"),
        ("12345678", "****5678"),
        ("1234567", "****"),
        ("", "****"),
        ("two words secret", "****cret"),
    ],
)
def test_masking_keeps_the_scheme_and_at_most_four_characters(secret: str, masked: str) -> None:
    assert mask_secret(secret) == masked


def test_every_header_value_is_masked() -> None:
    assert mask_headers(HEADERS) == [
        {"key": "Authorization", "value": "Bearer ****7890"},
        {"key": "X-Tenant", "value": "****"},
    ]
