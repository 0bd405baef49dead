"""Input every route refuses before it reaches a handler or the database: text that no database
stores (a NUL character, an unpaired surrogate), numbers JSON cannot carry back (NaN, infinities),
JSON nested deeper than any real payload, and a NUL in a path or query parameter.

PostgreSQL refuses ``\\u0000`` in text and JSON, and UTF-8 has no encoding for a lone surrogate:
left alone, each would surface as a database error (a 500) deep inside a handler. Request bodies
are checked by :class:`plati.api.wire.Body` (every model of the API derives from it), path and
query parameters by :class:`RefuseNulParameters`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qsl

from pydantic_core import InitErrorDetails, PydanticCustomError
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

MAX_JSON_DEPTH = 32
"""Objects and arrays inside a request body nest at most this deep (function arguments,
metadata); anything deeper is refused with 422."""

Loc = tuple[str | int, ...]


def _bad_text(text: str) -> str | None:
    if "\x00" in text:
        return "must not contain NUL characters (\\u0000)"
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            return "must be valid Unicode text (it contains an unpaired surrogate)"
    return None


def shown(text: str) -> str:
    """``text`` safe to echo in an error: NULs and surrogates escaped."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8").replace("\x00", "\\u0000")


def _problem(kind: str, message: str, loc: Loc) -> InitErrorDetails:
    return InitErrorDetails(type=PydanticCustomError(kind, message), loc=loc, input=None)


def json_problems(value: Any, loc: Loc = (), depth: int = 0) -> list[InitErrorDetails]:
    """Every string (object keys included), number and nesting level of a decoded JSON value
    that cannot be accepted, as pydantic error details located at the value."""
    if isinstance(value, str):
        message = _bad_text(value)
        return [_problem("invalid_text", message, loc)] if message else []
    if isinstance(value, float):
        return [] if math.isfinite(value) else [_problem("finite_number", "must be a finite number", loc)]
    if not isinstance(value, dict | list):
        return []
    if depth >= MAX_JSON_DEPTH:
        return [_problem("too_deep", f"nests more than {MAX_JSON_DEPTH} levels of objects and arrays", loc)]
    problems: list[InitErrorDetails] = []
    if isinstance(value, dict):
        for key, item in value.items():
            name = str(key)
            key_message = _bad_text(name)
            if key_message:
                problems.append(_problem("invalid_text", f"key {key_message}", (*loc, shown(name))))
                continue
            problems.extend(json_problems(item, (*loc, name), depth + 1))
    else:
        for index, item in enumerate(value):
            problems.extend(json_problems(item, (*loc, index), depth + 1))
    return problems


def _template_pattern(template: str) -> re.Pattern[str]:
    parts = re.split(r"\{([^}]+)\}", template)
    pattern = "".join(re.escape(part) if index % 2 == 0 else f"(?P<{part}>[^/]+)" for index, part in enumerate(parts))
    return re.compile(f"^{pattern}$")


def _nul_parameters(scope: Scope, templates: list[re.Pattern[str]]) -> list[dict[str, str]]:
    """The path and query parameters of a request that hold a NUL, as ``[{field, message}]``."""
    message = "must not contain NUL characters (%00)"
    found: list[dict[str, str]] = []
    path: str = scope.get("path", "")
    if "\x00" in path:
        names: list[str] = []
        for pattern in templates:
            if (match := pattern.match(path)) is not None:
                names = [name for name, value in match.groupdict().items() if "\x00" in value]
                break
        found.extend({"field": f"path.{name}", "message": message} for name in names or ["(path)"])
    query: bytes = scope.get("query_string", b"")
    if b"%00" in query or b"\x00" in query:
        pairs = parse_qsl(query.decode("latin-1"), keep_blank_values=True, encoding="utf-8", errors="replace")
        bad = sorted({shown(name) for name, value in pairs if "\x00" in name or "\x00" in value})
        found.extend({"field": f"query.{name}", "message": message} for name in bad)
    return found


class RefuseNulParameters:
    """Answer 422 ``validation_error``, naming each parameter, to a request whose path or query
    string holds a NUL character (``%00``). The check is two substring tests per request; the
    parameter of a refused request is named from ``paths``, the app's path templates (those of its
    OpenAPI document), read at the first refusal."""

    def __init__(self, app: ASGIApp, paths: Callable[[], Iterable[str]]) -> None:
        self.app = app
        self.paths = paths
        self._templates: list[re.Pattern[str]] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            query: bytes = scope.get("query_string", b"")
            if "\x00" in scope.get("path", "") or b"%00" in query or b"\x00" in query:
                if self._templates is None:
                    self._templates = [_template_pattern(template) for template in self.paths()]
                details = _nul_parameters(scope, self._templates)
                if details:
                    summary = "; ".join(f"{item['field']}: {item['message']}" for item in details)
                    body = {
                        "message": f"Invalid request: {summary}",
                        "error": {"code": "validation_error", "details": details},
                    }
                    await JSONResponse(body, status_code=422)(scope, receive, send)
                    return
        await self.app(scope, receive, send)
