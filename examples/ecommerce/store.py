"""The shop's business rules over its SQLite database, independent of any protocol.

Both the SDK server (:mod:`examples.ecommerce.server`) and the hand-written Flask server
(:mod:`examples.guide_flask.ecommerce_flask`) call this, so they behave identically.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from typing_extensions import TypedDict  # pydantic needs this TypedDict before Python 3.12

from . import db

RETURNABLE_STATUSES = ("shipped", "delivered")
MAX_RECOMMENDATIONS = 20


class ShopError(Exception):
    """A request the shop refuses; the message is meant for the customer and names the fix."""


class OrderStatus(TypedDict):
    order_id: str
    status: str
    tracking_number: str | None
    estimated_delivery: str | None
    total_amount: float


class OrderItem(TypedDict):
    product_id: str
    name: str
    category: str
    quantity: int
    unit_price: float


class OrderDetails(OrderStatus):
    customer_id: str
    created_at: str
    items: list[OrderItem]


class ReturnReceipt(TypedDict):
    return_id: str
    order_id: str
    status: str
    items: list[str]
    next_steps: str


class AppliedDiscount(TypedDict):
    customer_id: str
    code: str
    description: str
    discount_type: Literal["percent", "fixed"]
    amount: float
    expires_at: str | None
    applied_at: str


class Product(TypedDict):
    product_id: str
    name: str
    category: str
    price: float


class Recommendations(TypedDict):
    customer_id: str
    based_on: Literal["purchase_history", "category", "best_sellers"]
    products: list[Product]


def _utc_now() -> datetime:
    return datetime.now(UTC)


class Shop:
    """Orders, returns, discounts and recommendations of the shop stored at ``db_path``.

    Every method opens its own connection and transaction, so one ``Shop`` can serve many threads.
    """

    def __init__(self, db_path: str | Path, *, clock: Callable[[], datetime] = _utc_now) -> None:
        self.db_path = Path(db_path)
        self._clock = clock

    def _now(self) -> str:
        return self._clock().isoformat(timespec="seconds")

    # -- orders -------------------------------------------------------------------------------

    def check_order_status(self, order_id: str) -> OrderStatus:
        """Raises: ShopError: no such order."""
        with db.transaction(self.db_path) as conn:
            row = _order_row(conn, order_id)
        return _order_status(row)

    def get_order_details(self, order_id: str) -> OrderDetails:
        """The order with its items. Raises: ShopError: no such order."""
        with db.transaction(self.db_path) as conn:
            row = _order_row(conn, order_id)
            items = conn.execute(
                """SELECT oi.product_id, p.name, p.category, oi.quantity, oi.unit_price
                   FROM order_items oi JOIN products p USING (product_id)
                   WHERE oi.order_id = ? ORDER BY oi.product_id""",
                (order_id,),
            ).fetchall()
        return {
            **_order_status(row),
            "customer_id": row["customer_id"],
            "created_at": row["created_at"],
            "items": [
                {
                    "product_id": item["product_id"],
                    "name": item["name"],
                    "category": item["category"],
                    "quantity": item["quantity"],
                    "unit_price": item["unit_price"],
                }
                for item in items
            ],
        }

    def list_orders(self, customer_id: str, *, status: str | None = None, limit: int = 10) -> list[OrderStatus]:
        """The customer's orders, newest first. Raises: ShopError: no such customer."""
        with db.transaction(self.db_path) as conn:
            _require_customer(conn, customer_id)
            rows = conn.execute(
                """SELECT * FROM orders WHERE customer_id = ? AND (? IS NULL OR status = ?)
                   ORDER BY created_at DESC LIMIT ?""",
                (customer_id, status, status, limit),
            ).fetchall()
        return [_order_status(row) for row in rows]

    # -- returns ------------------------------------------------------------------------------

    def process_return(self, order_id: str, reason: str, items: list[str] | None = None) -> ReturnReceipt:
        """Open a return for a shipped or delivered order, for all of it or for some of its items.

        Raises:
            ShopError: no such order, the order cannot be returned, an item is not part of the
                order, or a return is already open for it.
        """
        reason = reason.strip()
        if not reason:
            raise ShopError("Give a reason for the return.")
        wanted = list(dict.fromkeys(items or []))
        return_id = f"RET-{self._clock():%Y%m%d}-{secrets.token_hex(3).upper()}"
        with db.transaction(self.db_path, write=True) as conn:
            order = _order_row(conn, order_id)
            if order["status"] not in RETURNABLE_STATUSES:
                raise ShopError(
                    f"Order {order_id} is {order['status']}; only shipped or delivered orders can be returned."
                )
            in_order = {
                row["product_id"]
                for row in conn.execute("SELECT product_id FROM order_items WHERE order_id = ?", (order_id,))
            }
            unknown = [item for item in wanted if item not in in_order]
            if unknown:
                raise ShopError(
                    f"Items not in order {order_id}: {', '.join(unknown)}; it contains {', '.join(sorted(in_order))}."
                )
            open_return = conn.execute(
                "SELECT return_id FROM returns WHERE order_id = ? AND status IN ('pending', 'approved')",
                (order_id,),
            ).fetchone()
            if open_return is not None:
                raise ShopError(f"Order {order_id} already has an open return ({open_return['return_id']}).")
            conn.execute(
                """INSERT INTO returns (return_id, order_id, reason, items, status, created_at)
                   VALUES (?, ?, ?, ?, 'pending', ?)""",
                (return_id, order_id, reason, json.dumps(wanted), self._now()),
            )
        return {
            "return_id": return_id,
            "order_id": order_id,
            "status": "pending",
            "items": wanted or sorted(in_order),
            "next_steps": "You'll receive return instructions via email within 24 hours.",
        }

    # -- discounts ----------------------------------------------------------------------------

    def apply_discount(self, customer_id: str, discount_code: str) -> AppliedDiscount:
        """Record a discount code on a customer's account.

        Raises:
            ShopError: no such customer or code, the code expired, the customer already used it,
                or it reached its usage limit.
        """
        code = discount_code.strip().upper()
        now = self._clock()
        with db.transaction(self.db_path, write=True) as conn:
            _require_customer(conn, customer_id)
            row = conn.execute("SELECT * FROM discount_codes WHERE code = ?", (code,)).fetchone()
            if row is None:
                raise ShopError(f"Discount code {discount_code} does not exist.")
            if row["expires_at"] is not None and datetime.fromisoformat(row["expires_at"]) <= now:
                raise ShopError(f"Discount code {code} expired on {row['expires_at'][:10]}.")
            used = conn.execute(
                "SELECT 1 FROM customer_discounts WHERE customer_id = ? AND code = ?", (customer_id, code)
            ).fetchone()
            if used is not None:
                raise ShopError(f"Customer {customer_id} has already used discount code {code}.")
            if row["max_uses"] is not None:
                (uses,) = conn.execute("SELECT COUNT(*) FROM customer_discounts WHERE code = ?", (code,)).fetchone()
                if uses >= row["max_uses"]:
                    raise ShopError(f"Discount code {code} has reached its usage limit.")
            applied_at = now.isoformat(timespec="seconds")
            conn.execute(
                "INSERT INTO customer_discounts (customer_id, code, applied_at) VALUES (?, ?, ?)",
                (customer_id, code, applied_at),
            )
        return {
            "customer_id": customer_id,
            "code": code,
            "description": row["description"],
            "discount_type": row["discount_type"],
            "amount": row["amount"],
            "expires_at": row["expires_at"],
            "applied_at": applied_at,
        }

    # -- recommendations ----------------------------------------------------------------------

    def get_product_recommendations(
        self, customer_id: str, category: str | None = None, limit: int = 5
    ) -> Recommendations:
        """Products the customer has not bought yet, best sellers first.

        From the categories they bought from; from ``category`` when given; from the whole shop
        when they have bought nothing yet.

        Raises:
            ShopError: no such customer or category, or ``limit`` outside 1..20.
        """
        if not 1 <= limit <= MAX_RECOMMENDATIONS:
            raise ShopError(f"limit must be between 1 and {MAX_RECOMMENDATIONS}, not {limit}.")
        with db.transaction(self.db_path) as conn:
            _require_customer(conn, customer_id)
            if category is not None:
                categories = [row[0] for row in conn.execute("SELECT DISTINCT category FROM products")]
                if category not in categories:
                    raise ShopError(f"Unknown category {category!r}; choose one of {', '.join(sorted(categories))}.")
            bought_categories = [
                row[0]
                for row in conn.execute(
                    """SELECT DISTINCT p.category FROM orders o
                       JOIN order_items oi USING (order_id) JOIN products p USING (product_id)
                       WHERE o.customer_id = ? AND o.status != 'cancelled'""",
                    (customer_id,),
                )
            ]
            based_on: Literal["purchase_history", "category", "best_sellers"]
            scope: list[str] | None
            if category is not None:
                based_on, scope = "category", [category]
            elif bought_categories:
                based_on, scope = "purchase_history", bought_categories
            else:
                based_on, scope = "best_sellers", None
            rows = conn.execute(
                """
                WITH bought AS (
                    SELECT DISTINCT oi.product_id FROM orders o JOIN order_items oi USING (order_id)
                    WHERE o.customer_id = :customer AND o.status != 'cancelled'
                ), sold AS (
                    SELECT oi.product_id, SUM(oi.quantity) AS units FROM orders o
                    JOIN order_items oi USING (order_id)
                    WHERE o.status != 'cancelled' GROUP BY oi.product_id
                )
                SELECT p.product_id, p.name, p.category, p.price FROM products p
                LEFT JOIN sold USING (product_id)
                WHERE p.in_stock = 1
                  AND p.product_id NOT IN (SELECT product_id FROM bought)
                  AND (:scope IS NULL OR p.category IN (SELECT value FROM json_each(:scope)))
                ORDER BY COALESCE(sold.units, 0) DESC, p.price DESC, p.product_id
                LIMIT :limit""",
                {
                    "customer": customer_id,
                    "scope": json.dumps(scope) if scope is not None else None,
                    "limit": limit,
                },
            ).fetchall()
        return {
            "customer_id": customer_id,
            "based_on": based_on,
            "products": [
                {
                    "product_id": row["product_id"],
                    "name": row["name"],
                    "category": row["category"],
                    "price": row["price"],
                }
                for row in rows
            ],
        }


def _order_row(conn: sqlite3.Connection, order_id: str) -> sqlite3.Row:
    row: sqlite3.Row | None = conn.execute("SELECT * FROM orders WHERE order_id = ?", (order_id,)).fetchone()
    if row is None:
        raise ShopError(f"Order {order_id} not found")
    return row


def _require_customer(conn: sqlite3.Connection, customer_id: str) -> None:
    if conn.execute("SELECT 1 FROM customers WHERE customer_id = ?", (customer_id,)).fetchone() is None:
        raise ShopError(f"Customer {customer_id} not found")


def _order_status(row: sqlite3.Row) -> OrderStatus:
    return {
        "order_id": row["order_id"],
        "status": row["status"],
        "tracking_number": row["tracking_number"],
        "estimated_delivery": row["estimated_delivery"],
        "total_amount": row["total_amount"],
    }
