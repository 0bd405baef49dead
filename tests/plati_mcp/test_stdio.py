"""MCP over stdio, judged by the official client launching a real server process."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest
from mcp import Client, StdioServerParameters

SERVER = '''
import sys
from plati_mcp import MCP, Context, FunctionError

mcp = MCP(name="stdio-orders")

@mcp.function(parameters={"order_id": {"type": "string", "required": True}})
def check_order_status(order_id: str):
    print("stray output must not corrupt the wire")
    if order_id == "ORD-9":
        raise FunctionError("Order ORD-9 not found")
    return {"order_id": order_id, "status": "shipped"}

@mcp.function
def whoami(ctx: Context) -> dict:
    return {"conversation": ctx.conversation_id, "workspace": ctx.workspace_id}

@mcp.function
async def count(n: int, ctx: Context) -> int:
    for i in range(n):
        await ctx.report_progress(i + 1, n)
    return n

if __name__ == "__main__":
    mcp.run(transport="stdio")
'''


@pytest.fixture
def server_script(tmp_path: Path) -> StdioServerParameters:
    script = tmp_path / "stdio_server.py"
    script.write_text(SERVER)
    root = str(Path(__file__).resolve().parents[2])
    return StdioServerParameters(
        command=sys.executable, args=[str(script)], env={"PYTHONPATH": root}, cwd=root
    )


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_stdio_serves_tools_in_both_eras(server_script: StdioServerParameters, mode: str) -> None:
    progress: list[float] = []
    both_arrived = asyncio.Event()

    async def on_progress(value: float, total: float | None, message: str | None) -> None:
        progress.append(value)
        if len(progress) == 2:
            both_arrived.set()

    async with Client(server_script, mode=mode) as client:
        tools = await client.list_tools()
        ok = await client.call_tool("check_order_status", {"order_id": "ORD-1"})
        failed = await client.call_tool("check_order_status", {"order_id": "ORD-9"})
        counted = await client.call_tool("count", {"n": 2}, progress_callback=on_progress)
        await asyncio.wait_for(both_arrived.wait(), 5)
    assert {tool.name for tool in tools.tools} == {"check_order_status", "whoami", "count"}
    assert ok.structured_content == {"order_id": "ORD-1", "status": "shipped"}
    assert failed.is_error and failed.content[0].text == "Order ORD-9 not found"
    assert counted.structured_content == {"result": 2}
    assert sorted(progress) == [1, 2]


async def test_platform_context_arrives_in_meta_over_stdio(server_script: StdioServerParameters) -> None:
    async with Client(server_script, mode="legacy") as client:
        result = await client.call_tool(
            "whoami", {}, meta={"plati/conversation": "conv_1", "plati/workspace": "ws_1"}
        )
    assert result.structured_content == {"conversation": "conv_1", "workspace": "ws_1"}
