"""The guide's e-commerce function server, built with the SDK and backed by SQLite.

Run it::

    python -m examples.ecommerce.server --db orders.db --port 5000

then ``curl http://127.0.0.1:5000/tools`` or point an MCP client at ``http://127.0.0.1:5000/mcp``.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field

from plati_mcp import MCP, FunctionError

from .db import create_database
from .store import (
    MAX_RECOMMENDATIONS,
    AppliedDiscount,
    OrderStatus,
    Recommendations,
    ReturnReceipt,
    Shop,
    ShopError,
)

OrderId = Annotated[str, Field(description="The order id, e.g. ORD-001", min_length=1, max_length=64)]
CustomerId = Annotated[str, Field(description="The customer id, e.g. CUST-001", min_length=1, max_length=64)]


@contextmanager
def shop_errors() -> Iterator[None]:
    """Turn the shop's refusals into failures the caller sees."""
    try:
        yield
    except ShopError as exc:
        raise FunctionError(str(exc)) from exc


def create_server(db_path: str | Path, **mcp_kwargs: Any) -> MCP:
    """The e-commerce server over the database at ``db_path`` (which must already exist).

    ``mcp_kwargs`` go to :class:`plati_mcp.MCP` (``auth_tokens=``, ``rate_limit=``, ...).
    """
    shop = Shop(db_path)
    mcp_kwargs.setdefault("version", "1.0.0")
    mcp_kwargs.setdefault(
        "instructions",
        "Order management for the shop: order status and tracking, returns, discount codes and "
        "product recommendations. Ask for the order or customer id when you do not have it.",
    )
    mcp = MCP(name="E-commerce", **mcp_kwargs)

    @mcp.function
    def check_order_status(order_id: OrderId) -> OrderStatus:
        """Get current order status and tracking info."""
        with shop_errors():
            return shop.check_order_status(order_id)

    @mcp.function
    def process_return(
        order_id: OrderId,
        reason: Annotated[str, Field(description="Why the customer returns the order", min_length=1)],
        items: Annotated[
            list[str] | None,
            Field(description="Product ids to return, e.g. P-101; leave out to return the whole order"),
        ] = None,
    ) -> ReturnReceipt:
        """Initiate a return for a shipped or delivered order."""
        with shop_errors():
            return shop.process_return(order_id, reason, items)

    @mcp.function
    def apply_discount(
        customer_id: CustomerId,
        discount_code: Annotated[str, Field(description="The code, e.g. WELCOME10", min_length=1)],
    ) -> AppliedDiscount:
        """Apply a discount code to a customer account."""
        with shop_errors():
            return shop.apply_discount(customer_id, discount_code)

    @mcp.function
    def get_product_recommendations(
        customer_id: CustomerId,
        category: Annotated[str | None, Field(description="Only recommend from this category, e.g. books")] = None,
        limit: Annotated[int, Field(description="How many products to return", ge=1, le=MAX_RECOMMENDATIONS)] = 5,
    ) -> Recommendations:
        """Get personalized product recommendations from the customer's purchase history."""
        with shop_errors():
            return shop.get_product_recommendations(customer_id, category, limit)

    return mcp


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Serve the e-commerce example functions.")
    parser.add_argument("--db", default="orders.db", help="SQLite file (created with sample data if missing)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5000)
    parser.add_argument("--token", action="append", help="accept this bearer token (repeatable)")
    args = parser.parse_args(argv)
    create_database(args.db)
    mcp = create_server(args.db, auth_tokens=args.token)
    mcp.run(host=args.host, port=args.port)


if __name__ == "__main__":
    main()
