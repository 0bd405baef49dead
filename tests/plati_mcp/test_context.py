"""Context: caller metadata from the X-Plati-* headers, per-conversation state (memory and
Redis), and chaining with ctx.call."""

from __future__ import annotations

import uuid

import pytest

from plati_mcp import MCP, ArgumentsInvalid, Context, FunctionError, FunctionTestClient
from tests.conftest import REDIS_URL, requires_redis


def build(**options) -> MCP:
    mcp = MCP(name="ctx", **options)

    @mcp.function
    def whoami(ctx: Context) -> dict:
        return {
            "workspace": ctx.workspace_id,
            "assistant": ctx.assistant_id,
            "conversation": ctx.conversation_id,
            "identity": ctx.identity_id,
            "request": ctx.request_id,
            "idempotency": ctx.idempotency_key,
        }

    @mcp.function
    def get_order_history(customer_id: str, ctx: Context) -> list[str]:
        orders = [f"{customer_id}-ORD-1", f"{customer_id}-ORD-2"]
        ctx.state["last_query"] = "order_history"
        ctx.state["orders"] = orders
        return orders

    @mcp.function
    def last_query(ctx: Context) -> dict:
        return {"last_query": ctx.state.get("last_query"), "orders": ctx.state.get("orders", [])}

    @mcp.function
    def forget(ctx: Context) -> None:
        del ctx.state["orders"]

    return mcp


CONTEXT_HEADERS = {
    "X-Plati-Workspace": "ws_1",
    "X-Plati-Assistant": "asst_1",
    "X-Plati-Conversation": "conv_1",
    "X-Plati-Identity": "test_user",
    "X-Plati-Request-Id": "req_1",
    "Idempotency-Key": "call_1",
}


def test_caller_metadata_comes_from_the_context_headers() -> None:
    result = build().test_client().call("whoami", {}, headers=CONTEXT_HEADERS)
    assert result.data == {
        "workspace": "ws_1",
        "assistant": "asst_1",
        "conversation": "conv_1",
        "identity": "test_user",
        "request": "req_1",
        "idempotency": "call_1",
    }


@pytest.mark.parametrize("store", ["memory", pytest.param("redis", marks=requires_redis)])
def test_state_is_kept_per_conversation_across_calls(store: str) -> None:
    mcp = build(redis_url=REDIS_URL if store == "redis" else None)
    with mcp.test_client() as client:
        _check_state_round_trip(client)


def _check_state_round_trip(client: FunctionTestClient) -> None:
    conversation = f"conv-{uuid.uuid4().hex}"
    first = {"X-Plati-Conversation": conversation}
    other = {"X-Plati-Conversation": f"{conversation}-other"}

    client.call("get_order_history", {"customer_id": "CUST-1"}, headers=first)
    assert client.call("last_query", {}, headers=first).data == {
        "last_query": "order_history",
        "orders": ["CUST-1-ORD-1", "CUST-1-ORD-2"],
    }
    assert client.call("last_query", {}, headers=other).data == {"last_query": None, "orders": []}

    client.call("forget", {}, headers=first)
    assert client.call("last_query", {}, headers=first).data == {"last_query": "order_history", "orders": []}


def test_calls_without_a_conversation_get_a_state_that_is_not_kept() -> None:
    client = build().test_client()
    client.call("get_order_history", {"customer_id": "CUST-1"})
    assert client.call("last_query", {}).data == {"last_query": None, "orders": []}


def test_chaining_runs_other_functions_with_validation_and_shared_state() -> None:
    mcp = MCP()
    refunds: list[str] = []

    @mcp.function
    def get_order_details(order_id: str) -> dict:
        if order_id == "ORD-404":
            raise FunctionError(f"Order {order_id} not found")
        return {"order_id": order_id, "status": "delivered"}

    @mcp.function
    def process_refund(order_id: str, ctx: Context) -> dict:
        refunds.append(order_id)
        ctx.state["refunded"] = order_id
        return {"refund_id": f"REF-{order_id}"}

    @mcp.function
    async def process_order_issue(order_id: str, ctx: Context) -> dict:
        order = await ctx.call("get_order_details", order_id=order_id)
        actions = ["Retrieved order details"]
        if order["status"] in ("delivered", "completed"):
            actions.append("Verified refund eligibility")
            refund = await ctx.call("process_refund", order_id=order_id)
            actions.append("Processed refund")
            return {"actions_taken": actions, "refund_id": refund["refund_id"], "state": dict(ctx.state)}
        return {"actions_taken": actions}

    @mcp.function
    async def bad_chain(ctx: Context) -> None:
        await ctx.call("get_order_details", order=1)

    @mcp.function
    async def loop(ctx: Context) -> None:
        await ctx.call("loop")

    client = mcp.test_client()
    result = client.call("process_order_issue", {"order_id": "ORD-1"})
    assert result.data == {
        "actions_taken": ["Retrieved order details", "Verified refund eligibility", "Processed refund"],
        "refund_id": "REF-ORD-1",
        "state": {"refunded": "ORD-1"},
    }
    assert refunds == ["ORD-1"]
    missing = client.call("process_order_issue", {"order_id": "ORD-404"})
    assert (missing.status_code, missing.error) == (200, "Order ORD-404 not found")
    # A chained call with bad arguments is the developer's bug: hidden behind an error id.
    assert client.call("bad_chain", {}).status_code == 500
    assert client.call("loop", {}).status_code == 500


async def test_ctx_call_raises_arguments_invalid_for_bad_chained_arguments() -> None:
    mcp = MCP()
    seen: list[BaseException] = []

    @mcp.function
    def target(n: int) -> int:
        return n

    @mcp.function
    async def caller(ctx: Context) -> str:
        try:
            await ctx.call("target", n="not a number")
        except ArgumentsInvalid as exc:
            seen.append(exc)
        return "handled"

    assert mcp.test_client().call("caller", {}).data == "handled"
    assert isinstance(seen[0], ArgumentsInvalid) and seen[0].problems[0].field == "n"


def test_state_refuses_values_that_are_not_json() -> None:
    mcp = MCP()

    @mcp.function
    def keep(ctx: Context) -> str:
        try:
            ctx.state["when"] = object()
        except TypeError as exc:
            return str(exc)
        return "stored"

    message = mcp.test_client().call("keep", {}, headers={"X-Plati-Conversation": "c"}).data
    assert "when" in message
