"""Exceptions of the platform. Each carries the HTTP status and the snake_case error code the API
answers with; ``plati.app`` maps them to the error body of SPEC section 5 in one place."""

from __future__ import annotations

from typing import Any


class PlatiError(Exception):
    """Base of every platform error: a one-sentence message, a code and an HTTP status."""

    status_code = 500
    code = "internal_error"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        status_code: int | None = None,
        details: Any = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if status_code is not None:
            self.status_code = status_code
        self.details = details


class InvalidRequest(PlatiError):
    """The request is well-formed JSON but its content cannot be accepted."""

    status_code = 422
    code = "validation_error"


class BadRequest(PlatiError):
    status_code = 400
    code = "bad_request"


class Unauthorized(PlatiError):
    status_code = 401
    code = "unauthorized"


class Forbidden(PlatiError):
    status_code = 403
    code = "forbidden"


class NotFound(PlatiError):
    status_code = 404
    code = "not_found"


class Conflict(PlatiError):
    status_code = 409
    code = "conflict"


class ConversationBusy(Conflict):
    """A turn of the conversation is running and the channel's policy rejects another (or the
    wait for it ran out)."""

    code = "conversation_busy"


class TurnInterrupted(Conflict):
    """The turn was cancelled by a newer message of its conversation (policy ``interrupt``);
    what it stored is kept and marked."""

    code = "turn_interrupted"


class RateLimited(PlatiError):
    status_code = 429
    code = "rate_limited"


class UpstreamError(PlatiError):
    """A function server (or a model provider) could not be used: it failed (502, 504 for a
    timeout), or the operator's policy refuses to reach it (the two subclasses below). Either way
    a function call fails cleanly: the turn goes on and the model is told."""

    status_code = 502
    code = "upstream_error"


class AddressNotAllowed(UpstreamError):
    """An outgoing connection the operator's network policy refuses (see ``plati.security.network``);
    ``details`` names the ``rule`` and the ``setting`` that governs it. Raised before any connection."""

    status_code = 422
    code = "address_not_allowed"


class ProcessNotAllowed(UpstreamError):
    """A stdio MCP's process may not start: stdio is off (``stdio_disabled``) or the command is not
    on the operator's allowlist (``command_not_allowed``); see ``plati.security.processes``."""

    status_code = 403
    code = "stdio_disabled"


class TooManyRequests(RateLimited):
    """A rate or concurrency limit was reached; ``retry_after`` is in whole seconds."""

    def __init__(self, message: str, *, retry_after: int, code: str | None = None, details: Any = None) -> None:
        super().__init__(message, code=code, details=details)
        self.retry_after = retry_after


class ServiceUnavailable(PlatiError):
    """Something the platform depends on (e.g. the Redis holding the rate-limit counts) cannot be
    reached, so the request is refused rather than served without its safeguards; ``retry_after``
    is in whole seconds."""

    status_code = 503
    code = "service_unavailable"

    def __init__(self, message: str, *, retry_after: int = 5, code: str | None = None, details: Any = None) -> None:
        super().__init__(message, code=code, details=details)
        self.retry_after = retry_after
