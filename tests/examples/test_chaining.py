"""Function chaining (examples/advanced/chaining.py): process_order_issue → three chained calls."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from examples.advanced.chaining import create_server

from plati_mcp import FunctionTestClient

from .support import query


@pytest.fixture
def client(shop_db: Path) -> Iterator[FunctionTestClient]:
    with create_server(shop_db).test_client() as test_client:
        yield test_client


def refunds(shop_db: Path) -> list[dict[str, object]]:
    return query(shop_db, "SELECT order_id, amount, reason, status FROM refunds ORDER BY created_at")


def test_an_issue_with_a_delivered_order_is_refunded_in_full(client: FunctionTestClient, shop_db: Path) -> None:
    response = client.call("process_order_issue", {"order_id": "ORD-003", "issue": "Shoes fell apart"})
    assert response.success, response.body
    result = response.data
    assert result["resolution"] == "refunded"
    assert result["actions_taken"] == [
        "Retrieved order details (2 item(s), delivered)",
        "Verified refund eligibility",
        "Processed refund",
    ]
    assert result["refund_id"].startswith("REF-")
    assert result["refund_amount"] == 165.0
    assert refunds(shop_db) == [
        {"order_id": "ORD-003", "amount": 165.0, "reason": "Shoes fell apart", "status": "processed"}
    ]


def test_an_issue_with_a_shipped_order_is_not_eligible_and_refunds_nothing(
    client: FunctionTestClient, shop_db: Path
) -> None:
    response = client.call("process_order_issue", {"order_id": "ORD-001", "issue": "Late"})
    assert response.success
    assert response.data["resolution"] == "not_eligible"
    assert response.data["reason"] == "Order ORD-001 is shipped; only delivered orders can be refunded."
    assert "refund_id" not in response.data
    assert refunds(shop_db) == []


def test_an_issue_with_an_unknown_order_fails_from_the_first_chained_call(client: FunctionTestClient) -> None:
    response = client.call("process_order_issue", {"order_id": "ORD-404", "issue": "Never arrived"})
    assert (response.success, response.error) == (False, "Order ORD-404 not found")


def test_a_second_issue_after_a_full_refund_is_not_eligible(client: FunctionTestClient, shop_db: Path) -> None:
    client.call("process_order_issue", {"order_id": "ORD-006", "issue": "Broken"})
    second = client.call("process_order_issue", {"order_id": "ORD-006", "issue": "Still broken"})
    assert second.data["resolution"] == "not_eligible"
    assert second.data["reason"] == "Order ORD-006 has already been refunded in full."
    assert len(refunds(shop_db)) == 1


def test_a_retried_call_with_the_same_idempotency_key_refunds_once(client: FunctionTestClient, shop_db: Path) -> None:
    headers = {"Idempotency-Key": "call-7f3a"}
    first = client.call("process_refund", {"order_id": "ORD-005", "reason": "Damaged", "amount": 20}, headers=headers)
    retry = client.call("process_refund", {"order_id": "ORD-005", "reason": "Damaged", "amount": 20}, headers=headers)
    assert first.success, first.body
    assert retry.data == first.data
    assert len(refunds(shop_db)) == 1


def test_partial_refunds_cannot_exceed_the_order_total(client: FunctionTestClient) -> None:
    first = client.call("process_refund", {"order_id": "ORD-005", "reason": "Charger broken", "amount": 39.99})
    too_much = client.call("process_refund", {"order_id": "ORD-005", "reason": "More", "amount": 60})
    assert first.success
    assert too_much.error == "Only 48.50 of order ORD-005 can still be refunded, not 60.00."
    eligibility = client.call("check_refund_eligibility", {"order_id": "ORD-005"})
    assert eligibility.data["refundable_amount"] == 48.5


def test_a_refund_of_a_cancelled_order_is_refused(client: FunctionTestClient) -> None:
    response = client.call("process_refund", {"order_id": "ORD-004", "reason": "Cancelled"})
    assert response.error == "Order ORD-004 is cancelled; only delivered orders can be refunded."


def test_a_negative_refund_amount_is_refused_naming_the_field(client: FunctionTestClient) -> None:
    response = client.call("process_refund", {"order_id": "ORD-005", "reason": "x", "amount": -5})
    assert response.status_code == 400
    assert [detail["field"] for detail in response.details] == ["amount"]


def test_get_order_details_lists_the_items(client: FunctionTestClient) -> None:
    response = client.call("get_order_details", {"order_id": "ORD-005"})
    assert [item["product_id"] for item in response.data["items"]] == ["P-102", "P-202"]


def test_process_order_issue_without_an_issue_is_refused_naming_the_field(client: FunctionTestClient) -> None:
    response = client.call("process_order_issue", {"order_id": "ORD-003"})
    assert response.status_code == 400
    assert [detail["field"] for detail in response.details] == ["issue"]
