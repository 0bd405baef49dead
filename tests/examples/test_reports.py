"""Background work (examples/advanced/reports.py): a report built from SQLite after the reply."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from examples.advanced.reports import create_server
from examples.ecommerce.store import Shop

from plati_mcp import FunctionTestClient


@pytest.fixture
def client(shop_db: Path) -> Iterator[FunctionTestClient]:
    with create_server(shop_db).test_client() as test_client:
        yield test_client


def test_generate_report_replies_at_once_with_a_task_id(client: FunctionTestClient) -> None:
    response = client.call("generate_report", {"kind": "sales"})
    assert response.status_code == 200
    assert response.success
    assert response.task_id
    assert response.body["message"]


def test_the_sales_report_aggregates_the_orders(client: FunctionTestClient) -> None:
    task_id = client.call("generate_report", {"kind": "sales"}).task_id
    assert task_id is not None
    task = client.wait_for_task(task_id, timeout=10)
    assert task["status"] == "succeeded", task
    report = task["result"]
    # Five orders are not cancelled: 171.99 + 94.90 + 165.00 + 88.49 + 164.89
    assert report["totals"] == {"orders": 5, "revenue": 685.27, "average_order_value": 137.05}
    by_category = {row["category"]: row for row in report["by_category"]}
    assert by_category["electronics"] == {"category": "electronics", "units": 3, "revenue": 299.97}
    assert "cancelled" not in str(report)
    assert report["top_products"][0]["product_id"] == "P-101"


def test_the_sales_report_can_start_at_a_date(client: FunctionTestClient) -> None:
    task_id = client.call("generate_report", {"kind": "sales", "since": "2024-01-01"}).task_id
    assert task_id is not None
    report = client.wait_for_task(task_id, timeout=10)["result"]
    assert report["totals"]["orders"] == 3


def test_the_returns_report_counts_returns_by_status_and_reason(client: FunctionTestClient, shop_db: Path) -> None:
    shop = Shop(shop_db)
    shop.process_return("ORD-003", "Too small")
    shop.process_return("ORD-001", " too small ")
    task_id = client.call("generate_report", {"kind": "returns"}).task_id
    assert task_id is not None
    report = client.wait_for_task(task_id, timeout=10)["result"]
    assert report["totals"] == {"returns": 2, "returned_orders": 2, "return_rate": 0.5}
    assert report["by_status"] == {"pending": 2}
    assert report["top_reasons"] == [{"reason": "too small", "returns": 2}]


def test_an_unknown_report_kind_is_refused_before_any_task_starts(client: FunctionTestClient) -> None:
    response = client.call("generate_report", {"kind": "inventory"})
    assert response.status_code == 400
    assert response.task_id is None
    assert [detail["field"] for detail in response.details] == ["kind"]


def test_a_malformed_since_date_is_refused_naming_the_field(client: FunctionTestClient) -> None:
    response = client.call("generate_report", {"kind": "sales", "since": "last week"})
    assert response.status_code == 400
    assert [detail["field"] for detail in response.details] == ["since"]


def test_an_unknown_task_id_is_not_found(client: FunctionTestClient) -> None:
    assert "error" in client.get_task("no-such-task")
