"""An MCP tool's own error is the function's failure, whatever its words: the official SDK's
``MCPServer`` words every tool error "Error executing tool X: ...", so "Order ORD-9 not found" must
not read as "no such function" (no 404, no tool cache refresh). Only the protocol's unknown-tool
error (JSON-RPC -32602 naming the tool) means that; see ``tests/plati/connectors/test_mcp_http.py``."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError

from tests.conftest import serve_app

from .conftest import Platform

TOOL_ERROR = "Error executing tool check_order_status: Order ORD-9 not found"


@pytest.fixture
def official_shop() -> Iterator[str]:
    """The official SDK's MCPServer over Streamable HTTP on loopback; yields its /mcp URL."""
    server = MCPServer("Orders")

    @server.tool()
    def check_order_status(order_id: str) -> dict[str, str]:
        """Check the status of an order by its order number."""
        raise ToolError(f"Order {order_id} not found")

    with serve_app(server.streamable_http_app()) as url:
        yield url + "/mcp"


def register(http: httpx.Client, url: str) -> str:
    created = http.post("/workspace/mcps", json={"name": "orders", "url": url})
    assert created.status_code == 201, created.text
    assert created.json()["data"]["protocol"] == "streamable-http"
    mcp_id: str = created.json()["data"]["id"]
    return mcp_id


def refreshed_at(http: httpx.Client, mcp_id: str) -> str:
    http.get(f"/workspace/mcps/{mcp_id}/tools")  # an expired cache would be refreshed here
    stamp: str = http.get(f"/workspace/mcps/{mcp_id}").json()["data"]["tools_refreshed_at"]
    return stamp


def test_trying_a_function_whose_tool_error_says_not_found_answers_the_failure_not_404(
    platform: Platform, official_shop: str
) -> None:
    with platform.client() as http:
        mcp_id = register(http, official_shop)
        before = refreshed_at(http, mcp_id)
        response = http.post(
            f"/workspace/mcps/{mcp_id}/call", json={"name": "check_order_status", "arguments": {"order_id": "ORD-9"}}
        )
        after = refreshed_at(http, mcp_id)
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert (data["success"], data["error"]) == (False, TOOL_ERROR)
    assert after == before


def test_in_a_chat_the_model_reads_the_tool_error_and_the_tool_cache_is_kept(
    platform: Platform, official_shop: str
) -> None:
    with platform.client() as http:
        mcp_id = register(http, official_shop)
        assistant_id = http.post("/assistant", json={"name": "Support"}).json()["data"]["id"]
        http.put(f"/assistant/{assistant_id}/mcp/{mcp_id}")
        channel = http.post("/channels", json={"name": "web", "assistant_id": assistant_id}).json()["data"]["id"]
        before = refreshed_at(http, mcp_id)
        response = http.post(f"/conversation/u1/chat/{channel}", json={"text": "Where is my order ORD-9?"})
        after = refreshed_at(http, mcp_id)
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    [record] = data["function_calls"]
    assert (record["name"], record["success"], record["error"]) == ("check_order_status", False, TOOL_ERROR)
    assert "error_code" not in record  # the function's own failure, not the platform's
    assert "Order ORD-9 not found" in data["reply"]
    assert after == before
