"""MCP over legacy SSE and stdio (official servers and the SDK), and the npm server-everything
peer over stdio and Streamable HTTP."""

from __future__ import annotations

import asyncio
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from mcp.server.mcpserver import Context, MCPServer

from plati.connectors import (
    CallContext,
    ConnectorConfig,
    McpConnector,
    UpstreamTooLarge,
    UpstreamUnreachable,
    open_connector,
)
from tests.conftest import serve_app

from .conftest import connected, free_port, run_everything_http

CTX = CallContext(workspace_id="ws_1", conversation_id="conv_1", idempotency_key="idem_1")

META_SERVER = textwrap.dedent(
    """
    from mcp.server.mcpserver import Context, MCPServer

    server = MCPServer("Meta")

    @server.tool()
    def add(a: int, b: int) -> int:
        return a + b

    @server.tool()
    def meta(ctx: Context) -> dict:
        found = ctx.request_context.meta or {}
        return {key: value for key, value in dict(found).items() if key.startswith("plati/")}

    @server.tool()
    def big(size: int) -> str:
        return "x" * size

    server.run("stdio")
    """
)

SDK_STDIO_SERVER = textwrap.dedent(
    """
    from plati_mcp import MCP

    mcp = MCP(name="SDK stdio")

    @mcp.function
    def add(a: int, b: int) -> int:
        return a + b

    mcp.run(transport="stdio")
    """
)


def sse_server() -> MCPServer:
    server = MCPServer("Legacy SSE")

    @server.tool()
    def add(a: int, b: int) -> int:
        """Add two numbers."""
        return a + b

    @server.tool()
    def headers(ctx: Context) -> dict[str, Any]:
        """The caller's X-Plati headers."""
        seen = ctx.headers or {}
        return {key.lower(): value for key, value in seen.items() if key.lower().startswith("x-plati")}

    return server


@pytest.fixture
def sse_url() -> Iterator[str]:
    with serve_app(sse_server().sse_app()) as url:
        yield url + "/sse"


async def test_the_sse_connector_discovers_and_calls(sse_url: str) -> None:
    config = ConnectorConfig(transport="sse", url=sse_url)
    async with connected(config) as connector:
        discovery = await connector.discover()
        added = await connector.call("add", {"a": 20, "b": 22}, CTX)
        seen = await connector.call("headers", {}, CTX)
        unknown = await connector.call("nope", {}, CTX)
        assert isinstance(connector, McpConnector) and connector.sessions_opened == 1
    assert discovery.protocol == "sse" and {tool.name for tool in discovery.tools} == {"add", "headers"}
    # The official server answers an unknown tool with an isError result: a failure, not -32602.
    assert (unknown.success, unknown.error) == (False, "Unknown tool: nope")
    assert added.success and added.data in (42, {"result": 42})
    assert seen.data == {"x-plati-workspace": "ws_1", "x-plati-conversation": "conv_1"}


def stdio_config(tmp_path: Path, source: str, **options: Any) -> ConnectorConfig:
    script = tmp_path / "server.py"
    script.write_text(source)
    return ConnectorConfig(transport="stdio", command=sys.executable, args=[str(script)], **options)


async def test_the_stdio_connector_sends_the_context_as_meta(tmp_path: Path) -> None:
    async with connected(stdio_config(tmp_path, META_SERVER)) as connector:
        discovery = await connector.discover()
        added = await connector.call("add", {"a": 1, "b": 2}, CTX)
        meta = await connector.call("meta", {}, CTX)
    assert discovery.protocol == "stdio" and {tool.name for tool in discovery.tools} == {"add", "meta", "big"}
    assert added.success and added.data in (3, {"result": 3})
    result = meta.data.get("result", meta.data)
    assert result == {"plati/workspace": "ws_1", "plati/conversation": "conv_1", "plati/idempotency_key": "idem_1"}


async def test_an_oversized_stdio_result_raises_too_large(tmp_path: Path) -> None:
    async with connected(stdio_config(tmp_path, META_SERVER, max_response_bytes=10_000)) as connector:
        with pytest.raises(UpstreamTooLarge):
            await connector.call("big", {"size": 20_000}, CTX)
        assert (await connector.call("big", {"size": 10}, CTX)).success


async def test_the_sdk_serves_the_stdio_connector(tmp_path: Path) -> None:
    async with connected(stdio_config(tmp_path, SDK_STDIO_SERVER)) as connector:
        discovery = await connector.discover()
        added = await connector.call("add", {"a": 4, "b": 5}, CTX)
    assert [tool.name for tool in discovery.tools] == ["add"]
    assert added.success and added.data in (9, {"result": 9})


async def test_a_missing_command_raises_unreachable(tmp_path: Path) -> None:
    config = ConnectorConfig(transport="stdio", command=str(tmp_path / "no-such-server"))
    async with connected(config) as connector:
        with pytest.raises(UpstreamUnreachable) as caught:
            await connector.discover()
    assert caught.value.code == "upstream_unreachable"


async def test_a_command_that_exits_at_once_raises_unreachable() -> None:
    config = ConnectorConfig(transport="stdio", command=sys.executable, args=["-c", "pass"], timeout_seconds=5)
    async with connected(config) as connector:
        with pytest.raises(UpstreamUnreachable):
            await connector.discover()


# -- the npm peer ---------------------------------------------------------------------------


async def test_server_everything_over_stdio(everything_js: Path) -> None:
    config = ConnectorConfig(transport="stdio", command="node", args=[str(everything_js), "stdio"])
    async with connected(config) as connector:
        discovery = await connector.discover()
        names = {tool.name for tool in discovery.tools}
        echoed = await connector.call("echo", {"message": "hi there"}, CTX)
        summed = await connector.call("get-sum", {"a": 2, "b": 40}, CTX)
        unknown = await connector.call("no-such-tool", {}, CTX)
    assert {"echo", "get-sum"} <= names
    # The TypeScript SDK turns its own "not found" error into an isError result: a failure.
    assert unknown.success is False and unknown.error is not None and "no-such-tool" in unknown.error
    assert discovery.server_name is not None
    assert echoed.success and "hi there" in str(echoed.data)
    assert summed.success and "42" in str(summed.data)


async def test_server_everything_over_streamable_http(everything_http: str) -> None:
    config = ConnectorConfig(transport="streamable-http", url=everything_http)
    async with connected(config) as connector:
        discovery = await connector.discover()
        echoed = await connector.call("echo", {"message": "over http"}, CTX)
        summed = await connector.call("get-sum", {"a": 1.5, "b": 2}, CTX)
        assert isinstance(connector, McpConnector) and connector.sessions_opened == 1
    tools = {tool.name: tool for tool in discovery.tools}
    assert tools["get-sum"].annotations is not None and tools["get-sum"].annotations["readOnlyHint"] is True
    assert tools["echo"].title == "Echo Tool"
    assert echoed.success and "over http" in str(echoed.data)
    assert summed.success and "3.5" in str(summed.data)


# A handshake-era server written by hand (JSON-RPC lines on stdio): it refuses server/discover,
# so the client falls back to initialize, and it announces a new tool list during a call.
LEGACY_SERVER = textwrap.dedent(
    """
    import json, sys

    TOOL = {"name": "poke", "description": "Poke", "inputSchema": {"type": "object"}}

    def send(message):
        sys.stdout.write(json.dumps(message) + "\\n")
        sys.stdout.flush()

    for line in sys.stdin:
        request = json.loads(line)
        method, rid = request.get("method"), request.get("id")
        if rid is None:
            continue
        if method == "initialize":
            send({"jsonrpc": "2.0", "id": rid, "result": {
                "protocolVersion": request["params"]["protocolVersion"],
                "capabilities": {"tools": {"listChanged": True}},
                "serverInfo": {"name": "Legacy", "version": "1"}}})
        elif method == "tools/list":
            send({"jsonrpc": "2.0", "id": rid, "result": {"tools": [TOOL]}})
        elif method == "tools/call":
            send({"jsonrpc": "2.0", "method": "notifications/tools/list_changed"})
            content = [{"type": "text", "text": json.dumps({"poked": True})}]
            send({"jsonrpc": "2.0", "id": rid, "result": {"content": content}})
        else:
            send({"jsonrpc": "2.0", "id": rid, "error": {"code": -32601, "message": "Method not found"}})
    """
)


async def test_a_tools_changed_notification_calls_the_hook(tmp_path: Path) -> None:
    changed = asyncio.Event()

    async def on_tools_changed() -> None:
        changed.set()

    config = stdio_config(tmp_path, LEGACY_SERVER)
    connector = await open_connector(config, on_tools_changed=on_tools_changed)
    try:
        discovery = await connector.discover()
        result = await connector.call("poke", {}, CTX)
        await asyncio.wait_for(changed.wait(), timeout=5)
    finally:
        await connector.aclose()
    assert discovery.list_changed is True and discovery.server_name == "Legacy"
    assert [tool.name for tool in discovery.tools] == ["poke"]
    assert result.success and result.data == {"poked": True}


async def test_the_session_reconnects_once_after_the_server_restarts(everything_js: Path) -> None:
    port = free_port()
    with run_everything_http(everything_js, port) as url:
        connector = await open_connector(ConnectorConfig(transport="streamable-http", url=url))
        assert isinstance(connector, McpConnector)
        assert (await connector.call("echo", {"message": "one"}, CTX)).success
    try:
        with run_everything_http(everything_js, port):
            # The new process does not know the old session: the connector opens a new one.
            result = await connector.call("echo", {"message": "two"}, CTX)
            assert result.success and "two" in str(result.data)
            assert connector.sessions_opened == 2
    finally:
        await connector.aclose()
