"""The guide's "stateful functions" pattern with ``ctx.state``.

``get_order_history`` remembers, per conversation, what it was asked and which orders it showed;
``get_last_order_details`` answers follow-ups such as "tell me more about the second one" from
that memory, without the model having to repeat ids. The state lives in the SDK's per-conversation
store (in memory, or Redis with ``redis_url=``), keyed by the ``X-Plati-Conversation`` header::

    python -m examples.advanced.stateful --db orders.db --port 5000
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field
from typing_extensions import TypedDict

from plati_mcp import MCP, Context, FunctionError

from ..ecommerce.db import create_database
from ..ecommerce.store import OrderDetails, OrderStatus, Shop, ShopError

HISTORY_KEY = "order_history"


class OrderHistory(TypedDict):
    customer_id: str
    orders: list[OrderStatus]


class LastQuery(TypedDict):
    function: str
    customer_id: str
    status: str | None
    order_ids: list[str]
    at: str


def create_server(db_path: str | Path, **mcp_kwargs: Any) -> MCP:
    """Stateful order-history functions over the shop database at ``db_path``."""
    shop = Shop(db_path)
    mcp = MCP(name="Order History", **mcp_kwargs)

    @mcp.function
    def get_order_history(
        customer_id: Annotated[str, Field(description="The customer id, e.g. CUST-001", min_length=1)],
        ctx: Context,
        status: Literal["processing", "shipped", "delivered", "completed", "cancelled"] | None = None,
        limit: Annotated[int, Field(ge=1, le=50)] = 10,
    ) -> OrderHistory:
        """List a customer's orders, newest first, and remember them for follow-up questions."""
        try:
            orders = shop.list_orders(customer_id, status=status, limit=limit)
        except ShopError as exc:
            raise FunctionError(str(exc)) from exc
        last: LastQuery = {
            "function": "get_order_history",
            "customer_id": customer_id,
            "status": status,
            "order_ids": [order["order_id"] for order in orders],
            "at": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        ctx.state[HISTORY_KEY] = dict(last)
        return {"customer_id": customer_id, "orders": orders}

    @mcp.function
    def get_last_order_details(
        ctx: Context,
        position: Annotated[
            int, Field(description="Which order of the last history shown, 1 = the first (newest)", ge=1)
        ] = 1,
    ) -> OrderDetails:
        """Details (items included) of an order from the history shown earlier in this conversation."""
        last = ctx.state.get(HISTORY_KEY)
        if not last:
            raise FunctionError("No order history in this conversation yet; call get_order_history first.")
        order_ids: list[str] = last["order_ids"]
        if not order_ids:
            raise FunctionError(f"The last order history for {last['customer_id']} was empty.")
        if position > len(order_ids):
            raise FunctionError(
                f"The last order history has {len(order_ids)} order(s); choose a position from 1 to {len(order_ids)}."
            )
        try:
            return shop.get_order_details(order_ids[position - 1])
        except ShopError as exc:
            raise FunctionError(str(exc)) from exc

    return mcp


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Serve the stateful order-history example.")
    parser.add_argument("--db", default="orders.db", help="SQLite file (created with sample data if missing)")
    parser.add_argument("--redis-url", help="keep conversation state in Redis, e.g. redis://localhost:6379/0")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5000)
    args = parser.parse_args(argv)
    create_database(args.db)
    create_server(args.db, redis_url=args.redis_url).run(host=args.host, port=args.port)


if __name__ == "__main__":
    main()
