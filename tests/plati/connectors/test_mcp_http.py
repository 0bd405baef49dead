"""The MCP Streamable HTTP connector against real servers: the SDK's, the official ``mcp``
MCPServer (stateless and stateful), and misbehaving ones."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError

from plati.connectors import (
    CallContext,
    ConnectorConfig,
    FunctionNotFound,
    McpConnector,
    UpstreamBadReply,
    UpstreamTimeout,
    UpstreamTooLarge,
    UpstreamUnauthorized,
    UpstreamUnreachable,
)
from tests.conftest import serve_app

from .conftest import Recorder, Stub, closed_port_url, connected, context_server, serve_stub

CTX = CallContext(
    workspace_id="ws_1",
    assistant_id="asst_1",
    conversation_id="conv_1",
    identity_id="user-7",
    request_id="req_1",
    idempotency_key="idem_1",
)


def streamable(url: str, **options: object) -> ConnectorConfig:
    return ConnectorConfig(transport="streamable-http", url=url, **options)  # type: ignore[arg-type]


def official_server() -> MCPServer:
    server = MCPServer("Official", instructions="Adds numbers.")

    @server.tool()
    def add(a: int, b: int) -> int:
        """Add two numbers."""
        return a + b

    @server.tool()
    def greet(name: str) -> str:
        """Greet someone."""
        return f"Hello, {name}!"

    @server.tool()
    def fail(reason: str) -> str:
        """Always fails."""
        raise ToolError(reason)

    @server.tool()
    def check_order(order_id: str) -> str:
        """Look an order up (none exists)."""
        raise ToolError(f"Order {order_id} not found")

    return server


@pytest.fixture(params=["stateless", "stateful"])
def official_url(request: pytest.FixtureRequest) -> Iterator[str]:
    app = official_server().streamable_http_app(stateless_http=request.param == "stateless")
    with serve_app(app) as url:
        yield url + "/mcp"


async def test_the_sdk_shop_lists_its_tools_over_mcp(shop_url: str) -> None:
    async with connected(streamable(shop_url + "/mcp")) as connector:
        discovery = await connector.discover()
    tools = {tool.name: tool for tool in discovery.tools}
    assert discovery.protocol == "streamable-http"
    assert discovery.server_name == "E-commerce"
    assert discovery.list_changed is False
    assert set(tools) >= {"check_order_status", "process_return", "apply_discount"}
    check = tools["check_order_status"]
    assert check.input_schema["required"] == ["order_id"]
    assert check.output_schema is not None


async def test_the_sdk_shop_answers_calls_and_failures_over_mcp(shop_url: str) -> None:
    async with connected(streamable(shop_url + "/mcp")) as connector:
        result = await connector.call("check_order_status", {"order_id": "ORD-001"}, CTX)
        missing = await connector.call("check_order_status", {"order_id": "ORD-9"}, CTX)
        invalid = await connector.call("check_order_status", {}, CTX)
    assert result.success and result.data["status"] == "shipped"
    assert (missing.success, missing.error) == (False, "Order ORD-9 not found")
    assert invalid.success is False and invalid.error is not None and "order_id" in invalid.error


async def test_an_unknown_function_over_mcp_raises_function_not_found(shop_url: str) -> None:
    # The SDK answers the protocol's unknown-tool error: JSON-RPC -32602 naming the tool.
    async with connected(streamable(shop_url + "/mcp")) as connector:
        with pytest.raises(FunctionNotFound) as caught:
            await connector.call("send_email", {}, CTX)
    assert (caught.value.code, caught.value.function) == ("function_not_found", "send_email")


async def test_context_reaches_the_sdk_function_over_mcp(context_url: str, recorder: Recorder) -> None:
    async with connected(streamable(context_url + "/mcp")) as connector:
        result = await connector.call("whoami", {}, CTX)
        bare = await connector.call("whoami", {}, CallContext(conversation_id="conv_2"))
    assert result.data == {
        "workspace": "ws_1",
        "assistant": "asst_1",
        "conversation": "conv_1",
        "identity": "user-7",
        "request": "req_1",
        "idempotency_key": "idem_1",
    }
    assert bare.data["conversation"] == "conv_2" and bare.data["workspace"] is None
    calls = [r for r in recorder.requests if r.rpc_method == "tools/call"]
    assert calls[0].headers["x-plati-conversation"] == "conv_1"
    assert "x-plati-workspace" not in calls[1].headers


async def test_registered_headers_arrive_on_every_mcp_request(context_url: str, recorder: Recorder) -> None:
    config = streamable(context_url + "/mcp", headers={"Authorization": "Bearer registered", "X-Team": "blue"})
    async with connected(config) as connector:
        await connector.discover()
        await connector.call("whoami", {}, CTX)
    assert recorder.requests
    for request in recorder.requests:
        assert request.headers["authorization"] == "Bearer registered"
        assert request.headers["x-team"] == "blue"


async def test_one_session_serves_many_calls(context_url: str, recorder: Recorder) -> None:
    async with connected(streamable(context_url + "/mcp")) as connector:
        assert isinstance(connector, McpConnector)
        await connector.discover()
        for _ in range(3):
            await connector.call("whoami", {}, CTX)
        assert connector.sessions_opened == 1
    methods = recorder.rpc_methods()
    handshakes = [m for m in methods if m in ("initialize", "server/discover")]
    assert len(handshakes) == 1, methods
    assert methods.count("tools/call") == 3
    assert len({r.client for r in recorder.requests}) == 1


async def test_the_official_mcp_server_is_called(official_url: str) -> None:
    async with connected(streamable(official_url)) as connector:
        discovery = await connector.discover()
        added = await connector.call("add", {"a": 2, "b": 3}, CTX)
        greeted = await connector.call("greet", {"name": "Ada"}, CTX)
        failed = await connector.call("fail", {"reason": "boom"}, CTX)
        assert isinstance(connector, McpConnector) and connector.sessions_opened == 1
    assert {tool.name for tool in discovery.tools} == {"add", "greet", "fail", "check_order"}
    assert discovery.server_name == "Official"
    assert added.success and added.data in (5, {"result": 5})
    assert greeted.success and greeted.data in ("Hello, Ada!", {"result": "Hello, Ada!"})
    assert failed.success is False and failed.error is not None and "boom" in failed.error


async def test_a_tool_error_saying_not_found_is_the_functions_failure_not_an_unknown_function(
    official_url: str,
) -> None:
    async with connected(streamable(official_url)) as connector:
        failed = await connector.call("check_order", {"order_id": "ORD-9"}, CTX)
    assert failed.success is False
    assert failed.error == "Error executing tool check_order: Order ORD-9 not found"


async def test_the_official_servers_unknown_tool_result_is_a_function_failure(official_url: str) -> None:
    # The official SDK answers an unknown tool with an isError result, not the protocol error
    # (-32602) that alone means "no such function": the model reads it like any failure.
    async with connected(streamable(official_url)) as connector:
        failed = await connector.call("nope", {}, CTX)
    assert (failed.success, failed.error) == (False, "Unknown tool: nope")


async def test_a_closed_port_raises_unreachable_over_mcp() -> None:
    async with connected(streamable(closed_port_url() + "/mcp")) as connector:
        with pytest.raises(UpstreamUnreachable) as caught:
            await connector.discover()
    assert caught.value.code == "upstream_unreachable"


async def test_a_slow_function_raises_timeout_over_mcp() -> None:
    mcp = context_server()
    try:
        with serve_app(mcp.app) as url:
            async with connected(streamable(url + "/mcp", timeout_seconds=0.5)) as connector:
                await connector.discover()
                with pytest.raises(UpstreamTimeout) as caught:
                    await connector.call("wait_for_release", {}, CTX)
                mcp.release.set()  # type: ignore[attr-defined]
                # The session survives a timed-out call.
                assert (await connector.call("whoami", {}, CTX)).success
    finally:
        mcp.release.set()  # type: ignore[attr-defined]
    assert (caught.value.code, caught.value.status_code) == ("upstream_timeout", 504)


async def test_a_server_that_never_answers_the_handshake_raises_timeout() -> None:
    import threading

    with serve_stub(Stub(hold=threading.Event())) as url:
        async with connected(streamable(url + "/mcp", timeout_seconds=0.5)) as connector:
            with pytest.raises(UpstreamTimeout):
                await connector.discover()


async def test_an_oversized_mcp_reply_raises_too_large(context_url: str) -> None:
    async with connected(streamable(context_url + "/mcp", max_response_bytes=10_000)) as connector:
        assert (await connector.call("big", {"size": 1000}, CTX)).data == {"result": "x" * 1000}
        with pytest.raises(UpstreamTooLarge) as caught:
            await connector.call("big", {"size": 50_000}, CTX)
        # The session is still usable.
        assert (await connector.call("big", {"size": 10}, CTX)).success
    assert caught.value.code == "upstream_too_large"


async def test_refused_credentials_over_mcp_raise_unauthorized_without_the_secret() -> None:
    mcp = context_server(auth_tokens=["right-token"])
    with serve_app(mcp.app) as url:
        config = streamable(url + "/mcp", headers={"Authorization": "Bearer wrong-token-value"})
        async with connected(config) as connector:
            with pytest.raises(UpstreamUnauthorized) as caught:
                await connector.discover()
        config = streamable(url + "/mcp", headers={"Authorization": "Bearer right-token"})
        async with connected(config) as connector:
            assert (await connector.call("whoami", {}, CTX)).success
    assert caught.value.code == "upstream_unauthorized"
    assert "wrong-token-value" not in str(caught.value)


async def test_a_non_mcp_reply_raises_bad_reply() -> None:
    with serve_stub(Stub(status=500, body=b"oops", content_type="text/plain")) as url:
        async with connected(streamable(url + "/mcp")) as connector:
            with pytest.raises(UpstreamBadReply) as caught:
                await connector.discover()
    assert "HTTP 500" in caught.value.message


async def test_closing_twice_is_harmless(shop_url: str) -> None:
    async with connected(streamable(shop_url + "/mcp")) as connector:
        await connector.discover()
        await connector.aclose()
