"""The tool cache expires after PLATI_TOOLS_TTL_SECONDS and is refreshed on the next read."""

from __future__ import annotations

import pytest

from .conftest import Platform


@pytest.fixture
def platform_env() -> dict[str, str]:
    return {"PLATI_TOOLS_TTL_SECONDS": "0"}  # every read finds the cache expired


def test_expired_tool_cache_is_refreshed_on_read(platform: Platform, shop: str) -> None:
    with platform.client() as http:
        mcp_id = http.post("/workspace/mcps", json={"name": "shop", "url": shop}).json()["data"]["id"]
        first = http.get(f"/workspace/mcps/{mcp_id}").json()["data"]["tools_refreshed_at"]
        tools = http.get(f"/workspace/mcps/{mcp_id}/tools").json()["data"]
        second = http.get(f"/workspace/mcps/{mcp_id}").json()["data"]["tools_refreshed_at"]
    assert len(tools) == 4
    assert second > first
