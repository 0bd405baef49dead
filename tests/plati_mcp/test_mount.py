"""`mcp.app` is a plain ASGI app: it mounts inside FastAPI and Starlette apps."""

from __future__ import annotations

from fastapi import FastAPI
from mcp import Client
from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.testclient import TestClient

from plati_mcp import MCP
from tests.conftest import serve_app


def build() -> MCP:
    mcp = MCP(name="mounted")

    @mcp.function
    def check_order_status(order_id: str) -> dict:
        return {"order_id": order_id, "status": "shipped"}

    return mcp


def test_mounts_inside_fastapi_next_to_other_routes() -> None:
    api = FastAPI()

    @api.get("/hello")
    def hello() -> dict:
        return {"hello": "world"}

    api.mount("/functions", build().app)
    client = TestClient(api)
    assert client.get("/hello").json() == {"hello": "world"}
    assert [t["name"] for t in client.get("/functions/tools").json()["tools"]] == ["check_order_status"]
    call = client.post("/functions/call", json={"name": "check_order_status", "arguments": {"order_id": "A"}})
    assert call.json() == {"success": True, "data": {"order_id": "A", "status": "shipped"}}


async def test_mcp_works_through_a_starlette_mount_over_http() -> None:
    app = Starlette(routes=[Mount("/svc", app=build().app)])
    with serve_app(app) as url:
        async with Client(f"{url}/svc/mcp", mode="legacy") as client:
            result = await client.call_tool("check_order_status", {"order_id": "B"})
    assert result.structured_content == {"order_id": "B", "status": "shipped"}
