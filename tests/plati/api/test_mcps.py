"""Registering function servers, caching their tools and trying functions — over real HTTP, with
real servers: the guide's Flask style, the SDK's examples on both protocols, and broken ones."""

from __future__ import annotations

import logging

import pytest

from .conftest import Misbehaving, Platform

GUIDE_BODY = {
    "name": "Order Management System",
    "transport": "http",
    "url": "https://your-domain.com/mcp",
    "headers": [{"key": "Authorization", "value": "Bearer YOUR_MCP_API_KEY"}],
}


def register(platform: Platform, body: dict, key: str | None = None):
    with platform.client(key) as http:
        return http.post("/workspace/mcps", json=body)


@pytest.mark.parametrize("suffix", ["", "/mcp"])
def test_guide_flask_server_registers_with_the_guide_body_lists_tools_and_runs_a_function(
    platform: Platform, guide_flask: str, suffix: str
) -> None:
    body = {**GUIDE_BODY, "url": guide_flask + suffix}  # the guide's shape ends in /mcp
    created = register(platform, body)
    assert created.status_code == 201, created.text
    mcp = created.json()["data"]
    assert created.json()["message"].startswith(f"MCP registered: detected the simple protocol at {guide_flask}")
    assert mcp["protocol"] == "rest"
    assert mcp["url"] == guide_flask + suffix
    assert mcp["endpoint"] == guide_flask
    assert mcp["headers"] == [{"key": "Authorization", "value": "Bearer ****_KEY"}]
    with platform.client() as http:
        tools = http.get(f"/workspace/mcps/{mcp['id']}/tools").json()["data"]
        assert {tool["name"] for tool in tools} >= {"check_order_status", "process_return"}
        call = http.post(
            f"/workspace/mcps/{mcp['id']}/call",
            json={"name": "check_order_status", "arguments": {"order_id": "ORD-001"}},
        )
    assert call.status_code == 200
    data = call.json()["data"]
    assert data["success"] is True
    assert data["data"]["status"] == "shipped"
    assert data["duration_ms"] >= 0


@pytest.mark.parametrize(
    ("suffix", "transport", "protocol"),
    [
        ("", "http", "rest"),
        ("/mcp", "http", "streamable-http"),
        ("", "rest", "rest"),
        ("/mcp", "streamable-http", "streamable-http"),
    ],
)
def test_sdk_server_works_over_both_protocols(
    platform: Platform, shop: str, suffix: str, transport: str, protocol: str
) -> None:
    created = register(platform, {"name": "shop", "transport": transport, "url": shop + suffix})
    assert created.status_code == 201, created.text
    mcp = created.json()["data"]
    assert mcp["protocol"] == protocol
    assert mcp["tools_count"] == 4
    with platform.client() as http:
        ok = http.post(
            f"/workspace/mcps/{mcp['id']}/call",
            json={"name": "check_order_status", "arguments": {"order_id": "ORD-001"}},
        ).json()["data"]
        failed = http.post(
            f"/workspace/mcps/{mcp['id']}/call", json={"name": "check_order_status", "arguments": {"order_id": "ORD-9"}}
        ).json()["data"]
    assert ok["success"] is True
    assert ok["data"]["tracking_number"] == "1Z999AA1234567890"
    assert failed == {
        "name": "check_order_status",
        "success": False,
        "error": "Order ORD-9 not found",
        "duration_ms": failed["duration_ms"],
    }


def test_official_mcp_server_registers_and_answers(platform: Platform) -> None:
    from mcp.server.mcpserver import MCPServer

    from tests.conftest import serve_app

    official = MCPServer(name="official")

    @official.tool()
    def add(a: int, b: int) -> int:
        return a + b

    with serve_app(official.streamable_http_app(stateless_http=True)) as url:
        created = register(platform, {"name": "official", "url": f"{url}/mcp"})
        assert created.status_code == 201, created.text
        mcp_id = created.json()["data"]["id"]
        with platform.client() as http:
            result = http.post(f"/workspace/mcps/{mcp_id}/call", json={"name": "add", "arguments": {"a": 2, "b": 3}})
    assert created.json()["data"]["protocol"] == "streamable-http"
    assert result.json()["data"]["success"] is True
    assert result.json()["data"]["data"] in (5, {"result": 5})


def test_arguments_that_do_not_fit_the_cached_schema_are_422_naming_the_field(platform: Platform, shop: str) -> None:
    mcp_id = register(platform, {"name": "shop", "url": shop}).json()["data"]["id"]
    with platform.client() as http:
        response = http.post(f"/workspace/mcps/{mcp_id}/call", json={"name": "check_order_status", "arguments": {}})
    assert response.status_code == 422
    body = response.json()
    assert body["error"]["code"] == "validation_error"
    assert body["error"]["details"] == [{"field": "order_id", "message": "Field required"}]


def test_unknown_function_is_404(platform: Platform, shop: str) -> None:
    mcp_id = register(platform, {"name": "shop", "url": shop}).json()["data"]["id"]
    with platform.client() as http:
        response = http.post(f"/workspace/mcps/{mcp_id}/call", json={"name": "nope", "arguments": {}})
    assert (response.status_code, response.json()["error"]["code"]) == (404, "function_not_found")


def test_unreachable_server_is_502_with_the_reason_unless_validation_is_off(platform: Platform) -> None:
    body = {"name": "down", "url": "http://127.0.0.1:9/"}
    refused = register(platform, body)
    assert refused.status_code == 502
    assert refused.json()["error"]["code"] == "upstream_unreachable"
    assert refused.json()["message"]
    accepted = register(platform, {**body, "validate": False})
    assert accepted.status_code == 201
    assert accepted.json()["data"]["status"] == "unknown"
    with platform.client() as http:
        assert http.get("/workspace/mcps").json()["data"][0]["name"] == "down"


@pytest.mark.parametrize(
    ("kind", "status", "code"),
    [
        ("slow", 504, "upstream_timeout"),
        ("big", 502, "upstream_too_large"),
        ("html", 502, "upstream_bad_reply"),
        ("boom", 502, "upstream_bad_reply"),
    ],
)
def test_failing_servers_give_clear_upstream_errors(
    platform: Platform, misbehaving: tuple[Misbehaving, str], kind: str, status: int, code: str
) -> None:
    _servers, url = misbehaving
    created = register(
        platform,
        {
            "name": kind,
            "transport": "rest",
            "url": f"{url}/{kind}",
            "timeout_seconds": 0.3,
            "max_response_bytes": 100_000,
        },
    )
    assert created.status_code == 201, created.text
    with platform.client() as http:
        response = http.post(
            f"/workspace/mcps/{created.json()['data']['id']}/call", json={"name": "f", "arguments": {"x": 1}}
        )
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code


def test_registered_headers_are_sent_encrypted_at_rest_and_never_returned_or_logged(
    platform: Platform, misbehaving: tuple[Misbehaving, str], caplog: pytest.LogCaptureFixture
) -> None:
    servers, url = misbehaving
    token = Misbehaving.TOKEN
    with caplog.at_level(logging.DEBUG):
        wrong = register(
            platform,
            {
                "name": "wrong",
                "url": f"{url}/locked",
                "headers": [{"key": "Authorization", "value": "Bearer wrong-token-0000"}],
            },
        )
        created = register(
            platform,
            {
                "name": "locked",
                "url": f"{url}/locked",
                "headers": [{"key": "Authorization", "value": f"Bearer {token}"}],
            },
        )
        mcp_id = created.json()["data"]["id"]
        with platform.client() as http:
            call = http.post(f"/workspace/mcps/{mcp_id}/call", json={"name": "f", "arguments": {"x": 7}})
            listing = http.get("/workspace/mcps").text
            single = http.get(f"/workspace/mcps/{mcp_id}").text
    assert wrong.status_code == 502
    assert wrong.json()["error"]["code"] == "upstream_unauthorized"
    assert created.status_code == 201
    assert call.json()["data"]["data"] == {"x": 7}
    assert servers.seen_headers[-1]["authorization"] == f"Bearer {token}"
    assert created.json()["data"]["headers"] == [{"key": "Authorization", "value": "Bearer ****7890"}]
    for text in (created.text, wrong.text, listing, single, caplog.text):
        assert token not in text
        assert "wrong-token-0000" not in text
    assert token.encode() not in _database_bytes(platform)


def _database_bytes(platform: Platform) -> bytes:
    if platform.database_url.startswith("sqlite"):
        path = platform.database_url.split("///", 1)[1]
        with open(path, "rb") as handle:
            return handle.read()
    return b""


def test_context_headers_reach_the_function_server(platform: Platform, misbehaving: tuple[Misbehaving, str]) -> None:
    servers, url = misbehaving
    mcp_id = register(platform, {"name": "rec", "transport": "rest", "url": f"{url}/records"}).json()["data"]["id"]
    with platform.client() as http:
        http.post(
            f"/workspace/mcps/{mcp_id}/call",
            json={"name": "f", "arguments": {"x": 1}},
            headers={"Idempotency-Key": "call-123"},
        )
    seen = servers.seen_headers[-1]
    assert seen["x-plati-workspace"] == platform.tenant.workspace_id
    assert seen["idempotency-key"] == "call-123"
    assert seen["x-plati-request-id"]


def test_duplicate_names_conflict_and_bad_bodies_are_422(platform: Platform, shop: str) -> None:
    assert register(platform, {"name": "shop", "url": shop}).status_code == 201
    duplicate = register(platform, {"name": "shop", "url": shop})
    assert (duplicate.status_code, duplicate.json()["error"]["code"]) == (409, "conflict")
    for body, field in [
        ({"transport": "http", "url": shop}, "name"),
        ({"name": "x"}, ""),
        ({"name": "x", "url": "ftp://nope"}, "url"),
        ({"name": "x", "url": shop, "headers": [{"key": "Bad Header", "value": "v"}]}, "headers.0.key"),
        ({"name": "x", "url": shop, "timeout_seconds": -1}, "timeout_seconds"),
        ({"name": "x", "url": shop, "colour": "blue"}, "colour"),
    ]:
        response = register(platform, body)
        assert response.status_code == 422, body
        assert response.json()["error"]["code"] == "validation_error"
        assert field in {detail["field"] for detail in response.json()["error"]["details"]}


def test_stdio_is_refused_unless_the_operator_enables_it(platform: Platform) -> None:
    response = register(platform, {"name": "local", "transport": "stdio", "command": "python3"})
    assert (response.status_code, response.json()["error"]["code"]) == (403, "stdio_disabled")


def test_update_refresh_and_delete(platform: Platform, shop: str, guide_flask: str) -> None:
    mcp_id = register(platform, {"name": "shop", "url": shop}).json()["data"]["id"]
    with platform.client() as http:
        renamed = http.patch(f"/workspace/mcps/{mcp_id}", json={"name": "renamed", "timeout_seconds": 5})
        assert renamed.json()["data"]["name"] == "renamed"
        assert renamed.json()["data"]["timeout_seconds"] == 5
        moved = http.patch(f"/workspace/mcps/{mcp_id}", json={"url": guide_flask})
        assert moved.status_code == 200
        refreshed = http.post(f"/workspace/mcps/{mcp_id}/refresh").json()["data"]
        assert refreshed["status"] == "ok"
        assert {tool["name"] for tool in refreshed["tools"]} >= {"check_order_status"}
        assert http.delete(f"/workspace/mcps/{mcp_id}").status_code == 200
        assert http.get(f"/workspace/mcps/{mcp_id}").status_code == 404
