"""The simple protocol of SPEC section 2: every row of the status table, over the ASGI app."""

from __future__ import annotations

import logging

import pytest

from plati_mcp import MCP, FunctionError


@pytest.fixture
def mcp() -> MCP:
    server = MCP(name="Orders")
    orders = {"ORD-001": {"status": "shipped", "tracking": "1Z999AA1234567890"}}

    @server.function(
        name="check_order_status",
        description="Check the status of a customer order",
        parameters={"order_id": {"type": "string", "required": True, "description": "The order ID"}},
    )
    def check_order_status(order_id: str):
        if order_id not in orders:
            raise FunctionError(f"Order {order_id} not found")
        return orders[order_id]

    @server.function
    def send_email(to: str, subject: str, body: str, priority: int = 1) -> dict:
        return {"to": to}

    @server.function
    def explode() -> None:
        raise RuntimeError("database password is hunter2")

    @server.function(background=True)
    async def generate_report(kind: str) -> dict:
        return {"kind": kind}

    return server


def test_success_returns_success_and_data(mcp: MCP) -> None:
    response = mcp.test_client().http.post(
        "/call", json={"name": "check_order_status", "arguments": {"order_id": "ORD-001"}}
    )
    assert response.status_code == 200
    assert response.json() == {"success": True, "data": {"status": "shipped", "tracking": "1Z999AA1234567890"}}


def test_function_failure_is_200_with_the_message(mcp: MCP) -> None:
    result = mcp.test_client().call("check_order_status", {"order_id": "ORD-9"})
    assert (result.status_code, result.body) == (200, {"success": False, "error": "Order ORD-9 not found"})


def test_background_function_replies_with_a_task_id(mcp: MCP) -> None:
    result = mcp.test_client().call("generate_report", {"kind": "sales"})
    assert result.status_code == 200
    assert result.success is True
    assert result.task_id and result.task_id.startswith("task_")
    assert "message" in result.body


def test_unknown_function_is_404_function_not_found(mcp: MCP) -> None:
    result = mcp.test_client().call("nope", {})
    assert (result.status_code, result.body) == (404, {"error": "Function not found"})


def test_schema_failures_are_400_naming_every_bad_field(mcp: MCP) -> None:
    result = mcp.test_client().call("send_email", {"to": 5, "priority": "high", "cc": "x"})
    assert result.status_code == 400
    assert result.success is False
    fields = {detail["field"] for detail in result.details}
    assert fields == {"to", "subject", "body", "priority", "cc"}
    assert "send_email" in result.error and "\n" not in result.error


def test_compact_schema_failures_name_the_missing_field(mcp: MCP) -> None:
    result = mcp.test_client().call("check_order_status", {})
    assert result.status_code == 400
    assert result.details == [{"field": "order_id", "message": "Field required"}]


def test_unexpected_exception_is_500_with_an_error_id_and_no_details(
    mcp: MCP, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="plati_mcp"):
        result = mcp.test_client().call("explode", {})
    assert result.status_code == 500
    assert result.body["success"] is False
    assert result.error.startswith("Internal error (id ")
    assert "hunter2" not in str(result.body) and "Traceback" not in str(result.body)
    error_id = result.error.removeprefix("Internal error (id ").rstrip(")")
    record = next(r for r in caplog.records if error_id in r.getMessage())
    assert record.exc_info is not None and "hunter2" in str(record.exc_info[1])


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (b"{not json", "not valid JSON"),
        (b"[1, 2]", "JSON object"),
        (b'{"arguments": {}}', "'name'"),
        (b'{"name": "send_email", "arguments": [1]}', "'arguments'"),
    ],
)
def test_malformed_call_bodies_get_a_clear_400(mcp: MCP, body: bytes, fragment: str) -> None:
    response = mcp.test_client().http.post("/call", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 400
    assert fragment in response.json()["error"]


def test_missing_arguments_key_means_no_arguments() -> None:
    mcp = MCP()

    @mcp.function
    def ping() -> str:
        return "pong"

    response = mcp.test_client().http.post("/call", json={"name": "ping"})
    assert response.json() == {"success": True, "data": "pong"}


def test_oversized_bodies_are_refused_with_413() -> None:
    mcp = MCP(max_body_bytes=100)

    @mcp.function
    def echo(text: str) -> str:
        return text

    client = mcp.test_client()
    assert client.call("echo", {"text": "x" * 10}).status_code == 200
    big = client.call("echo", {"text": "x" * 200})
    assert big.status_code == 413
    assert "limit 100 bytes" in big.error


def test_wrong_methods_and_paths(mcp: MCP) -> None:
    http = mcp.test_client().http
    assert http.get("/call").status_code == 405
    assert http.post("/tools").status_code == 405
    assert http.get("/elsewhere").status_code == 404
    assert http.get("/health").json()["status"] == "ok"


def test_guide_style_urls_ending_in_mcp_serve_the_simple_protocol_too(mcp: MCP) -> None:
    http = mcp.test_client().http
    names = [tool["name"] for tool in http.get("/mcp/tools").json()["tools"]]
    assert "check_order_status" in names
    response = http.post("/mcp/call", json={"name": "check_order_status", "arguments": {"order_id": "ORD-001"}})
    assert response.json()["data"]["status"] == "shipped"


def test_tools_listing_includes_every_function_with_input_schema(mcp: MCP) -> None:
    tools = mcp.test_client().list_tools()
    assert [tool["name"] for tool in tools] == ["check_order_status", "send_email", "explode", "generate_report"]
    assert all(tool["input_schema"]["type"] == "object" for tool in tools)
