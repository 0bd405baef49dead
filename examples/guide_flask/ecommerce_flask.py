"""The guide's "E-commerce Integration" server, written by hand in the guide's Flask style (no SDK).

It keeps the guide's shape — ``@app.route('/tools')`` returning hand-written schemas,
``@app.route('/call', methods=['POST'])`` dispatching through a function map, ``jsonify`` replies —
and fixes what the guide leaves as an exercise: arguments are checked against the schemas, every
function is implemented over the same SQLite database and business rules as the SDK example
(:mod:`examples.ecommerce.store`), and the guide's bearer-token check is on when a token is set.
It is the baseline for compatibility tests and benchmarks::

    python -m examples.guide_flask.ecommerce_flask --db orders.db --port 5000
"""

from __future__ import annotations

import argparse
import secrets
from pathlib import Path
from typing import Any

import jsonschema
from flask import Flask, jsonify, request
from flask.typing import ResponseReturnValue

from ..ecommerce.db import create_database
from ..ecommerce.store import MAX_RECOMMENDATIONS, Shop, ShopError

TOOLS: list[dict[str, Any]] = [
    {
        "name": "check_order_status",
        "description": "Get current order status and tracking info",
        "input_schema": {
            "type": "object",
            "properties": {"order_id": {"type": "string"}},
            "required": ["order_id"],
        },
    },
    {
        "name": "process_return",
        "description": "Initiate a return for an order",
        "input_schema": {
            "type": "object",
            "properties": {
                "order_id": {"type": "string"},
                "reason": {"type": "string", "minLength": 1},
                "items": {"type": "array", "items": {"type": "string"}},
            },
            "required": ["order_id", "reason"],
        },
    },
    {
        "name": "apply_discount",
        "description": "Apply a discount code to customer account",
        "input_schema": {
            "type": "object",
            "properties": {"customer_id": {"type": "string"}, "discount_code": {"type": "string"}},
            "required": ["customer_id", "discount_code"],
        },
    },
    {
        "name": "get_product_recommendations",
        "description": "Get personalized product recommendations",
        "input_schema": {
            "type": "object",
            "properties": {
                "customer_id": {"type": "string"},
                "category": {"type": "string"},
                "limit": {"type": "integer", "default": 5, "minimum": 1, "maximum": MAX_RECOMMENDATIONS},
            },
            "required": ["customer_id"],
        },
    },
]

TOOLS_BY_NAME = {tool["name"]: tool for tool in TOOLS}
VALIDATORS = {tool["name"]: jsonschema.Draft202012Validator(tool["input_schema"]) for tool in TOOLS}


def create_app(db_path: str | Path, api_token: str | None = None) -> Flask:
    """The guide's Flask server over the shop database at ``db_path``.

    With ``api_token``, ``/tools`` and ``/call`` require ``Authorization: Bearer <api_token>``.
    """
    app = Flask(__name__)
    shop = Shop(db_path)

    @app.before_request
    def authenticate() -> ResponseReturnValue | None:
        if api_token is None or request.endpoint not in ("call", "tools"):
            return None
        auth_header = request.headers.get("Authorization", "")
        if not secrets.compare_digest(auth_header.encode(), f"Bearer {api_token}".encode()):
            return jsonify({"error": "Unauthorized"}), 401
        return None

    @app.route("/tools", methods=["GET"])
    def tools() -> ResponseReturnValue:
        return jsonify({"tools": TOOLS})

    @app.route("/call", methods=["POST"])
    def call() -> ResponseReturnValue:
        data = request.get_json(silent=True)
        if not isinstance(data, dict) or not isinstance(data.get("name"), str):
            return jsonify({"success": False, "error": 'Body must be {"name": ..., "arguments": {...}}'}), 400
        function_name = data["name"]
        arguments = data.get("arguments") or {}

        function_map = {
            "check_order_status": check_order_status,
            "process_return": process_return,
            "apply_discount": apply_discount,
            "get_product_recommendations": get_product_recommendations,
        }
        if function_name not in function_map:
            return jsonify({"error": "Function not found"}), 404

        problems = _problems(function_name, arguments)
        if problems:
            summary = "; ".join(f"{p['field']}: {p['message']}" for p in problems)
            return jsonify({"success": False, "error": f"Invalid arguments: {summary}", "details": problems}), 400
        try:
            return jsonify({"success": True, "data": function_map[function_name](arguments)})
        except ShopError as e:
            return jsonify({"success": False, "error": str(e)})

    def check_order_status(args: dict[str, Any]) -> Any:
        return shop.check_order_status(args["order_id"])

    def process_return(args: dict[str, Any]) -> Any:
        return shop.process_return(args["order_id"], args["reason"], args.get("items"))

    def apply_discount(args: dict[str, Any]) -> Any:
        return shop.apply_discount(args["customer_id"], args["discount_code"])

    def get_product_recommendations(args: dict[str, Any]) -> Any:
        return shop.get_product_recommendations(args["customer_id"], args.get("category"), args.get("limit", 5))

    return app


def _problems(function_name: str, arguments: Any) -> list[dict[str, str]]:
    """Every way the arguments miss the function's schema, one entry per field."""
    validator = VALIDATORS[function_name]
    problems = []
    for error in validator.iter_errors(arguments):
        if error.validator == "required":
            continue  # reported below, naming each missing field
        problems.append({"field": ".".join(str(part) for part in error.absolute_path), "message": error.message})
    if isinstance(arguments, dict):
        for name in TOOLS_BY_NAME[function_name]["input_schema"].get("required", []):
            if name not in arguments:
                problems.append({"field": name, "message": "Field required"})
    return problems


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Serve the guide's Flask e-commerce example.")
    parser.add_argument("--db", default="orders.db", help="SQLite file (created with sample data if missing)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5000)
    parser.add_argument("--token", help="require this bearer token")
    args = parser.parse_args()
    create_database(args.db)
    create_app(args.db, api_token=args.token).run(host=args.host, port=args.port)
