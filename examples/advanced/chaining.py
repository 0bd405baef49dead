"""The guide's "function chaining" pattern with ``await ctx.call(...)``.

``process_order_issue`` resolves a complaint in one call by chaining three functions of the same
server — ``get_order_details`` → ``check_refund_eligibility`` → ``process_refund`` — with the same
validation as an outside call and no HTTP hop. Refunds are stored in the shop's SQLite database
(``refunds`` table); a retried call (same ``Idempotency-Key``) never refunds twice::

    python -m examples.advanced.chaining --db orders.db --port 5000
"""

from __future__ import annotations

import argparse
import secrets
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Literal, NotRequired

from pydantic import Field
from typing_extensions import TypedDict

from plati_mcp import MCP, Context, FunctionError

from ..ecommerce import db
from ..ecommerce.store import OrderDetails, Shop, ShopError

REFUNDABLE_STATUSES = ("delivered", "completed")

OrderId = Annotated[str, Field(description="The order id, e.g. ORD-003", min_length=1, max_length=64)]


class Eligibility(TypedDict):
    order_id: str
    eligible: bool
    reason: str
    refundable_amount: float


class Refund(TypedDict):
    refund_id: str
    order_id: str
    amount: float
    status: str


class IssueResolution(TypedDict):
    order_id: str
    resolution: Literal["refunded", "not_eligible"]
    actions_taken: list[str]
    reason: str
    refund_id: NotRequired[str]
    refund_amount: NotRequired[float]


def create_server(db_path: str | Path, **mcp_kwargs: Any) -> MCP:
    """Order-issue functions over the shop database at ``db_path``."""
    shop = Shop(db_path)
    mcp = MCP(name="Order Issues", **mcp_kwargs)

    @mcp.function
    def get_order_details(order_id: OrderId) -> OrderDetails:
        """Get an order with its items."""
        try:
            return shop.get_order_details(order_id)
        except ShopError as exc:
            raise FunctionError(str(exc)) from exc

    @mcp.function
    def check_refund_eligibility(order_id: OrderId) -> Eligibility:
        """Check whether an order can be refunded, and how much is left to refund."""
        with db.transaction(db_path) as conn:
            return _eligibility(conn, order_id)

    @mcp.function
    def process_refund(
        order_id: OrderId,
        reason: Annotated[str, Field(description="Why the order is refunded", min_length=1)],
        ctx: Context,
        amount: Annotated[
            float | None, Field(description="Amount to refund; leave out to refund what is left", gt=0)
        ] = None,
    ) -> Refund:
        """Refund an eligible order, in full or in part."""
        key = ctx.idempotency_key
        with db.transaction(db_path, write=True) as conn:
            if key is not None:
                previous = conn.execute(
                    "SELECT refund_id, order_id, amount, status FROM refunds WHERE idempotency_key = ?",
                    (key,),
                ).fetchone()
                if previous is not None:  # a retry of a call that already refunded
                    return _refund(previous)
            eligibility = _eligibility(conn, order_id)
            if not eligibility["eligible"]:
                raise FunctionError(eligibility["reason"])
            left = eligibility["refundable_amount"]
            to_refund = round(amount if amount is not None else left, 2)
            if to_refund > left:
                raise FunctionError(f"Only {left:.2f} of order {order_id} can still be refunded, not {to_refund:.2f}.")
            refund_id = f"REF-{secrets.token_hex(4).upper()}"
            conn.execute(
                """INSERT INTO refunds
                       (refund_id, order_id, amount, reason, status, idempotency_key, created_at)
                   VALUES (?, ?, ?, ?, 'processed', ?, ?)""",
                (
                    refund_id,
                    order_id,
                    to_refund,
                    reason,
                    key,
                    datetime.now(UTC).isoformat(timespec="seconds"),
                ),
            )
        return {"refund_id": refund_id, "order_id": order_id, "amount": to_refund, "status": "processed"}

    @mcp.function
    async def process_order_issue(
        order_id: OrderId,
        issue: Annotated[str, Field(description="What went wrong, in the customer's words", min_length=1)],
        ctx: Context,
    ) -> IssueResolution:
        """Resolve a problem with a delivered order: look it up, check eligibility, refund it."""
        order: OrderDetails = await ctx.call("get_order_details", order_id=order_id)
        actions = [f"Retrieved order details ({len(order['items'])} item(s), {order['status']})"]
        eligibility: Eligibility = await ctx.call("check_refund_eligibility", order_id=order_id)
        actions.append("Verified refund eligibility")
        if not eligibility["eligible"]:
            return {
                "order_id": order_id,
                "resolution": "not_eligible",
                "actions_taken": actions,
                "reason": eligibility["reason"],
            }
        refund: Refund = await ctx.call("process_refund", order_id=order_id, reason=issue)
        actions.append("Processed refund")
        return {
            "order_id": order_id,
            "resolution": "refunded",
            "actions_taken": actions,
            "reason": eligibility["reason"],
            "refund_id": refund["refund_id"],
            "refund_amount": refund["amount"],
        }

    return mcp


def _eligibility(conn: sqlite3.Connection, order_id: str) -> Eligibility:
    order = conn.execute("SELECT status, total_amount FROM orders WHERE order_id = ?", (order_id,)).fetchone()
    if order is None:
        raise FunctionError(f"Order {order_id} not found")
    (refunded,) = conn.execute(
        "SELECT COALESCE(SUM(amount), 0) FROM refunds WHERE order_id = ? AND status = 'processed'",
        (order_id,),
    ).fetchone()
    left = round(order["total_amount"] - refunded, 2)
    if order["status"] not in REFUNDABLE_STATUSES:
        eligible, reason = (
            False,
            f"Order {order_id} is {order['status']}; only delivered orders can be refunded.",
        )
    elif left <= 0:
        eligible, reason = False, f"Order {order_id} has already been refunded in full."
    else:
        eligible, reason = True, f"Order {order_id} was {order['status']} and {left:.2f} is refundable."
    return {"order_id": order_id, "eligible": eligible, "reason": reason, "refundable_amount": max(left, 0.0)}


def _refund(row: sqlite3.Row) -> Refund:
    return {
        "refund_id": row["refund_id"],
        "order_id": row["order_id"],
        "amount": row["amount"],
        "status": row["status"],
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Serve the function-chaining example.")
    parser.add_argument("--db", default="orders.db", help="SQLite file (created with sample data if missing)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5000)
    args = parser.parse_args(argv)
    db.create_database(args.db)
    create_server(args.db).run(host=args.host, port=args.port)


if __name__ == "__main__":
    main()
