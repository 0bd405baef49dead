"""The five servers the benchmark compares, all doing the same tiny piece of work.

Each is started in its own process by ``bench_sdk.py`` as::

    python bench/targets.py TARGET PORT [HTTP LOOP]

ASGI targets are served by uvicorn with one shared configuration (:func:`uvicorn_options`: HTTP
parser and event loop as given, the rest fixed); the Flask target is served the way the guide
serves it, ``app.run()`` (werkzeug's threaded server), whatever HTTP/LOOP say.
"""

from __future__ import annotations

import importlib.util
import logging
import sys
from typing import Any

ORDERS: dict[str, dict[str, str]] = {
    "ORD-001": {"status": "shipped", "tracking": "1Z999AA10123456784"},
    "ORD-002": {"status": "processing", "tracking": ""},
    "ORD-003": {"status": "delivered", "tracking": "1Z999AA10123456799"},
}
TOOL_NAME = "check_order_status"
SYNC_TOOL_NAME = "check_order_status_sync"
ORDER_ID = "ORD-001"
EXPECTED = {"order_id": ORDER_ID, **ORDERS[ORDER_ID]}

# The same for every ASGI target. lifespan "on" because the official server starts its session
# manager there; logging at WARNING and no access log so no target pays for a line per request.
UVICORN_OPTIONS: dict[str, Any] = {
    "lifespan": "on",
    "log_level": "warning",
    "access_log": False,
}


def fast_stack_installed() -> bool:
    """httptools and uvloop, which ``uvicorn[standard]`` installs."""
    return all(importlib.util.find_spec(name) is not None for name in ("httptools", "uvloop"))


def default_http_loop(http: str | None = None, loop: str | None = None) -> tuple[str, str]:
    """httptools + uvloop when installed, else h11 + asyncio; ``h11`` alone means the old setup."""
    if http is None:
        http = "httptools" if fast_stack_installed() else "h11"
    if loop is None:
        loop = "uvloop" if http == "httptools" and importlib.util.find_spec("uvloop") is not None else "asyncio"
    return http, loop


def uvicorn_options(http: str, loop: str) -> dict[str, Any]:
    return {"http": http, "loop": loop, **UVICORN_OPTIONS}


def lookup(order_id: str) -> dict[str, str]:
    """The work every target does: one dict lookup, one small dict back."""
    order = ORDERS[order_id]
    return {"order_id": order_id, "status": order["status"], "tracking": order["tracking"]}


def plati_app() -> Any:
    """The SDK: an async function (no thread hop) and a sync variant of the same work."""
    from plati_mcp import MCP

    mcp = MCP(name="bench")

    @mcp.function
    async def check_order_status(order_id: str) -> dict[str, str]:
        """Check order status and tracking."""
        return lookup(order_id)

    @mcp.function
    def check_order_status_sync(order_id: str) -> dict[str, str]:
        """Check order status and tracking (sync)."""
        return lookup(order_id)

    return mcp.app


def starlette_app() -> Any:
    """The floor: one Starlette route that parses JSON, looks up and answers JSONResponse."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def call(request: Request) -> JSONResponse:
        body = await request.json()
        if body.get("name") != TOOL_NAME:
            return JSONResponse({"error": "Function not found"}, status_code=404)
        return JSONResponse({"success": True, "data": lookup(**body.get("arguments", {}))})

    return Starlette(routes=[Route("/call", call, methods=["POST"])])


def official_app() -> Any:
    """The official ``mcp`` package's MCPServer, stateless with JSON responses."""
    from mcp.server.mcpserver import MCPServer

    # WARNING like the other targets' logging: its INFO default would log per request.
    srv = MCPServer("bench", log_level="WARNING")

    @srv.tool()
    async def check_order_status(order_id: str) -> dict[str, str]:
        """Check order status and tracking."""
        return lookup(order_id)

    return srv.streamable_http_app(stateless_http=True, json_response=True)


def flask_app() -> Any:
    """The guide's Flask style: a function map, ``request.get_json()`` and ``jsonify``."""
    from flask import Flask, jsonify, request

    app = Flask(__name__)

    def check_order_status(params: dict[str, Any]) -> dict[str, str]:
        return lookup(params["order_id"])

    function_map = {TOOL_NAME: check_order_status}

    @app.route("/call", methods=["POST"])
    def call_function() -> Any:
        data = request.get_json()
        function_name = data.get("name")
        arguments = data.get("arguments", {})
        if function_name not in function_map:
            return jsonify({"error": "Function not found"}), 404
        try:
            return jsonify({"success": True, "data": function_map[function_name](arguments)})
        except Exception as e:  # the guide's shape: any failure becomes success: false
            return jsonify({"success": False, "error": str(e)})

    return app


ASGI_APPS = {"plati": plati_app, "starlette": starlette_app, "official": official_app}


def serve(target: str, port: int, http: str, loop: str) -> None:
    if target == "flask":
        # No per-request log line, like uvicorn's access_log=False for the others.
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        flask_app().run(host="127.0.0.1", port=port, threaded=True)
        return
    import uvicorn

    uvicorn.run(ASGI_APPS[target](), host="127.0.0.1", port=port, **uvicorn_options(http, loop))


if __name__ == "__main__":
    argv = [*sys.argv[1:], None, None]
    serve(argv[0], int(argv[1]), *default_http_loop(argv[2], argv[3]))
