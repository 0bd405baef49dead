"""What the people chatting may read when something behind the assistant fails (SPEC section 8).

A failed function call or a failed model provider is told to the model — and so to the end user
— as a safe sentence chosen by the kind of failure, plus an error id. A function server is named
only by the name the workspace registered it under (or, lacking one, by the function). URLs,
host names, ports, exception class names, HTTP statuses and upstream text stay in the record the
workspace reads through the API (``error_code``, ``error_detail``, ``error_id``) and in the log,
tied together by the error id.

What is *not* translated: a function's own reported failure (``{"success": false, "error": ...}``
or an MCP ``isError`` result) and argument validation problems. Those are business messages the
model is meant to read, and they never carry the platform's internals.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from typing import Any

from ..errors import PlatiError, UpstreamError

__all__ = ["SafeFailure", "TurnFailed", "function_failure", "function_sentence", "new_error_id", "turn_failure"]

# What end users read, by error code. ``{service}`` is "The shop service" (see ``_service``).
_FUNCTION_SENTENCES: dict[str, str] = {
    "upstream_unreachable": "{service} is not answering right now",
    "upstream_timeout": "{service} took too long to answer",
    "upstream_bad_reply": "{service} sent a reply that could not be used",
    "upstream_too_large": "{service} sent a reply too large to use",
    "upstream_unauthorized": "{service} refused our credentials",
    "function_not_found": "{service} does not offer the function {function}",
    "address_not_allowed": "{service} cannot be reached from here",
    "stdio_disabled": "{service} cannot be reached from here",
    "command_not_allowed": "{service} cannot be reached from here",
}
_FUNCTION_FALLBACK = "{service} is not available right now"

_TURN_SENTENCES: dict[str, str] = {
    "provider_timeout": "The assistant took too long to answer; please try again",
    "provider_rate_limited": "The assistant is busy right now; please try again in a moment",
    "provider_request_error": "The assistant could not handle this request",
}
_TURN_FALLBACK = "The assistant is not available right now; please try again later"

# A name that already says what it is ("Billing API", "order-service") gets no second noun.
_KIND_WORDS = frozenset({"api", "app", "backend", "mcp", "server", "service", "system", "tool", "tools"})
_WORD = re.compile(r"[A-Za-z0-9]+")


def new_error_id() -> str:
    """Eight hex digits that tie what the user saw to the record and the log."""
    return secrets.token_hex(4)


@dataclass(frozen=True)
class SafeFailure:
    """A failure as told to the model and end user (``text``), and as recorded for the workspace.

    Attributes:
        text: the safe sentence with the error id, e.g. "The shop service is not answering
            right now (error id 3f2a9c1b)."
        code: the error's code (``upstream_unreachable``...).
        detail: the full message (URL, status, upstream text): for the record and the log only.
        error_id: the id shared by ``text``, the record and the log line.
    """

    text: str
    code: str
    detail: str
    error_id: str

    def record(self) -> dict[str, str]:
        """The fields a call record and a stored message's ``meta`` carry."""
        return {"error_code": self.code, "error_detail": self.detail, "error_id": self.error_id}


def function_sentence(error: PlatiError, *, mcp_name: str | None, function: str) -> str:
    """The sentence (no error id, no final period) an end user may read for a failed call.

    ``error`` is what connecting to or calling the function server raised: an
    :class:`~plati.errors.UpstreamError` subclass from :mod:`plati.connectors.errors`, or a
    refusal before any connection (``address_not_allowed``, ``stdio_disabled``); an unknown
    code reads as "… is not available right now".
    """
    template = _FUNCTION_SENTENCES.get(error.code, _FUNCTION_FALLBACK)
    return template.format(service=_service(mcp_name, function), function=function)


def function_failure(error: PlatiError, *, mcp_name: str | None, function: str) -> SafeFailure:
    """The safe text and the record of a function call that failed with ``error``."""
    error_id = new_error_id()
    sentence = function_sentence(error, mcp_name=mcp_name, function=function)
    return SafeFailure(_with_id(sentence, error_id), error.code, error.message, error_id)


def turn_failure(error: PlatiError) -> SafeFailure:
    """The safe text and the record of a turn ended by a model provider failure (``provider_*``,
    or the network policy refusing the provider's address)."""
    error_id = new_error_id()
    sentence = _TURN_SENTENCES.get(error.code, _TURN_FALLBACK)
    return SafeFailure(_with_id(sentence, error_id), error.code, error.message, error_id)


class TurnFailed(UpstreamError):
    """A turn ended by a model provider failure, as answered to the caller: the safe sentence as
    the message, the provider error's status and code, and its detail in ``details``
    (``error_id``, ``detail`` and whatever the provider error carried). The provider error is
    the ``__cause__``."""

    def __init__(self, failure: SafeFailure, cause: PlatiError) -> None:
        details: dict[str, Any] = dict(cause.details) if isinstance(cause.details, dict) else {}
        if cause.details is not None and not isinstance(cause.details, dict):
            details["details"] = cause.details
        details.update(error_id=failure.error_id, detail=failure.detail)
        super().__init__(failure.text, code=cause.code, status_code=cause.status_code, details=details)
        self.error_id = failure.error_id


def _service(mcp_name: str | None, function: str) -> str:
    name = " ".join((mcp_name or "").split())
    if not name:
        return f"The service behind {function}"
    words = _WORD.findall(name.lower())
    if words and words[-1] in _KIND_WORDS:
        return f"The {name}"
    return f"The {name} service"


def _with_id(sentence: str, error_id: str) -> str:
    return f"{sentence} (error id {error_id})."
