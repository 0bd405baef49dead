"""The guide's "MCP SDK" example, written with plati_mcp and backed by the shop's SQLite database.

It keeps the guide's compact ``parameters=`` form::

    python -m examples.order_server --db orders.db --port 5000
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from plati_mcp import MCP, FunctionError

from .ecommerce.db import create_database
from .ecommerce.store import Shop, ShopError


def create_server(db_path: str | Path, **mcp_kwargs: Any) -> MCP:
    """The two functions of the guide's SDK example over the database at ``db_path``."""
    shop = Shop(db_path)
    mcp = MCP(name="Order Management", **mcp_kwargs)

    @mcp.function(
        name="check_order_status",
        description="Check order status and tracking",
        parameters={"order_id": {"type": "string", "required": True}},
    )
    def check_order_status(order_id: str) -> dict[str, Any]:
        try:
            order = shop.check_order_status(order_id)
        except ShopError as exc:
            raise FunctionError(str(exc)) from exc
        return {"status": order["status"], "tracking": order["tracking_number"]}

    @mcp.function(
        name="process_return",
        description="Process a return request",
        parameters={
            "order_id": {"type": "string", "required": True},
            "reason": {"type": "string", "required": True, "minLength": 1},
        },
    )
    def process_return(order_id: str, reason: str) -> dict[str, Any]:
        try:
            receipt = shop.process_return(order_id, reason)
        except ShopError as exc:
            raise FunctionError(str(exc)) from exc
        return {"return_id": receipt["return_id"], "status": receipt["status"]}

    return mcp


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Serve the guide's Order Management example.")
    parser.add_argument("--db", default="orders.db", help="SQLite file (created with sample data if missing)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5000)
    args = parser.parse_args(argv)
    create_database(args.db)
    create_server(args.db).run(host=args.host, port=args.port)


if __name__ == "__main__":
    main()
