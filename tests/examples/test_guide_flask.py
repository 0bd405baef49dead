"""The hand-written Flask server in the guide's style (examples/guide_flask), via Flask's test client."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from examples.ecommerce.server import create_server
from examples.guide_flask.ecommerce_flask import create_app
from flask.testing import FlaskClient

from .support import query


@pytest.fixture
def client(shop_db: Path) -> FlaskClient:
    return create_app(shop_db).test_client()


def call(client: FlaskClient, name: str, arguments: dict[str, Any]) -> tuple[int, Any]:
    response = client.post("/call", json={"name": name, "arguments": arguments})
    return response.status_code, response.get_json()


def test_tools_returns_the_guide_tool_list(client: FlaskClient) -> None:
    response = client.get("/tools")
    assert response.status_code == 200
    tools = response.get_json()["tools"]
    assert [tool["name"] for tool in tools] == [
        "check_order_status",
        "process_return",
        "apply_discount",
        "get_product_recommendations",
    ]
    assert all(set(tool) == {"name", "description", "input_schema"} for tool in tools)


def test_check_order_status_replies_success_and_data(client: FlaskClient) -> None:
    status, body = call(client, "check_order_status", {"order_id": "ORD-001"})
    assert status == 200
    assert body["success"] is True
    assert body["data"]["tracking_number"] == "1Z999AA1234567890"


def test_an_unknown_order_replies_success_false_with_the_error(client: FlaskClient) -> None:
    assert call(client, "check_order_status", {"order_id": "ORD-9"}) == (
        200,
        {"success": False, "error": "Order ORD-9 not found"},
    )


def test_an_unknown_function_replies_404_function_not_found(client: FlaskClient) -> None:
    assert call(client, "send_email", {}) == (404, {"error": "Function not found"})


def test_missing_arguments_reply_400_naming_each_field(client: FlaskClient) -> None:
    status, body = call(client, "apply_discount", {})
    assert status == 400
    assert body["success"] is False
    assert [detail["field"] for detail in body["details"]] == ["customer_id", "discount_code"]


def test_a_body_that_is_not_a_call_replies_400(client: FlaskClient) -> None:
    response = client.post("/call", data="not json", content_type="application/json")
    assert response.status_code == 400
    assert response.get_json()["success"] is False


def test_process_return_stores_the_return(client: FlaskClient, shop_db: Path) -> None:
    status, body = call(client, "process_return", {"order_id": "ORD-003", "reason": "Too small"})
    assert (status, body["success"]) == (200, True)
    assert query(shop_db, "SELECT order_id FROM returns") == [{"order_id": "ORD-003"}]
    status, body = call(client, "process_return", {"order_id": "ORD-003", "reason": "Again"})
    assert body["success"] is False


def test_apply_discount_refuses_an_expired_code(client: FlaskClient) -> None:
    _status, body = call(client, "apply_discount", {"customer_id": "CUST-001", "discount_code": "SUMMER2020"})
    assert body == {"success": False, "error": "Discount code SUMMER2020 expired on 2020-09-01."}


def test_recommendations_refuse_a_limit_above_twenty(client: FlaskClient) -> None:
    status, body = call(client, "get_product_recommendations", {"customer_id": "CUST-001", "limit": 21})
    assert status == 400
    assert [detail["field"] for detail in body["details"]] == ["limit"]


def test_with_a_token_calls_without_it_are_unauthorized(shop_db: Path) -> None:
    client = create_app(shop_db, api_token="t0ken").test_client()
    assert client.get("/tools").status_code == 401
    assert client.get("/tools", headers={"Authorization": "Bearer t0ken"}).status_code == 200
    response = client.post("/call", json={"name": "check_order_status", "arguments": {"order_id": "ORD-001"}})
    assert (response.status_code, response.get_json()) == (401, {"error": "Unauthorized"})


@pytest.mark.parametrize(
    ("name", "arguments"),
    [
        ("check_order_status", {"order_id": "ORD-003"}),
        ("check_order_status", {"order_id": "ORD-404"}),
        ("apply_discount", {"customer_id": "CUST-002", "discount_code": "WELCOME10"}),
        ("get_product_recommendations", {"customer_id": "CUST-002", "limit": 3}),
        ("get_product_recommendations", {"customer_id": "CUST-001", "category": "toys"}),
    ],
)
def test_the_flask_server_and_the_sdk_server_answer_alike(
    client: FlaskClient, shop_db: Path, name: str, arguments: dict[str, Any]
) -> None:
    flask_status, flask_body = call(client, name, arguments)
    with create_server(shop_db).test_client() as sdk:
        sdk_response = sdk.call(name, arguments)
    assert (flask_status, flask_body) == (sdk_response.status_code, sdk_response.body)
