"""Auth and rate limits on both protocols; the token list and the verify callable."""

from __future__ import annotations

import uuid

import httpx
import pytest

from plati_mcp import MCP
from tests.conftest import REDIS_URL, requires_redis

MCP_PING = {"jsonrpc": "2.0", "id": 1, "method": "ping"}


def build(**options) -> MCP:
    mcp = MCP(name="secure", **options)

    @mcp.function
    def check_order_status(order_id: str) -> dict:
        return {"order_id": order_id}

    return mcp


def test_token_list_guards_both_protocols() -> None:
    client = build(auth_tokens=["tok-1", "tok-2"]).test_client()
    http = client.http
    for response in (
        http.get("/tools"),
        http.post("/call", json={"name": "check_order_status", "arguments": {"order_id": "A"}}),
        http.post("/mcp", json=MCP_PING),
        http.get("/tools", headers={"Authorization": "Bearer wrong"}),
        http.get("/tools", headers={"Authorization": "Basic dG9rLTE="}),
    ):
        assert (response.status_code, response.json()) == (401, {"error": "Unauthorized"})
    ok = http.get("/tools", headers={"Authorization": "Bearer tok-2"})
    assert ok.status_code == 200
    mcp_ok = http.post("/mcp", json=MCP_PING, headers={"Authorization": "Bearer tok-1"})
    assert mcp_ok.json() == {"jsonrpc": "2.0", "id": 1, "result": {}}
    assert http.get("/health").status_code == 200


async def test_verify_callable_may_be_async() -> None:
    async def verify(token: str) -> bool:
        return token.startswith("valid-")

    mcp = build(verify_token=verify)
    transport = httpx.ASGITransport(app=mcp.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        assert (await http.get("/tools", headers={"Authorization": "Bearer valid-x"})).status_code == 200
        assert (await http.get("/tools", headers={"Authorization": "Bearer other"})).status_code == 401


def test_empty_tokens_are_refused_at_construction() -> None:
    with pytest.raises(TypeError, match="empty token"):
        build(auth_tokens=[""])


def test_unparsable_rate_limits_are_refused_at_construction() -> None:
    with pytest.raises(ValueError, match="lots per minute"):
        build(rate_limit="lots per minute")


@pytest.mark.parametrize("store", ["memory", pytest.param("redis", marks=requires_redis)])
def test_rate_limit_is_per_credential_on_both_protocols(store: str) -> None:
    mcp = build(
        auth_tokens=[f"a-{uuid.uuid4().hex}", f"b-{uuid.uuid4().hex}"],
        rate_limit="3 per minute",
        redis_url=REDIS_URL if store == "redis" else None,
    )
    token_a, token_b = (mcp.authenticator._tokens[0].decode(), mcp.authenticator._tokens[1].decode())
    as_a = {"Authorization": f"Bearer {token_a}"}
    as_b = {"Authorization": f"Bearer {token_b}"}
    with mcp.test_client() as client:
        assert client.call("check_order_status", {"order_id": "1"}, headers=as_a).status_code == 200
        assert client.http.get("/tools", headers=as_a).status_code == 200
        assert client.http.post("/mcp", json=MCP_PING, headers=as_a).status_code == 200
        limited = client.http.post("/mcp", json=MCP_PING, headers=as_a)
        assert limited.status_code == 429
        assert int(limited.headers["retry-after"]) >= 1
        assert "Rate limit exceeded" in limited.json()["error"]
        refused_call = client.call("check_order_status", {"order_id": "1"}, headers=as_a)
        assert refused_call.status_code == 429
        # Another credential has its own budget.
        assert client.call("check_order_status", {"order_id": "1"}, headers=as_b).status_code == 200


def test_request_size_limit_applies_to_mcp_too() -> None:
    client = build(max_body_bytes=200).test_client()
    big = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "check_order_status",
           "arguments": {"order_id": "x" * 500}}}
    response = client.http.post("/mcp", json=big)
    assert response.status_code == 413
    assert "limit 200 bytes" in response.json()["error"]


def test_unreachable_rate_limit_storage_fails_closed_with_503() -> None:
    mcp = build(rate_limit="10 per minute", redis_url="redis://127.0.0.1:1/0")
    with mcp.test_client() as client:
        response = client.http.get("/tools")
    assert response.status_code == 503
    assert response.headers["retry-after"] == "5"


def test_unreachable_state_storage_is_an_internal_error_not_a_crash() -> None:
    from plati_mcp import Context

    mcp = build(redis_url="redis://127.0.0.1:1/0")

    @mcp.function
    def remember(ctx: Context) -> str:
        ctx.state["seen"] = True
        return "ok"

    with mcp.test_client() as client:
        result = client.call("remember", {}, headers={"X-Plati-Conversation": "c1"})
    assert result.status_code == 500
    assert result.error.startswith("Internal error (id ")
