"""End-to-end demo: the e-commerce function server on loopback, called over both protocols.

``python -m examples.demo`` creates a sample SQLite database in a temporary directory, serves the
e-commerce example (:mod:`examples.ecommerce.server`) on a free loopback port, and then acts as
the platform would: lists the functions (``GET /tools``), calls them (``POST /call``) — including a
failing call — and does the same over the Model Context Protocol with the official ``mcp``
client. ``--keep-serving`` leaves the server running afterwards for your own ``curl`` or MCP
client.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import threading
from pathlib import Path
from typing import Any

import httpx
from mcp import Client
from mcp.types import TextContent

from .ecommerce.db import create_database
from .ecommerce.server import create_server
from .serving import serve_in_thread


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _heading(text: str) -> None:
    print(f"\n== {text}")


def show_tools(http: httpx.Client) -> None:
    _heading("GET /tools  (the functions an assistant can call)")
    response = http.get("/tools")
    response.raise_for_status()
    tools = response.json()["tools"]
    rows = [
        (
            tool["name"],
            ", ".join(
                name + ("" if name in tool["input_schema"].get("required", []) else "?")
                for name in tool["input_schema"].get("properties", {})
            ),
            tool.get("description", ""),
        )
        for tool in tools
    ]
    widths = [max(len(row[i]) for row in [("function", "arguments", ""), *rows]) for i in range(2)]
    print(f"  {'function':<{widths[0]}}  {'arguments':<{widths[1]}}  description")
    print(f"  {'-' * widths[0]}  {'-' * widths[1]}  {'-' * 11}")
    for name, arguments, description in rows:
        print(f"  {name:<{widths[0]}}  {arguments:<{widths[1]}}  {description}")
    print(f"  ({len(tools)} functions; '?' marks optional arguments)")


def call(http: httpx.Client, name: str, arguments: dict[str, Any], headers: dict[str, str] | None = None) -> Any:
    _heading(f"POST /call  {name} {_json(arguments)}")
    response = http.post("/call", json={"name": name, "arguments": arguments}, headers=headers)
    body = response.json()
    print(f"  HTTP {response.status_code}")
    print(f"  {_json(body)}")
    return body


async def over_mcp(mcp_url: str) -> None:
    _heading(f"MCP over Streamable HTTP  ({mcp_url}, official mcp client)")
    async with Client(mcp_url) as client:
        listed = await client.list_tools()
        print(f"  tools/list -> {', '.join(tool.name for tool in listed.tools)}")
        result = await client.call_tool("check_order_status", {"order_id": "ORD-001"})
        print(f"  tools/call check_order_status ORD-001 -> isError={result.is_error}")
        print(f"    structuredContent: {_json(result.structured_content)}")
        failed = await client.call_tool("check_order_status", {"order_id": "ORD-999"})
        texts = [part.text for part in failed.content if isinstance(part, TextContent)]
        print(f"  tools/call check_order_status ORD-999 -> isError={failed.is_error}: {' '.join(texts)}")


def run_demo(db_path: Path, keep_serving: bool) -> None:
    create_database(db_path)
    mcp = create_server(db_path)
    with serve_in_thread(mcp.app) as base_url:
        print("Plati demo: the guide's e-commerce functions served by plati_mcp")
        print(f"  database: {db_path}")
        print(f"  server:   {base_url}  (simple protocol: /tools, /call; MCP: /mcp)")
        with httpx.Client(base_url=base_url, timeout=10.0) as http:
            show_tools(http)
            conversation = {"X-Plati-Conversation": "demo-conversation"}
            call(http, "check_order_status", {"order_id": "ORD-001"}, conversation)
            call(
                http,
                "process_return",
                {"order_id": "ORD-003", "reason": "Shoes are a size too small", "items": ["P-401"]},
                conversation,
            )
            call(
                http,
                "apply_discount",
                {"customer_id": "CUST-001", "discount_code": "WELCOME10"},
                conversation,
            )
            call(http, "get_product_recommendations", {"customer_id": "CUST-001", "limit": 3}, conversation)
            print("\n  The next call fails on purpose: the function reports the error, the server stays up.")
            call(http, "check_order_status", {"order_id": "ORD-999"}, conversation)
            print("\n  And arguments that do not fit the schema are refused with details:")
            call(http, "get_product_recommendations", {"customer_id": "CUST-001", "limit": 500})
        asyncio.run(over_mcp(f"{base_url}/mcp"))
        if keep_serving:
            print(f"\nServing at {base_url}  (MCP: {base_url}/mcp). Press Ctrl-C to stop.", flush=True)
            try:
                threading.Event().wait()
            except KeyboardInterrupt:
                print("\nStopping.")
        else:
            print("\nDemo finished. Run with --keep-serving to keep the server up.")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Run the plati_mcp end-to-end demo.")
    parser.add_argument("--keep-serving", action="store_true", help="keep the server up after the demo")
    parser.add_argument("--db", type=Path, help="use this SQLite file instead of a temporary one")
    args = parser.parse_args(argv)
    if args.db is not None:
        run_demo(args.db, args.keep_serving)
        return
    with tempfile.TemporaryDirectory(prefix="plati-demo-") as tmp:
        run_demo(Path(tmp) / "orders.db", args.keep_serving)


if __name__ == "__main__":
    main()
