"""Provider errors: who must act, as status and code; retry-after parsing; no keys in messages."""

from __future__ import annotations

import pytest

from plati.engine.providers.errors import (
    ProviderBadReply,
    ProviderError,
    ProviderRateLimited,
    ProviderRequestError,
    ProviderTimeout,
    ProviderUnauthorized,
    ProviderUnavailable,
    error_for_status,
    parse_retry_after,
    provider_message,
)
from plati.errors import UpstreamError


@pytest.mark.parametrize(
    ("error_type", "status", "code"),
    [
        (ProviderUnauthorized, 502, "provider_unauthorized"),
        (ProviderRateLimited, 429, "provider_rate_limited"),
        (ProviderTimeout, 504, "provider_timeout"),
        (ProviderUnavailable, 502, "provider_unavailable"),
        (ProviderBadReply, 502, "provider_bad_reply"),
        (ProviderRequestError, 400, "provider_request_error"),
    ],
)
def test_each_error_has_its_status_and_code(error_type: type[ProviderError], status: int, code: str) -> None:
    error = error_type("x", provider="OPENAI")
    assert isinstance(error, UpstreamError)
    assert (error.status_code, error.code, error.details["provider"]) == (status, code, "OPENAI")


@pytest.mark.parametrize(
    ("status", "error_type"),
    [
        (401, ProviderUnauthorized),
        (403, ProviderUnauthorized),
        (404, ProviderRequestError),
        (408, ProviderTimeout),
        (429, ProviderRateLimited),
        (500, ProviderUnavailable),
        (529, ProviderUnavailable),
    ],
)
def test_error_for_status(status: int, error_type: type[ProviderError]) -> None:
    assert type(error_for_status(provider="P", label="P", status=status, detail=None)) is error_type


def test_retry_after_in_seconds_milliseconds_or_an_http_date() -> None:
    assert parse_retry_after({"Retry-After": "3"}) == 3.0
    assert parse_retry_after({"retry-after-ms": "1500", "retry-after": "9"}) == 1.5
    assert parse_retry_after({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}) == 0.0
    assert parse_retry_after({"retry-after": "soon"}) is None
    assert parse_retry_after({}) is None


def test_provider_messages_lose_anything_like_a_key() -> None:
    body = {"error": {"message": "Bad key sk-proj-abcdef123456 for secret-value", "type": "x"}}
    text = provider_message(body, secrets=("secret-value",))
    assert text is not None
    assert "sk-proj" not in text and "secret-value" not in text
    assert provider_message({"type": "error", "error": {"message": "Overloaded"}}) == "Overloaded"
    assert provider_message(None) is None
