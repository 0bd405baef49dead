"""With PLATI_ALLOW_STDIO=1 the operator lets stdio MCPs run; the official npm MCP server
(server-everything) registers over stdio and over Streamable HTTP; a function the server no longer
has refreshes the cached tools."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.plati.connectors.conftest import everything_js, free_port, run_everything_http

from .conftest import Misbehaving, Platform

__all__ = ["everything_js"]  # a fixture, used by name below

SDK_STDIO_SERVER = """
from plati_mcp import MCP, Context

mcp = MCP(name="stdio-orders")

@mcp.function
def check_order_status(order_id: str, ctx: Context) -> dict:
    return {"order_id": order_id, "status": "shipped", "conversation": ctx.conversation_id}

if __name__ == "__main__":
    mcp.run(transport="stdio")
"""


@pytest.fixture
def platform_env() -> dict[str, str]:
    return {"PLATI_ALLOW_STDIO": "1"}


@pytest.fixture
def everything_http(everything_js: Path) -> Iterator[str]:
    with run_everything_http(everything_js, free_port()) as url:
        yield url


def test_sdk_server_over_stdio_when_the_operator_allows_it(platform: Platform, tmp_path: Path) -> None:
    script = tmp_path / "server.py"
    script.write_text(SDK_STDIO_SERVER)
    src = str(Path(__file__).resolve().parents[3] / "src")
    body = {
        "name": "local",
        "transport": "stdio",
        "command": sys.executable,
        "args": [str(script)],
        "env": {"PYTHONPATH": src, "SHOP_TOKEN": "stdio-secret-123456"},
    }
    with platform.client() as http:
        created = http.post("/workspace/mcps", json=body)
        assert created.status_code == 201, created.text
        mcp = created.json()["data"]
        call = http.post(
            f"/workspace/mcps/{mcp['id']}/call", json={"name": "check_order_status", "arguments": {"order_id": "A"}}
        )
    assert mcp["protocol"] == "stdio"
    assert mcp["env"]["SHOP_TOKEN"] == "****3456"
    assert "stdio-secret-123456" not in created.text
    assert call.json()["data"]["data"]["status"] == "shipped"


def test_npm_server_everything_over_stdio(platform: Platform, everything_js: Path) -> None:
    body = {"name": "everything", "transport": "stdio", "command": "node", "args": [str(everything_js), "stdio"]}
    with platform.client() as http:
        created = http.post("/workspace/mcps", json=body)
        assert created.status_code == 201, created.text
        mcp_id = created.json()["data"]["id"]
        names = {tool["name"] for tool in http.get(f"/workspace/mcps/{mcp_id}/tools").json()["data"]}
        echo = http.post(f"/workspace/mcps/{mcp_id}/call", json={"name": "echo", "arguments": {"message": "hi"}})
    assert "echo" in names
    assert echo.json()["data"]["success"] is True
    assert "hi" in str(echo.json()["data"]["data"])


def test_npm_server_everything_over_streamable_http(platform: Platform, everything_http: str) -> None:
    with platform.client() as http:
        created = http.post("/workspace/mcps", json={"name": "everything", "url": everything_http})
        assert created.status_code == 201, created.text
        mcp = created.json()["data"]
        echo = http.post(f"/workspace/mcps/{mcp['id']}/call", json={"name": "echo", "arguments": {"message": "yo"}})
    assert mcp["protocol"] == "streamable-http"
    assert echo.json()["data"]["success"] is True


def test_a_function_the_server_no_longer_has_refreshes_the_cache(
    platform: Platform, misbehaving: tuple[Misbehaving, str]
) -> None:
    _servers, url = misbehaving
    with platform.client() as http:
        mcp_id = http.post("/workspace/mcps", json={"name": "gone", "url": f"{url}/gone"}).json()["data"]["id"]
        before = http.get(f"/workspace/mcps/{mcp_id}").json()["data"]["tools_refreshed_at"]
        response = http.post(f"/workspace/mcps/{mcp_id}/call", json={"name": "f", "arguments": {"x": 1}})
        after = http.get(f"/workspace/mcps/{mcp_id}").json()["data"]["tools_refreshed_at"]
    assert (response.status_code, response.json()["error"]["code"]) == (404, "function_not_found")
    assert after > before


def test_a_tools_list_changed_notification_expires_the_cached_tools(platform: Platform, tmp_path: Path) -> None:
    from tests.plati.connectors.test_mcp_sse_stdio import LEGACY_SERVER

    script = tmp_path / "legacy.py"
    script.write_text(LEGACY_SERVER)
    body = {"name": "legacy", "transport": "stdio", "command": sys.executable, "args": [str(script)]}
    with platform.client() as http:
        mcp_id = http.post("/workspace/mcps", json=body).json()["data"]["id"]
        before = http.get(f"/workspace/mcps/{mcp_id}").json()["data"]["tools_refreshed_at"]
        # The server announces a new tool list while answering this call.
        assert http.post(f"/workspace/mcps/{mcp_id}/call", json={"name": "poke", "arguments": {}}).status_code == 200
        deadline = time.monotonic() + 10
        while True:
            http.get(f"/workspace/mcps/{mcp_id}/tools")  # an expired cache is refreshed on read
            after = http.get(f"/workspace/mcps/{mcp_id}").json()["data"]["tools_refreshed_at"]
            if after > before:
                break
            assert time.monotonic() < deadline, "the cached tools were never refreshed"
            time.sleep(0.05)  # polling for the notification's effect, not timing a behaviour
