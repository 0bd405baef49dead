"""MCP's Streamable HTTP transport at ``/mcp`` (both protocol eras).

Stateless by design: no ``Mcp-Session-Id`` is issued, so any process behind a load balancer can
answer any request. Replies are ``application/json``, except a ``tools/call`` that asked for
progress (a ``progressToken``) from a function that can report it: that reply commits to
``text/event-stream`` when the first notification is ready, carrying the notifications and then
the result; a call that ends before notifying still gets plain JSON.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import anyio
from anyio.streams.memory import MemoryObjectSendStream
from mcp_types.jsonrpc import INVALID_REQUEST, PARSE_ERROR
from pydantic_core import from_json, to_json
from starlette.types import Receive, Send

from .context import CallerInfo
from .http import send_bytes, send_json
from .protocol_mcp import McpProtocol, Reply, jsonrpc_error

SSE_PING_SECONDS = 15.0
_SSE_HEADERS = [
    (b"content-type", b"text/event-stream"),
    (b"cache-control", b"no-cache, no-transform"),
    (b"x-accel-buffering", b"no"),
]


def _sse_event(message: dict[str, Any]) -> bytes:
    return b"event: message\r\ndata: " + to_json(message) + b"\r\n\r\n"


def _accepts(headers: Mapping[str, str]) -> tuple[bool, bool]:
    accept = headers.get("accept", "")
    if not accept or "*/*" in accept:
        return True, True
    return "application/json" in accept or "application/*" in accept, "text/event-stream" in accept


class McpHttpTransport:
    """Serves one ``/mcp`` HTTP request with an :class:`McpProtocol`."""

    def __init__(self, protocol: McpProtocol) -> None:
        self._protocol = protocol

    async def handle(
        self,
        method: str,
        body: bytes,
        headers: Mapping[str, str],
        caller: CallerInfo,
        receive: Receive,
        send: Send,
    ) -> None:
        if method != "POST":
            # No server-initiated stream and no sessions to delete: POST is the whole transport.
            await send_bytes(send, 405, b"", [(b"allow", b"POST")])
            return
        wants_json, wants_sse = _accepts(headers)
        if not wants_json and not wants_sse:
            await send_json(send, 406, jsonrpc_error(None, INVALID_REQUEST, "Accept application/json"))
            return
        try:
            message = from_json(body)
        except ValueError:
            await send_json(send, 400, jsonrpc_error(None, PARSE_ERROR, "Parse error"))
            return
        if wants_sse and self._may_stream(message):
            await self._handle_streaming(message, headers, caller, receive, send)
            return
        reply = await self._protocol.handle(message, caller=caller, headers=headers)
        await _send_reply(reply, send)

    def _may_stream(self, message: Any) -> bool:
        if not isinstance(message, dict) or message.get("method") != "tools/call":
            return False
        params = message.get("params")
        if not isinstance(params, dict):
            return False
        meta = params.get("_meta")
        if not isinstance(meta, dict) or meta.get("progressToken") is None:
            return False
        name = params.get("name")
        function = self._protocol.functions.get(name) if isinstance(name, str) else None
        return function is not None and function.wants_context and not function.background

    async def _handle_streaming(
        self,
        message: dict[str, Any],
        headers: Mapping[str, str],
        caller: CallerInfo,
        receive: Receive,
        send: Send,
    ) -> None:
        send_stream, recv_stream = anyio.create_memory_object_stream[bytes](16)
        replies: list[Reply] = []

        async def notify(method: str, params: dict[str, Any]) -> None:
            try:
                await send_stream.send(_sse_event({"jsonrpc": "2.0", "method": method, "params": params}))
            except (anyio.ClosedResourceError, anyio.BrokenResourceError):
                pass  # the client went away; the work goes on to completion

        async def run(stream: MemoryObjectSendStream[bytes]) -> None:
            async with stream:
                replies.append(await self._protocol.handle(message, caller=caller, headers=headers, notify=notify))

        async def watch_disconnect(scope: anyio.CancelScope) -> None:
            while (await receive())["type"] != "http.disconnect":
                continue
            scope.cancel()

        async with recv_stream, anyio.create_task_group() as tg:
            tg.start_soon(run, send_stream)
            tg.start_soon(watch_disconnect, tg.cancel_scope)
            first: bytes | None = None
            done = False
            with anyio.move_on_after(SSE_PING_SECONDS):
                try:
                    first = await recv_stream.receive()
                except anyio.EndOfStream:
                    done = True
            if done:
                await _send_reply(replies[0], send)
            else:
                await send({"type": "http.response.start", "status": 200, "headers": _SSE_HEADERS})
                event = first
                while True:
                    body = event if event is not None else b": ping\r\n\r\n"
                    await send({"type": "http.response.body", "body": body, "more_body": True})
                    event = None
                    with anyio.move_on_after(SSE_PING_SECONDS):
                        try:
                            event = await recv_stream.receive()
                        except anyio.EndOfStream:
                            break
                final = replies[0].message
                tail = _sse_event(final) if final is not None else b""
                await send({"type": "http.response.body", "body": tail, "more_body": False})
            tg.cancel_scope.cancel()


async def _send_reply(reply: Reply, send: Send) -> None:
    if reply.message is None:
        await send_bytes(send, 202, b"")
        return
    await send_json(send, reply.status, reply.message)
