"""Failures of a function server, by what went wrong. All are :class:`plati.errors.UpstreamError`.

A function that *reports* a failure is not one of these: it is ``CallResult(success=False)``.
Messages name the server's URL or command and the HTTP status, never a header value.
"""

from __future__ import annotations

from typing import Any

from ..errors import UpstreamError

__all__ = [
    "FunctionNotFound",
    "UpstreamBadReply",
    "UpstreamError",
    "UpstreamTimeout",
    "UpstreamTooLarge",
    "UpstreamUnauthorized",
    "UpstreamUnreachable",
]


class UpstreamUnreachable(UpstreamError):
    """Nothing answers at the server's address (connection refused, DNS, process failed to start)."""

    status_code = 502
    code = "upstream_unreachable"


class UpstreamTimeout(UpstreamError):
    """The server did not answer within the configured ``timeout_seconds``."""

    status_code = 504
    code = "upstream_timeout"


class UpstreamBadReply(UpstreamError):
    """The server answered, but not as its protocol says: non-JSON, wrong shape, 5xx, protocol error."""

    status_code = 502
    code = "upstream_bad_reply"


class UpstreamTooLarge(UpstreamError):
    """The reply was larger than ``max_response_bytes``; reading stopped at the cap."""

    status_code = 502
    code = "upstream_too_large"


class UpstreamUnauthorized(UpstreamError):
    """The server refused the registered credentials (HTTP 401/403)."""

    status_code = 502
    code = "upstream_unauthorized"


class FunctionNotFound(UpstreamError):
    """The server does not know the function; the caller should refresh its tool cache."""

    status_code = 404
    code = "function_not_found"

    def __init__(self, message: str, *, function: str, details: Any = None) -> None:
        super().__init__(message, details=details)
        self.function = function
