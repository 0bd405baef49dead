"""The guide's whole flow end to end with the OFFLINE engine: register the shop, attach it to an
assistant with the guide's customer-service prompt, chat through a channel."""

from __future__ import annotations

import httpx

from plati.cli.demo import GUIDE_PROMPT

from .conftest import Platform

# The guide's customer-service prompt, verbatim (one copy, shared with `plati demo`).


def setup_channel(http: httpx.Client, shop: str) -> str:
    mcp_id = http.post("/workspace/mcps", json={"name": "Order Management System", "url": shop}).json()["data"]["id"]
    assistant_id = http.post("/assistant", json={"name": "Support", "instructions": GUIDE_PROMPT}).json()["data"]["id"]
    http.put(f"/assistant/{assistant_id}/mcp/{mcp_id}")
    return http.post("/channels", json={"name": "web", "assistant_id": assistant_id}).json()["data"]["id"]


def test_the_guide_scenario_checks_an_order_asks_for_numbers_and_starts_a_return(platform: Platform, shop: str) -> None:
    with platform.client() as http:
        channel = setup_channel(http, shop)
        first = http.post(f"/conversation/test_user/chat/{channel}", json={"text": "Check my order ORD-001"})
        assert first.status_code == 200, first.text
        data = first.json()["data"]
        assert "shipped" in data["reply"].lower()
        assert "1Z999AA1234567890" in data["reply"]
        [call] = data["function_calls"]
        assert (call["name"], call["arguments"], call["success"]) == (
            "check_order_status",
            {"order_id": "ORD-001"},
            True,
        )
        assert call["result"]["status"] == "shipped"
        assert call["duration_ms"] >= 0
        assert call["mcp_id"].startswith("mcp_")

        ask = http.post(f"/conversation/test_user/chat/{channel}", json={"text": "where is my order?"}).json()["data"]
        assert ask["function_calls"] == []
        assert "order number" in ask["reply"].lower()
        done = http.post(f"/conversation/test_user/chat/{channel}", json={"text": "ORD-002"}).json()["data"]
        assert [c["arguments"] for c in done["function_calls"]] == [{"order_id": "ORD-002"}]
        assert done["conversation_id"] == data["conversation_id"]

        ret = http.post(
            f"/conversation/test_user/chat/{channel}",
            json={"text": "I want to return order ORD-003 because the shoes are too small"},
        ).json()["data"]
        [ret_call] = ret["function_calls"]
        assert ret_call["name"] == "process_return"
        assert ret_call["arguments"]["order_id"] == "ORD-003"
        assert "too small" in ret_call["arguments"]["reason"]
        assert ret_call["success"] is True

        conversations = http.get("/conversations").json()["data"]["conversations"]
        assert [(c["id"], c["identity_id"]) for c in conversations] == [(data["conversation_id"], "test_user")]
        page = http.get(f"/conversation/{data['conversation_id']}/messages", params={"limit": 3}).json()["data"]
        assert [m["kind"] for m in page["messages"]] == ["user_text", "function_call", "function_result"]
        assert page["has_more"] is True
        rest = http.get(
            f"/conversation/{data['conversation_id']}/messages", params={"after": page["next_after"], "limit": 500}
        ).json()["data"]
        kinds = [m["kind"] for m in page["messages"] + rest["messages"]]
        assert kinds.count("user_text") == 4
        assert rest["has_more"] is False


def test_a_new_identity_or_channel_starts_a_new_conversation(platform: Platform, shop: str) -> None:
    with platform.client() as http:
        channel = setup_channel(http, shop)
        a = http.post(f"/conversation/alice/chat/{channel}", json={"text": "hello"}).json()["data"]
        b = http.post(f"/conversation/bob/chat/{channel}", json={"text": "hello"}).json()["data"]
        a2 = http.post(f"/conversation/alice/chat/{channel}", json={"text": "hello again"}).json()["data"]
    assert a["conversation_id"] != b["conversation_id"]
    assert a2["conversation_id"] == a["conversation_id"]


def test_chat_errors(platform: Platform, shop: str) -> None:
    with platform.client() as http:
        channel = setup_channel(http, shop)
        missing = http.post("/conversation/u/chat/chn_missing", json={"text": "hi"})
        empty = http.post(f"/conversation/u/chat/{channel}", json={"text": ""})
        no_text = http.post(f"/conversation/u/chat/{channel}", json={"message": "hi"})
        long_identity = http.post(f"/conversation/{'u' * 201}/chat/{channel}", json={"text": "hi"})
        longest_identity = http.post(f"/conversation/{'u' * 200}/chat/{channel}", json={"text": "hi"})
        http.put(f"/channels/{channel}", json={"active": False})
        inactive = http.post(f"/conversation/u/chat/{channel}", json={"text": "hi"})
        other = http.post(
            f"/conversation/u/chat/{channel}",
            json={"text": "hi"},
            headers={"Authorization": f"Bearer {platform.other.api_key}"},
        )
        foreign_messages = http.get("/conversation/conv_missing/messages")
    assert (missing.status_code, missing.json()["error"]["code"]) == (404, "not_found")
    assert empty.status_code == 422
    assert no_text.status_code == 422
    assert (long_identity.status_code, long_identity.json()["error"]["code"]) == (422, "validation_error")
    assert "identity_id" in long_identity.json()["message"]
    assert longest_identity.status_code == 200
    assert (inactive.status_code, inactive.json()["error"]["code"]) == (409, "conflict")
    assert other.status_code == 404
    assert foreign_messages.status_code == 404


def test_the_guides_curl_for_chat_works_as_written(platform: Platform, shop: str) -> None:
    """curl -X POST .../conversation/test_user/chat/{channel_id} -H "Authorization: Bearer ..."
    -d '{"text": "Check my order ORD-001"}' -- curl sends that as a form, not as JSON."""
    with platform.client() as http:
        channel = setup_channel(http, shop)
        response = http.post(
            f"/conversation/test_user/chat/{channel}",
            content=b'{"text": "Check my order ORD-001"}',
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        not_json = http.post(f"/conversation/test_user/chat/{channel}", content=b"text=hello")
    assert response.status_code == 200, response.text
    assert response.json()["data"]["function_calls"][0]["name"] == "check_order_status"
    assert (not_json.status_code, not_json.json()["error"]["code"]) == (400, "bad_request")
