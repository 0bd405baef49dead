"""API keys: absent, wrong, read-only; and no workspace ever sees another's data."""

from __future__ import annotations

import httpx

from .conftest import Platform


def test_requests_without_a_valid_key_are_401(platform: Platform) -> None:
    with httpx.Client(base_url=platform.url) as http:
        for headers in ({}, {"Authorization": "Bearer plati_nope"}, {"Authorization": "Basic abc"}):
            response = http.get("/workspace/mcps", headers=headers)
            assert response.status_code == 401
            assert response.json()["error"]["code"] == "unauthorized"
            assert response.json()["message"]
        assert http.get("/health").json()["data"]["status"] == "ok"


def test_read_only_keys_read_but_cannot_write(platform: Platform) -> None:
    with platform.client(platform.tenant.read_only_key) as http:
        assert http.get("/assistants").status_code == 200
        refused = http.post("/assistant", json={"name": "A"})
    assert (refused.status_code, refused.json()["error"]["code"]) == (403, "forbidden")


def test_a_workspace_never_sees_another_workspace_resources(platform: Platform, shop: str) -> None:
    with platform.client() as mine:
        mcp_id = mine.post("/workspace/mcps", json={"name": "Shop", "url": shop}).json()["data"]["id"]
        assistant_id = mine.post("/assistant", json={"name": "A"}).json()["data"]["id"]
        channel_id = mine.post("/channels", json={"name": "c", "assistant_id": assistant_id}).json()["data"]["id"]
        mine.put(f"/assistant/{assistant_id}/mcp/{mcp_id}")
    with platform.client(platform.other.api_key) as theirs:
        assert theirs.get("/workspace/mcps").json()["data"] == []
        assert theirs.get("/assistants").json()["data"] == []
        assert theirs.get("/channels").json()["data"] == []
        other_assistant = theirs.post("/assistant", json={"name": "B"}).json()["data"]["id"]
        attempts = [
            theirs.get(f"/workspace/mcps/{mcp_id}"),
            theirs.patch(f"/workspace/mcps/{mcp_id}", json={"name": "stolen"}),
            theirs.get(f"/workspace/mcps/{mcp_id}/tools"),
            theirs.post(f"/workspace/mcps/{mcp_id}/refresh"),
            theirs.post(
                f"/workspace/mcps/{mcp_id}/call",
                json={"name": "check_order_status", "arguments": {"order_id": "ORD-001"}},
            ),
            theirs.delete(f"/workspace/mcps/{mcp_id}"),
            theirs.get(f"/assistant/{assistant_id}"),
            theirs.patch(f"/assistant/{assistant_id}", json={"name": "stolen"}),
            theirs.get(f"/assistant/{assistant_id}/mcp/tools"),
            theirs.put(f"/assistant/{assistant_id}/mcp/{mcp_id}"),
            theirs.put(f"/assistant/{other_assistant}/mcp/{mcp_id}"),
            theirs.delete(f"/assistant/{assistant_id}"),
            theirs.get(f"/channels/{channel_id}"),
            theirs.put(f"/channels/{channel_id}", json={"active": False}),
            theirs.delete(f"/channels/{channel_id}"),
            theirs.post("/channels", json={"name": "x", "assistant_id": assistant_id}),
        ]
        for response in attempts:
            assert response.status_code == 404, (response.request.method, response.request.url, response.text)
            assert response.json()["error"]["code"] == "not_found"
    with platform.client() as mine:
        assert mine.get(f"/workspace/mcps/{mcp_id}").json()["data"]["name"] == "Shop"
        assert mine.get(f"/channels/{channel_id}").json()["data"]["active"] is True


def test_app_level_errors_use_the_envelope(platform: Platform) -> None:
    with platform.client() as http:
        missing = http.get("/no/such/route")
        not_json = http.post("/assistant", content=b"{oops", headers={"content-type": "application/json"})
        too_big = http.post("/assistant", json={"name": "A", "instructions": "x" * 2_000_000})
        docs = http.get("/docs")
    assert (missing.status_code, missing.json()["error"]["code"]) == (404, "not_found")
    assert (not_json.status_code, not_json.json()["error"]["code"]) == (400, "bad_request")
    assert (too_big.status_code, too_big.json()["error"]["code"]) == (413, "payload_too_large")
    assert docs.status_code == 200
