"""Model provider failures, by who must act. All are :class:`plati.errors.UpstreamError`s and carry
``provider`` (``"OPENAI"``...) and ``provider_status`` (the provider's HTTP status, if any).
Messages never contain API keys nor the provider's text for authentication failures."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

from plati.errors import UpstreamError

__all__ = [
    "ProviderBadReply",
    "ProviderError",
    "ProviderRateLimited",
    "ProviderRequestError",
    "ProviderTimeout",
    "ProviderUnauthorized",
    "ProviderUnavailable",
    "error_for_status",
    "parse_retry_after",
    "provider_message",
]


class ProviderError(UpstreamError):
    """Base of model provider failures (502 unless a subclass says otherwise)."""

    code = "provider_error"

    def __init__(
        self,
        message: str,
        *,
        provider: str,
        provider_status: int | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        info: dict[str, Any] = {"provider": provider}
        if provider_status is not None:
            info["provider_status"] = provider_status
        info.update(details or {})
        super().__init__(message, details=info)
        self.provider = provider
        self.provider_status = provider_status


class ProviderUnauthorized(ProviderError):
    """The provider refused the credentials (401/403): the operator must fix the API key."""

    status_code = 502
    code = "provider_unauthorized"


class ProviderRateLimited(ProviderError):
    """The provider is rate limiting (429); ``retry_after`` (seconds) when it said so."""

    status_code = 429
    code = "provider_rate_limited"

    def __init__(
        self,
        message: str,
        *,
        provider: str,
        provider_status: int | None = 429,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(
            message,
            provider=provider,
            provider_status=provider_status,
            details={"retry_after": retry_after} if retry_after is not None else None,
        )
        self.retry_after = retry_after


class ProviderTimeout(ProviderError):
    """The provider did not answer within the configured timeout."""

    status_code = 504
    code = "provider_timeout"


class ProviderUnavailable(ProviderError):
    """The provider could not be reached, or failed (5xx)."""

    status_code = 502
    code = "provider_unavailable"


class ProviderBadReply(ProviderError):
    """The model answered something unusable, e.g. tool-call arguments that are not a JSON object.
    ``function`` names the function concerned, when there is one."""

    status_code = 502
    code = "provider_bad_reply"

    def __init__(
        self,
        message: str,
        *,
        provider: str,
        function: str | None = None,
        provider_status: int | None = None,
    ) -> None:
        super().__init__(
            message,
            provider=provider,
            provider_status=provider_status,
            details={"function": function} if function is not None else None,
        )
        self.function = function


class ProviderRequestError(ProviderError):
    """The provider rejected the request itself (a 4xx other than 401/403/408/429): an unknown
    model, a tool schema it does not accept, a conversation too long... The operator must change
    the assistant's settings, so this is a 400, not a 5xx."""

    status_code = 400
    code = "provider_request_error"


# --- helpers shared by the adapters --------------------------------------------------------

_KEY_LIKE = re.compile(r"\b(?:sk|pk|rk)-[A-Za-z0-9_\-*.]{6,}")
_MAX_DETAIL = 300


def provider_message(body: object, *, secrets: tuple[str, ...] = ()) -> str | None:
    """The provider's own error message from an error body (OpenAI ``{"error": {"message"}}``,
    Anthropic ``{"type": "error", "error": {"message"}}``, or the inner object), with anything
    resembling an API key (and the given ``secrets``) redacted, cut to a sentence-sized length."""
    message: object = None
    if isinstance(body, Mapping):
        inner = body.get("error", body)
        message = inner.get("message") if isinstance(inner, Mapping) else inner
    elif isinstance(body, str):
        message = body
    if not isinstance(message, str) or not message.strip():
        return None
    text = message.strip()
    for secret in secrets:
        if secret:
            text = text.replace(secret, "[redacted]")
    text = _KEY_LIKE.sub("[redacted]", text)
    return text if len(text) <= _MAX_DETAIL else text[: _MAX_DETAIL - 1] + "…"


def parse_retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds to wait from ``retry-after-ms`` or ``retry-after`` (seconds or an HTTP date)."""
    lowered = {k.lower(): v for k, v in headers.items()}
    if (ms := lowered.get("retry-after-ms")) is not None:
        try:
            return max(float(ms) / 1000, 0.0)
        except ValueError:
            pass
    value = lowered.get("retry-after")
    if value is None:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max((when - datetime.now(UTC)).total_seconds(), 0.0)


def error_for_status(
    *,
    provider: str,
    label: str,
    status: int,
    detail: str | None,
    retry_after: float | None = None,
) -> ProviderError:
    """The error for an HTTP error status answered by a provider (``label`` names it for people,
    e.g. "The OpenAI provider")."""
    said = f": {detail}" if detail else ""
    if status in (401, 403):
        # The provider's text for these may echo part of the key: say nothing of it.
        return ProviderUnauthorized(
            f"{label} refused the API key (HTTP {status}); check the assistant's provider credentials.",
            provider=provider,
            provider_status=status,
        )
    if status == 429:
        wait = f"; retry after {retry_after:g} s" if retry_after is not None else ""
        return ProviderRateLimited(
            f"{label} is rate limiting requests (HTTP 429){wait}.",
            provider=provider,
            retry_after=retry_after,
        )
    if status == 408:
        return ProviderTimeout(f"{label} timed out (HTTP 408){said}.", provider=provider, provider_status=status)
    if status >= 500:
        return ProviderUnavailable(f"{label} failed (HTTP {status}){said}.", provider=provider, provider_status=status)
    return ProviderRequestError(
        f"{label} rejected the request (HTTP {status}){said}; check the assistant's model and settings.",
        provider=provider,
        provider_status=status,
    )
