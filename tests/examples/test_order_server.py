"""The guide's "MCP SDK" example (examples/order_server.py): compact parameters=, real SQLite."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from examples.order_server import create_server

from plati_mcp import FunctionTestClient

from .support import query


@pytest.fixture
def client(shop_db: Path) -> Iterator[FunctionTestClient]:
    with create_server(shop_db).test_client() as test_client:
        yield test_client


def test_the_compact_parameters_become_the_guide_schemas(client: FunctionTestClient) -> None:
    tools = {tool["name"]: tool for tool in client.list_tools()}
    assert tools["check_order_status"]["description"] == "Check order status and tracking"
    assert tools["check_order_status"]["input_schema"] == {
        "type": "object",
        "properties": {"order_id": {"type": "string"}},
        "required": ["order_id"],
    }
    assert tools["process_return"]["input_schema"]["required"] == ["order_id", "reason"]


def test_check_order_status_answers_in_the_guide_shape(client: FunctionTestClient) -> None:
    response = client.call("check_order_status", {"order_id": "ORD-001"})
    assert response.body == {"success": True, "data": {"status": "shipped", "tracking": "1Z999AA1234567890"}}


def test_check_order_status_of_an_unknown_order_fails_with_its_id(client: FunctionTestClient) -> None:
    response = client.call("check_order_status", {"order_id": "ORD-9"})
    assert response.body == {"success": False, "error": "Order ORD-9 not found"}


def test_process_return_stores_the_return(client: FunctionTestClient, shop_db: Path) -> None:
    response = client.call("process_return", {"order_id": "ORD-001", "reason": "Arrived damaged"})
    assert response.success
    assert response.data["status"] == "pending"
    rows = query(shop_db, "SELECT order_id, reason FROM returns WHERE return_id = ?", response.data["return_id"])
    assert rows == [{"order_id": "ORD-001", "reason": "Arrived damaged"}]


def test_process_return_without_a_reason_is_refused_naming_the_field(client: FunctionTestClient) -> None:
    response = client.call("process_return", {"order_id": "ORD-001"})
    assert response.status_code == 400
    assert [detail["field"] for detail in response.details] == ["reason"]


def test_process_return_of_an_order_not_yet_shipped_is_refused(client: FunctionTestClient) -> None:
    response = client.call("process_return", {"order_id": "ORD-002", "reason": "Too slow"})
    assert response.success is False
    assert response.error == "Order ORD-002 is processing; only shipped or delivered orders can be returned."


def test_an_unknown_function_is_not_found(client: FunctionTestClient) -> None:
    response = client.call("send_email", {"to": "a@example.com"})
    assert (response.status_code, response.body) == (404, {"error": "Function not found"})
