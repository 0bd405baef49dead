"""MCP conformance, judged by the official `mcp` client: Streamable HTTP in both protocol eras
(the initialize handshake and stateless 2026-07-28), over real loopback HTTP."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import httpx2
import pytest
from mcp import Client, MCPError
from mcp.client.streamable_http import streamable_http_client
from pydantic import BaseModel

from plati_mcp import MCP, Context, FunctionError
from tests.conftest import serve_app

MODES = ["legacy", "auto", "2026-07-28"]


class OrderStatus(BaseModel):
    order_id: str
    status: str


def build_server(**options) -> MCP:
    mcp = MCP(name="Orders", version="2.0.0", instructions="Use check_order_status for orders.", **options)

    @mcp.function(annotations={"read_only": True, "idempotent": True})
    def check_order_status(order_id: str) -> OrderStatus:
        """Check the status of an order."""
        if order_id == "ORD-9":
            raise FunctionError("Order ORD-9 not found")
        return OrderStatus(order_id=order_id, status="shipped")

    @mcp.function
    def untyped(order_id: str):
        return {"order_id": order_id}

    @mcp.function
    async def crunch(steps: int, ctx: Context) -> str:
        for step in range(steps):
            await ctx.report_progress(step + 1, steps, f"step {step + 1}")
        return "done"

    @mcp.function
    def broken() -> str:
        raise KeyError("internal detail")

    return mcp


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    with serve_app(build_server().app) as url:
        yield url


@pytest.mark.parametrize("mode", MODES)
async def test_tools_list_shows_schemas_output_schemas_and_annotations(base_url: str, mode: str) -> None:
    async with Client(f"{base_url}/mcp", mode=mode) as client:
        result = await client.list_tools()
    tools = {tool.name: tool for tool in result.tools}
    assert set(tools) == {"check_order_status", "untyped", "crunch", "broken"}
    check = tools["check_order_status"]
    assert check.description == "Check the status of an order."
    assert check.input_schema["required"] == ["order_id"]
    assert check.output_schema is not None and set(check.output_schema["properties"]) == {"order_id", "status"}
    assert check.annotations is not None and check.annotations.read_only_hint is True
    assert tools["untyped"].output_schema is None


@pytest.mark.parametrize("mode", ["legacy", "auto"])  # a pinned version skips the discover probe
async def test_server_info_reaches_the_client(base_url: str, mode: str) -> None:
    async with Client(f"{base_url}/mcp", mode=mode) as client:
        info = client.session.server_info
        assert info is not None and (info.name, info.version) == ("Orders", "2.0.0")


@pytest.mark.parametrize("mode", MODES)
async def test_tools_call_returns_content_and_structured_content(base_url: str, mode: str) -> None:
    async with Client(f"{base_url}/mcp", mode=mode) as client:
        result = await client.call_tool("check_order_status", {"order_id": "ORD-1"})
        untyped = await client.call_tool("untyped", {"order_id": "ORD-2"})
    assert result.is_error is False
    assert result.structured_content == {"order_id": "ORD-1", "status": "shipped"}
    assert '"status":"shipped"' in result.content[0].text
    assert untyped.structured_content == {"order_id": "ORD-2"}


@pytest.mark.parametrize("mode", MODES)
async def test_failures_are_tool_results_with_is_error(base_url: str, mode: str) -> None:
    async with Client(f"{base_url}/mcp", mode=mode) as client:
        failed = await client.call_tool("check_order_status", {"order_id": "ORD-9"})
        invalid = await client.call_tool("check_order_status", {"order_idx": "ORD-1"})
        broken = await client.call_tool("broken", {})
    assert failed.is_error and failed.content[0].text == "Order ORD-9 not found"
    assert invalid.is_error and "order_id: Field required" in invalid.content[0].text
    assert "order_idx: Unexpected argument" in invalid.content[0].text
    assert broken.is_error and broken.content[0].text.startswith("Internal error (id ")
    assert "internal detail" not in broken.content[0].text


@pytest.mark.parametrize("mode", MODES)
async def test_unknown_tool_is_a_protocol_error(base_url: str, mode: str) -> None:
    async with Client(f"{base_url}/mcp", mode=mode) as client:
        with pytest.raises(MCPError) as excinfo:
            await client.call_tool("nope", {})
    assert "Unknown tool: nope" in str(excinfo.value)


@pytest.mark.parametrize("mode", MODES)
async def test_progress_notifications_reach_the_client(base_url: str, mode: str) -> None:
    updates: list[tuple[float, float | None, str | None]] = []
    all_arrived = asyncio.Event()

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        updates.append((progress, total, message))
        if len(updates) == 3:
            all_arrived.set()

    async with Client(f"{base_url}/mcp", mode=mode) as client:
        result = await client.call_tool("crunch", {"steps": 3}, progress_callback=on_progress)
        # The client runs progress callbacks as tasks of their own: they may finish after the result.
        await asyncio.wait_for(all_arrived.wait(), 5)
    assert result.structured_content == {"result": "done"}
    assert sorted(updates) == [(1, 3, "step 1"), (2, 3, "step 2"), (3, 3, "step 3")]


async def test_legacy_handshake_negotiates_an_older_revision(base_url: str) -> None:
    async with httpx.AsyncClient(base_url=base_url) as http:
        response = await http.post(
            "/mcp",
            json={
                "jsonrpc": "2.0",
                "id": 1,
                "method": "initialize",
                "params": {"protocolVersion": "2025-03-26", "capabilities": {}, "clientInfo": {"name": "t"}},
            },
            headers={"accept": "application/json, text/event-stream"},
        )
    assert response.status_code == 200
    assert response.json()["result"]["protocolVersion"] == "2025-03-26"
    assert "mcp-session-id" not in response.headers


async def test_modern_requests_without_the_envelope_are_rejected(base_url: str) -> None:
    async with httpx.AsyncClient(base_url=base_url) as http:
        response = await http.post(
            "/mcp",
            json={"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}},
            headers={"accept": "application/json", "mcp-protocol-version": "2026-07-28", "mcp-method": "tools/list"},
        )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == -32602


async def test_transport_errors_are_json_rpc_errors(base_url: str) -> None:
    async with httpx.AsyncClient(base_url=base_url) as http:
        parse = await http.post("/mcp", content=b"{oops", headers={"accept": "application/json"})
        batch = await http.post("/mcp", json=[{"jsonrpc": "2.0", "id": 1, "method": "ping"}])
        unknown = await http.post("/mcp", json={"jsonrpc": "2.0", "id": 7, "method": "resources/list"})
        notification = await http.post("/mcp", json={"jsonrpc": "2.0", "method": "notifications/initialized"})
        get = await http.get("/mcp")
    assert (parse.status_code, parse.json()["error"]["code"]) == (400, -32700)
    assert (batch.status_code, batch.json()["error"]["code"]) == (400, -32600)
    assert unknown.json()["error"]["code"] == -32601 and unknown.json()["id"] == 7
    assert notification.status_code == 202
    assert get.status_code == 405


@pytest.mark.parametrize("mode", ["legacy", "2026-07-28"])
async def test_mcp_requires_the_bearer_token_when_auth_is_on(mode: str) -> None:
    with serve_app(build_server(auth_tokens=["s3cret"]).app) as url:
        async with httpx.AsyncClient() as http:
            refused = await http.post(f"{url}/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "ping"})
        assert refused.status_code == 401
        assert refused.headers["www-authenticate"].startswith("Bearer")

        authed = httpx2.AsyncClient(headers={"Authorization": "Bearer s3cret"})
        async with authed, Client(streamable_http_client(f"{url}/mcp", http_client=authed), mode=mode) as client:
            result = await client.call_tool("check_order_status", {"order_id": "ORD-5"})
        assert result.structured_content == {"order_id": "ORD-5", "status": "shipped"}
