"""The guide's "async functions" pattern: a long report generated in the background.

``generate_report`` answers at once with a ``task_id`` (``{"success": true, "task_id": ...}``);
the report is built afterwards from the shop's SQLite data, reporting progress after each step,
and is fetched with ``GET /tasks/{task_id}`` (or pushed to ``X-Plati-Callback-Url``)::

    python -m examples.advanced.reports --db orders.db --port 5000
"""

from __future__ import annotations

import argparse
import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Literal

import anyio.to_thread
from pydantic import Field

from plati_mcp import MCP, Context

from ..ecommerce import db

Since = Annotated[
    str | None,
    Field(description="Only orders placed on or after this date (YYYY-MM-DD)", pattern=r"^\d{4}-\d{2}-\d{2}$"),
]
Step = Callable[[sqlite3.Connection, str], tuple[str, Any]]


def _sales_totals(conn: sqlite3.Connection, since: str) -> tuple[str, Any]:
    row = conn.execute(
        """SELECT COUNT(*) AS orders, COALESCE(SUM(total_amount), 0) AS revenue
           FROM orders WHERE status != 'cancelled' AND created_at >= ?""",
        (since,),
    ).fetchone()
    orders, revenue = row["orders"], round(row["revenue"], 2)
    average = round(revenue / orders, 2) if orders else 0.0
    return "totals", {"orders": orders, "revenue": revenue, "average_order_value": average}


def _sales_by_category(conn: sqlite3.Connection, since: str) -> tuple[str, Any]:
    rows = conn.execute(
        """SELECT p.category, SUM(oi.quantity) AS units, ROUND(SUM(oi.quantity * oi.unit_price), 2) AS revenue
           FROM orders o JOIN order_items oi USING (order_id) JOIN products p USING (product_id)
           WHERE o.status != 'cancelled' AND o.created_at >= ?
           GROUP BY p.category ORDER BY revenue DESC, p.category""",
        (since,),
    ).fetchall()
    return "by_category", [dict(row) for row in rows]


def _top_products(conn: sqlite3.Connection, since: str) -> tuple[str, Any]:
    rows = conn.execute(
        """SELECT oi.product_id, p.name, SUM(oi.quantity) AS units,
                  ROUND(SUM(oi.quantity * oi.unit_price), 2) AS revenue
           FROM orders o JOIN order_items oi USING (order_id) JOIN products p USING (product_id)
           WHERE o.status != 'cancelled' AND o.created_at >= ?
           GROUP BY oi.product_id ORDER BY revenue DESC, oi.product_id LIMIT 5""",
        (since,),
    ).fetchall()
    return "top_products", [dict(row) for row in rows]


def _returns_totals(conn: sqlite3.Connection, since: str) -> tuple[str, Any]:
    row = conn.execute(
        """SELECT COUNT(DISTINCT r.order_id) AS returned_orders,
                  (SELECT COUNT(*) FROM orders WHERE status IN ('shipped', 'delivered', 'completed')
                   AND created_at >= :since) AS eligible_orders,
                  COUNT(r.return_id) AS returns
           FROM returns r JOIN orders o USING (order_id) WHERE o.created_at >= :since""",
        {"since": since},
    ).fetchone()
    eligible = row["eligible_orders"]
    rate = round(row["returned_orders"] / eligible, 4) if eligible else 0.0
    return "totals", {
        "returns": row["returns"],
        "returned_orders": row["returned_orders"],
        "return_rate": rate,
    }


def _returns_by_status(conn: sqlite3.Connection, since: str) -> tuple[str, Any]:
    rows = conn.execute(
        """SELECT r.status, COUNT(*) AS returns FROM returns r JOIN orders o USING (order_id)
           WHERE o.created_at >= ? GROUP BY r.status ORDER BY r.status""",
        (since,),
    ).fetchall()
    return "by_status", {row["status"]: row["returns"] for row in rows}


def _returns_by_reason(conn: sqlite3.Connection, since: str) -> tuple[str, Any]:
    rows = conn.execute(
        """SELECT LOWER(TRIM(r.reason)) AS reason, COUNT(*) AS returns FROM returns r
           JOIN orders o USING (order_id) WHERE o.created_at >= ?
           GROUP BY LOWER(TRIM(r.reason)) ORDER BY returns DESC, reason LIMIT 10""",
        (since,),
    ).fetchall()
    return "top_reasons", [dict(row) for row in rows]


STEPS: dict[str, list[tuple[str, Step]]] = {
    "sales": [
        ("Totals", _sales_totals),
        ("Revenue by category", _sales_by_category),
        ("Top products", _top_products),
    ],
    "returns": [
        ("Totals", _returns_totals),
        ("Returns by status", _returns_by_status),
        ("Top reasons", _returns_by_reason),
    ],
}


def create_server(db_path: str | Path, **mcp_kwargs: Any) -> MCP:
    """The background report function over the shop database at ``db_path``."""
    mcp = MCP(name="Reports", **mcp_kwargs)

    @mcp.function(background=True)
    async def generate_report(kind: Literal["sales", "returns"], ctx: Context, since: Since = None) -> dict[str, Any]:
        """Generate a sales or returns report from the shop's data (runs in the background)."""
        steps = STEPS[kind]
        report: dict[str, Any] = {
            "kind": kind,
            "since": since,
            "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        lower_bound = since or ""
        for done, (label, step) in enumerate(steps):
            await ctx.report_progress(done, len(steps), f"{label}...")
            key, value = await anyio.to_thread.run_sync(_run_step, db_path, step, lower_bound)
            report[key] = value
        await ctx.report_progress(len(steps), len(steps), "Report ready")
        return report

    return mcp


def _run_step(db_path: str | Path, step: Step, since: str) -> tuple[str, Any]:
    with db.transaction(db_path) as conn:
        return step(conn, since)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Serve the background report example.")
    parser.add_argument("--db", default="orders.db", help="SQLite file (created with sample data if missing)")
    parser.add_argument("--callback-secret", help="shared secret signing task callbacks")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5000)
    args = parser.parse_args(argv)
    db.create_database(args.db)
    create_server(args.db, callback_secret=args.callback_secret).run(host=args.host, port=args.port)


if __name__ == "__main__":
    main()
