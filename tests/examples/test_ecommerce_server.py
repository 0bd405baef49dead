"""The e-commerce example server (examples/ecommerce), driven through mcp.test_client()."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from examples.ecommerce.db import create_database
from examples.ecommerce.server import create_server
from examples.ecommerce.store import Shop, ShopError
from examples.serving import serve_in_thread
from mcp import Client

from plati_mcp import FunctionTestClient

from .support import REPO, query


@pytest.fixture
def client(shop_db: Path) -> Iterator[FunctionTestClient]:
    with create_server(shop_db).test_client() as test_client:
        yield test_client


# -- the database -----------------------------------------------------------------------------


def test_creating_the_database_twice_keeps_one_copy_of_the_sample_data(shop_db: Path) -> None:
    create_database(shop_db)
    assert query(shop_db, "SELECT COUNT(*) AS n FROM orders")[0]["n"] == 6
    assert query(shop_db, "SELECT COUNT(*) AS n FROM order_items WHERE order_id = 'ORD-001'")[0]["n"] == 2
    assert query(shop_db, "SELECT COUNT(*) AS n FROM customer_discounts")[0]["n"] == 1


def test_the_db_command_creates_the_database_file(tmp_path: Path) -> None:
    target = tmp_path / "cli.db"
    completed = subprocess.run(
        [sys.executable, "-m", "examples.ecommerce.db", "--db", str(target)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    tables = {row["name"] for row in query(target, "SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {
        "orders",
        "order_items",
        "returns",
        "customers",
        "discount_codes",
        "customer_discounts",
        "products",
    } <= tables


# -- tools ------------------------------------------------------------------------------------


def test_tools_lists_the_four_guide_functions_with_snake_case_schemas(client: FunctionTestClient) -> None:
    tools = {tool["name"]: tool for tool in client.list_tools()}
    assert set(tools) == {
        "check_order_status",
        "process_return",
        "apply_discount",
        "get_product_recommendations",
    }
    assert tools["process_return"]["input_schema"]["required"] == ["order_id", "reason"]
    limit = tools["get_product_recommendations"]["input_schema"]["properties"]["limit"]
    assert (limit["default"], limit["minimum"], limit["maximum"]) == (5, 1, 20)
    assert tools["check_order_status"]["description"] == "Get current order status and tracking info."


def test_a_server_with_tokens_refuses_calls_without_one(shop_db: Path) -> None:
    mcp = create_server(shop_db, auth_tokens=["s3cret"])
    with mcp.test_client() as anonymous, mcp.test_client(token="s3cret") as authorised:
        refused = anonymous.call("check_order_status", {"order_id": "ORD-001"})
        accepted = authorised.call("check_order_status", {"order_id": "ORD-001"})
    assert (refused.status_code, refused.body) == (401, {"error": "Unauthorized"})
    assert accepted.success


# -- check_order_status -----------------------------------------------------------------------


def test_check_order_status_returns_tracking_for_a_shipped_order(client: FunctionTestClient) -> None:
    response = client.call("check_order_status", {"order_id": "ORD-001"})
    assert response.status_code == 200
    assert response.data == {
        "order_id": "ORD-001",
        "status": "shipped",
        "tracking_number": "1Z999AA1234567890",
        "estimated_delivery": "2024-01-18",
        "total_amount": 171.99,
    }


def test_check_order_status_of_a_processing_order_has_no_tracking_number(client: FunctionTestClient) -> None:
    response = client.call("check_order_status", {"order_id": "ORD-002"})
    assert response.data["status"] == "processing"
    assert response.data["tracking_number"] is None


def test_check_order_status_of_an_unknown_order_reports_it_not_found(client: FunctionTestClient) -> None:
    response = client.call("check_order_status", {"order_id": "ORD-9"})
    assert (response.status_code, response.body) == (
        200,
        {"success": False, "error": "Order ORD-9 not found"},
    )


def test_check_order_status_without_an_order_id_is_refused_naming_the_field(
    client: FunctionTestClient,
) -> None:
    response = client.call("check_order_status", {})
    assert response.status_code == 400
    assert response.success is False
    assert [detail["field"] for detail in response.details] == ["order_id"]


def test_check_order_status_with_a_number_for_the_order_id_is_refused(client: FunctionTestClient) -> None:
    response = client.call("check_order_status", {"order_id": 1})
    assert response.status_code == 400
    assert [detail["field"] for detail in response.details] == ["order_id"]


# -- process_return ---------------------------------------------------------------------------


def test_process_return_of_a_delivered_order_stores_a_pending_return(client: FunctionTestClient, shop_db: Path) -> None:
    response = client.call("process_return", {"order_id": "ORD-003", "reason": "Too small", "items": ["P-401"]})
    assert response.success, response.body
    receipt = response.data
    assert receipt["return_id"].startswith("RET-")
    assert (receipt["status"], receipt["items"]) == ("pending", ["P-401"])
    stored = query(shop_db, "SELECT * FROM returns WHERE return_id = ?", receipt["return_id"])
    assert len(stored) == 1
    assert (stored[0]["order_id"], stored[0]["reason"], stored[0]["items"]) == (
        "ORD-003",
        "Too small",
        '["P-401"]',
    )


def test_process_return_without_items_returns_the_whole_shipped_order(client: FunctionTestClient) -> None:
    response = client.call("process_return", {"order_id": "ORD-001", "reason": "Changed my mind"})
    assert response.success
    assert response.data["items"] == ["P-101", "P-201"]


def test_a_second_open_return_for_the_same_order_is_refused(client: FunctionTestClient, shop_db: Path) -> None:
    first = client.call("process_return", {"order_id": "ORD-003", "reason": "Too small"})
    second = client.call("process_return", {"order_id": "ORD-003", "reason": "Wrong colour"})
    assert first.success
    assert second.success is False
    assert second.error == f"Order ORD-003 already has an open return ({first.data['return_id']})."
    assert len(query(shop_db, "SELECT * FROM returns WHERE order_id = 'ORD-003'")) == 1


def test_concurrent_returns_of_one_order_open_exactly_one(shop_db: Path) -> None:
    shop = Shop(shop_db)
    barrier = threading.Barrier(4)
    outcomes: list[str] = []

    def attempt() -> None:
        barrier.wait(timeout=10)
        try:
            shop.process_return("ORD-005", "Damaged")
            outcomes.append("opened")
        except ShopError:
            outcomes.append("refused")

    threads = [threading.Thread(target=attempt) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(outcomes) == ["opened", "refused", "refused", "refused"]


def test_process_return_of_a_processing_order_is_refused(client: FunctionTestClient) -> None:
    response = client.call("process_return", {"order_id": "ORD-002", "reason": "Too slow"})
    assert response.success is False
    assert response.error == "Order ORD-002 is processing; only shipped or delivered orders can be returned."


def test_process_return_of_an_unknown_order_reports_it_not_found(client: FunctionTestClient) -> None:
    response = client.call("process_return", {"order_id": "ORD-404", "reason": "Broken"})
    assert response.error == "Order ORD-404 not found"


def test_process_return_of_an_item_outside_the_order_is_refused(client: FunctionTestClient, shop_db: Path) -> None:
    response = client.call("process_return", {"order_id": "ORD-003", "reason": "Broken", "items": ["P-999"]})
    assert response.success is False
    assert response.error is not None
    assert response.error.startswith("Items not in order ORD-003: P-999")
    assert query(shop_db, "SELECT * FROM returns") == []


def test_process_return_with_an_empty_reason_is_refused_naming_the_field(client: FunctionTestClient) -> None:
    response = client.call("process_return", {"order_id": "ORD-003", "reason": ""})
    assert response.status_code == 400
    assert [detail["field"] for detail in response.details] == ["reason"]


def test_process_return_with_a_blank_reason_is_refused(client: FunctionTestClient) -> None:
    response = client.call("process_return", {"order_id": "ORD-003", "reason": "   "})
    assert (response.success, response.error) == (False, "Give a reason for the return.")


def test_process_return_with_items_that_are_not_a_list_is_refused(client: FunctionTestClient) -> None:
    response = client.call("process_return", {"order_id": "ORD-003", "reason": "x", "items": "P-401"})
    assert response.status_code == 400
    assert {detail["field"].split(".")[0] for detail in response.details} == {"items"}


# -- apply_discount ---------------------------------------------------------------------------


def test_apply_discount_records_the_code_on_the_account(client: FunctionTestClient, shop_db: Path) -> None:
    response = client.call("apply_discount", {"customer_id": "CUST-001", "discount_code": "welcome10"})
    assert response.success, response.body
    assert response.data["code"] == "WELCOME10"
    assert (response.data["discount_type"], response.data["amount"]) == ("percent", 10.0)
    rows = query(shop_db, "SELECT code FROM customer_discounts WHERE customer_id = 'CUST-001'")
    assert rows == [{"code": "WELCOME10"}]


def test_an_expired_discount_code_is_refused(client: FunctionTestClient, shop_db: Path) -> None:
    response = client.call("apply_discount", {"customer_id": "CUST-001", "discount_code": "SUMMER2020"})
    assert (response.success, response.error) == (False, "Discount code SUMMER2020 expired on 2020-09-01.")
    assert query(shop_db, "SELECT * FROM customer_discounts WHERE customer_id = 'CUST-001'") == []


def test_a_discount_code_already_used_by_the_customer_is_refused(client: FunctionTestClient) -> None:
    response = client.call("apply_discount", {"customer_id": "CUST-002", "discount_code": "WELCOME10"})
    assert response.error == "Customer CUST-002 has already used discount code WELCOME10."


def test_a_single_use_code_works_once_across_all_customers(client: FunctionTestClient) -> None:
    first = client.call("apply_discount", {"customer_id": "CUST-001", "discount_code": "VIP50"})
    second = client.call("apply_discount", {"customer_id": "CUST-003", "discount_code": "VIP50"})
    assert first.success
    assert (first.data["discount_type"], first.data["amount"]) == ("fixed", 50.0)
    assert second.error == "Discount code VIP50 has reached its usage limit."


def test_an_unknown_discount_code_is_refused(client: FunctionTestClient) -> None:
    response = client.call("apply_discount", {"customer_id": "CUST-001", "discount_code": "FREE100"})
    assert response.error == "Discount code FREE100 does not exist."


def test_a_discount_for_an_unknown_customer_is_refused(client: FunctionTestClient) -> None:
    response = client.call("apply_discount", {"customer_id": "CUST-999", "discount_code": "WELCOME10"})
    assert response.error == "Customer CUST-999 not found"


def test_apply_discount_without_a_code_is_refused_naming_the_field(client: FunctionTestClient) -> None:
    response = client.call("apply_discount", {"customer_id": "CUST-001"})
    assert response.status_code == 400
    assert [detail["field"] for detail in response.details] == ["discount_code"]


# -- get_product_recommendations --------------------------------------------------------------


def test_recommendations_come_from_bought_categories_and_skip_bought_products(
    client: FunctionTestClient,
) -> None:
    response = client.call("get_product_recommendations", {"customer_id": "CUST-001"})
    assert response.success, response.body
    products = response.data["products"]
    assert response.data["based_on"] == "purchase_history"
    assert len(products) == 5
    bought = {"P-101", "P-201", "P-302", "P-203"}
    assert not bought & {product["product_id"] for product in products}
    assert {product["category"] for product in products} <= {"electronics", "books", "home"}


def test_products_of_a_cancelled_order_count_as_not_bought(client: FunctionTestClient) -> None:
    response = client.call("get_product_recommendations", {"customer_id": "CUST-003", "limit": 20})
    ids = {product["product_id"] for product in response.data["products"]}
    assert "P-105" in ids  # only in the cancelled ORD-004
    assert not {"P-301", "P-101"} & ids


def test_recommendations_can_be_limited_to_one_category(client: FunctionTestClient) -> None:
    response = client.call(
        "get_product_recommendations", {"customer_id": "CUST-001", "category": "outdoor", "limit": 2}
    )
    assert response.data["based_on"] == "category"
    assert [product["product_id"] for product in response.data["products"]] == ["P-403", "P-401"]


def test_a_customer_without_orders_gets_best_sellers(client: FunctionTestClient) -> None:
    response = client.call("get_product_recommendations", {"customer_id": "CUST-004", "limit": 1})
    assert response.data["based_on"] == "best_sellers"
    assert [product["product_id"] for product in response.data["products"]] == ["P-101"]


@pytest.mark.parametrize("limit", [0, 21, "five"])
def test_a_limit_out_of_bounds_is_refused_naming_the_field(client: FunctionTestClient, limit: object) -> None:
    response = client.call("get_product_recommendations", {"customer_id": "CUST-001", "limit": limit})
    assert response.status_code == 400
    assert [detail["field"] for detail in response.details] == ["limit"]


def test_an_unknown_category_is_refused_listing_the_known_ones(client: FunctionTestClient) -> None:
    response = client.call("get_product_recommendations", {"customer_id": "CUST-001", "category": "toys"})
    assert response.error == "Unknown category 'toys'; choose one of books, electronics, home, outdoor."


def test_recommendations_for_an_unknown_customer_are_refused(client: FunctionTestClient) -> None:
    response = client.call("get_product_recommendations", {"customer_id": "CUST-999"})
    assert response.error == "Customer CUST-999 not found"


# -- over MCP ---------------------------------------------------------------------------------


async def test_the_functions_work_over_mcp_with_the_official_client(shop_db: Path) -> None:
    with serve_in_thread(create_server(shop_db).app) as base_url:
        async with Client(f"{base_url}/mcp") as mcp_client:
            listed = await mcp_client.list_tools()
            found = await mcp_client.call_tool("check_order_status", {"order_id": "ORD-003"})
            missing = await mcp_client.call_tool("check_order_status", {"order_id": "ORD-9"})
            invalid = await mcp_client.call_tool("get_product_recommendations", {"customer_id": "C", "limit": 0})
    assert {tool.name for tool in listed.tools} == {
        "check_order_status",
        "process_return",
        "apply_discount",
        "get_product_recommendations",
    }
    assert found.is_error is False
    assert found.structured_content is not None
    assert found.structured_content["status"] == "delivered"
    assert missing.is_error is True
    assert invalid.is_error is True
