"""The ASGI application of a function server: routing, auth, rate limits and body limits in front
of both protocols.

Routes (relative to wherever the app is mounted):

==========================  =========================================================
``GET /tools``              the simple protocol's function list
``POST /call``              the simple protocol's call
``GET /tasks/{task_id}``    a background task's status
``POST /mcp``               MCP over Streamable HTTP (both protocol eras)
``GET /health``             liveness, no auth
==========================  =========================================================

``/mcp/tools``, ``/mcp/call`` and ``/mcp/tasks/{id}`` answer too, because the guide registers
servers with a URL ending in ``/mcp`` and the platform appends ``/tools`` and ``/call`` to it.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from starlette.types import Receive, Scope, Send

from .auth import bearer_token
from .context import CallerInfo
from .http import BodyTooLarge, ClientGone, header_dict, read_body, route_path, send_json
from .ratelimit import RateLimitUnavailable

if TYPE_CHECKING:
    from .server import MCP

logger = logging.getLogger("plati_mcp")

_UNAUTHORIZED_HEADERS = [(b"www-authenticate", b'Bearer realm="plati-mcp"')]


class FunctionServerApp:
    """A plain ASGI app; mount it in FastAPI/Starlette or serve it with any ASGI server."""

    def __init__(self, server: MCP) -> None:
        self._server = server

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        server = self._server
        path = route_path(scope)
        method: str = scope["method"]
        if path == "/health":
            await send_json(send, 200, {"status": "ok", "name": server.name})
            return
        if path.startswith("/mcp/") and path[4:].startswith(("/tools", "/call", "/tasks/")):
            path = path[4:]
        if path not in ("/tools", "/call", "/mcp") and not path.startswith("/tasks/"):
            await send_json(send, 404, {"error": "Not found"})
            return

        headers = header_dict(scope)
        token = bearer_token(headers.get("authorization"))
        if not await server.authenticator.check(token):
            await send_json(send, 401, {"error": "Unauthorized"}, _UNAUTHORIZED_HEADERS)
            return
        if server.rate_limiter is not None:
            client = scope.get("client")
            key = f"token:{token}" if token else f"ip:{client[0] if client else 'unknown'}"
            try:
                decision = await server.rate_limiter.hit(key)
            except RateLimitUnavailable:
                # Fail closed: without its counters the server cannot honour the limit it promises.
                logger.exception("Rate-limit storage unavailable")
                await send_json(send, 503, {"error": "Service temporarily unavailable"}, [(b"retry-after", b"5")])
                return
            if not decision.allowed:
                await send_json(
                    send,
                    429,
                    {"error": f"Rate limit exceeded ({server.rate_limiter.describe()}); retry later"},
                    [(b"retry-after", str(decision.retry_after).encode())],
                )
                return

        caller = CallerInfo.from_headers(headers, credential=token)
        if path == "/tools":
            if method != "GET":
                await _method_not_allowed(send, "GET")
                return
            await server.rest.list_tools(send)
        elif path == "/call":
            if method != "POST":
                await _method_not_allowed(send, "POST")
                return
            body = await self._body(scope, receive, send, headers)
            if body is not None:
                await server.rest.call(body, caller, send)
        elif path == "/mcp":
            body = b""
            if method == "POST":
                read = await self._body(scope, receive, send, headers)
                if read is None:
                    return
                body = read
            await server.mcp_http.handle(method, body, headers, caller, receive, send)
        else:
            if method != "GET":
                await _method_not_allowed(send, "GET")
                return
            await server.rest.get_task(path[len("/tasks/") :], send)

    async def _body(self, scope: Scope, receive: Receive, send: Send, headers: dict[str, str]) -> bytes | None:
        limit = self._server.max_body_bytes
        try:
            return await read_body(scope, receive, limit, headers)
        except BodyTooLarge:
            await send_json(send, 413, {"success": False, "error": f"Request body too large (limit {limit} bytes)"})
        except ClientGone:
            pass
        return None

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self._server.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return


async def _method_not_allowed(send: Send, allow: str) -> None:
    await send_json(send, 405, {"error": "Method not allowed"}, [(b"allow", allow.encode())])
