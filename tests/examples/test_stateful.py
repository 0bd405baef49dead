"""The stateful pattern (examples/advanced/stateful.py): order history remembered per conversation."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from examples.advanced.stateful import create_server

from plati_mcp import FunctionTestClient

ALICE_CHAT = {"X-Plati-Conversation": "conv-alice"}
BOB_CHAT = {"X-Plati-Conversation": "conv-bob"}


@pytest.fixture
def client(shop_db: Path) -> Iterator[FunctionTestClient]:
    with create_server(shop_db).test_client() as test_client:
        yield test_client


def test_order_history_lists_the_customers_orders_newest_first(client: FunctionTestClient) -> None:
    response = client.call("get_order_history", {"customer_id": "CUST-001"}, headers=ALICE_CHAT)
    assert response.success, response.body
    assert [order["order_id"] for order in response.data["orders"]] == ["ORD-002", "ORD-001"]


def test_a_follow_up_reads_the_order_the_history_showed(client: FunctionTestClient) -> None:
    client.call("get_order_history", {"customer_id": "CUST-001"}, headers=ALICE_CHAT)
    response = client.call("get_last_order_details", {"position": 2}, headers=ALICE_CHAT)
    assert response.success, response.body
    assert response.data["order_id"] == "ORD-001"
    assert [item["product_id"] for item in response.data["items"]] == ["P-101", "P-201"]


def test_the_follow_up_defaults_to_the_newest_order(client: FunctionTestClient) -> None:
    client.call("get_order_history", {"customer_id": "CUST-002", "status": "delivered"}, headers=BOB_CHAT)
    response = client.call("get_last_order_details", {}, headers=BOB_CHAT)
    assert response.data["order_id"] == "ORD-003"


def test_each_conversation_keeps_its_own_history(client: FunctionTestClient) -> None:
    client.call("get_order_history", {"customer_id": "CUST-001"}, headers=ALICE_CHAT)
    client.call("get_order_history", {"customer_id": "CUST-002"}, headers=BOB_CHAT)
    alice = client.call("get_last_order_details", {}, headers=ALICE_CHAT)
    bob = client.call("get_last_order_details", {}, headers=BOB_CHAT)
    assert (alice.data["customer_id"], bob.data["customer_id"]) == ("CUST-001", "CUST-002")


def test_a_newer_history_replaces_the_remembered_one(client: FunctionTestClient) -> None:
    client.call("get_order_history", {"customer_id": "CUST-001"}, headers=ALICE_CHAT)
    client.call("get_order_history", {"customer_id": "CUST-003"}, headers=ALICE_CHAT)
    response = client.call("get_last_order_details", {}, headers=ALICE_CHAT)
    assert response.data["customer_id"] == "CUST-003"


def test_a_follow_up_before_any_history_asks_for_the_history_first(client: FunctionTestClient) -> None:
    response = client.call("get_last_order_details", {}, headers={"X-Plati-Conversation": "fresh"})
    assert response.success is False
    assert response.error == "No order history in this conversation yet; call get_order_history first."


def test_a_position_past_the_history_is_refused_with_the_range(client: FunctionTestClient) -> None:
    client.call("get_order_history", {"customer_id": "CUST-001"}, headers=ALICE_CHAT)
    response = client.call("get_last_order_details", {"position": 3}, headers=ALICE_CHAT)
    assert response.error == "The last order history has 2 order(s); choose a position from 1 to 2."


def test_an_empty_history_is_remembered_as_empty(client: FunctionTestClient) -> None:
    client.call("get_order_history", {"customer_id": "CUST-004"}, headers=ALICE_CHAT)
    response = client.call("get_last_order_details", {}, headers=ALICE_CHAT)
    assert response.error == "The last order history for CUST-004 was empty."


def test_the_history_of_an_unknown_customer_is_refused(client: FunctionTestClient) -> None:
    response = client.call("get_order_history", {"customer_id": "CUST-999"}, headers=ALICE_CHAT)
    assert response.error == "Customer CUST-999 not found"


def test_a_position_below_one_is_refused_naming_the_field(client: FunctionTestClient) -> None:
    response = client.call("get_last_order_details", {"position": 0}, headers=ALICE_CHAT)
    assert response.status_code == 400
    assert [detail["field"] for detail in response.details] == ["position"]


def test_an_unknown_status_filter_is_refused_naming_the_field(client: FunctionTestClient) -> None:
    response = client.call("get_order_history", {"customer_id": "CUST-001", "status": "lost"}, headers=ALICE_CHAT)
    assert response.status_code == 400
    assert [detail["field"] for detail in response.details] == ["status"]
