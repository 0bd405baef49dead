"""MCP over stdio: newline-delimited JSON-RPC on stdin/stdout.

The byte-level framing comes from the official SDK's ``stdio_server`` (it also points fd 1 at
stderr while serving, so a stray ``print()`` in a function cannot corrupt the wire); each request
is dispatched concurrently by the same :class:`McpProtocol` as HTTP.
"""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Iterator
from typing import Any

import anyio
import mcp_types as types
from mcp.server.stdio import stdio_server
from mcp.shared.message import SessionMessage
from mcp_types.jsonrpc import PARSE_ERROR

from .context import CallerInfo
from .protocol_mcp import McpProtocol, jsonrpc_error

logger = logging.getLogger("plati_mcp.stdio")


@contextlib.contextmanager
def _stdout_to_stderr() -> Iterator[None]:
    """Send Python-level writes to stdout (``print`` in a function) to stderr while serving:
    stdout carries the protocol and one stray line would corrupt it."""
    original = sys.stdout
    sys.stdout = sys.stderr
    try:
        yield
    finally:
        sys.stdout = original


async def serve_stdio(protocol: McpProtocol, stdin: Any = None, stdout: Any = None) -> None:
    """Serve until stdin closes."""
    async with stdio_server(stdin, stdout) as (read_stream, write_stream):
        with _stdout_to_stderr():
            await _serve(protocol, read_stream, write_stream)


async def _serve(protocol: McpProtocol, read_stream: Any, write_stream: Any) -> None:
    caller = CallerInfo()
    write_lock = anyio.Lock()

    async def write(message: dict[str, Any]) -> None:
        wire = types.jsonrpc_message_adapter.validate_python(message, by_name=False)
        async with write_lock:
            await write_stream.send(SessionMessage(wire))

    async def notify(method: str, params: dict[str, Any]) -> None:
        await write({"jsonrpc": "2.0", "method": method, "params": params})

    async def answer(message: dict[str, Any]) -> None:
        reply = await protocol.handle(message, caller=caller, notify=notify)
        if reply.message is not None:
            await write(reply.message)

    async with anyio.create_task_group() as tg:
        async for item in read_stream:
            if isinstance(item, Exception):
                logger.warning("Unreadable message on stdin: %s", item)
                await write(jsonrpc_error(None, PARSE_ERROR, "Parse error"))
                continue
            decoded = item.message.model_dump(by_alias=True, mode="json", exclude_unset=True)
            tg.start_soon(answer, decoded)
    # Every answer is written; closing the stream lets the writer drain and stop.
    write_stream.close()
