"""Background functions: an immediate task id, GET /tasks/{id}, and a signed completion callback."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from plati_mcp import MCP, Context, FunctionError, verify_signature
from tests.conftest import REDIS_URL, requires_redis, serve_app

SECRET = "callback-secret"


class Receiver:
    """A real HTTP endpoint recording the callbacks it receives."""

    def __init__(self) -> None:
        self.received: list[tuple[bytes, str | None]] = []
        self.arrived = threading.Event()

        async def hook(request: Request) -> Response:
            self.received.append((await request.body(), request.headers.get("x-plati-signature")))
            self.arrived.set()
            return Response(status_code=204)

        self.app = Starlette(routes=[Route("/hook", hook, methods=["POST"])])


@pytest.fixture
def receiver() -> Iterator[tuple[Receiver, str]]:
    recv = Receiver()
    with serve_app(recv.app) as url:
        yield recv, f"{url}/hook"


def build(**options) -> MCP:
    mcp = MCP(name="reports", callback_secret=SECRET, **options)
    release = threading.Event()

    @mcp.function(background=True, description="Generate a sales report")
    async def generate_report(kind: str, ctx: Context) -> dict:
        await ctx.report_progress(1, 2)
        return {"kind": kind, "rows": 3}

    @mcp.function(background=True)
    def slow_report(kind: str) -> dict:
        release.wait(5)
        return {"kind": kind}

    @mcp.function(background=True)
    async def failing_report(kind: str) -> dict:
        raise FunctionError(f"No data for {kind}")

    mcp.release = release  # type: ignore[attr-defined]
    return mcp


@pytest.mark.parametrize("store", ["memory", pytest.param("redis", marks=requires_redis)])
def test_background_call_replies_at_once_and_the_task_completes(store: str) -> None:
    mcp = build(redis_url=REDIS_URL if store == "redis" else None)
    with mcp.test_client() as client:
        started = client.call("slow_report", {"kind": "sales"})
        assert started.status_code == 200 and started.success and started.task_id
        assert client.get_task(started.task_id)["status"] in ("pending", "running")
        mcp.release.set()  # type: ignore[attr-defined]
        done = client.wait_for_task(started.task_id)
    assert done == {"task_id": started.task_id, "status": "succeeded", "result": {"kind": "sales"}}


def test_failed_background_work_is_reported_on_the_task() -> None:
    with build().test_client() as client:
        started = client.call("failing_report", {"kind": "returns"})
        done = client.wait_for_task(started.task_id)
    assert done == {"task_id": started.task_id, "status": "failed", "error": "No data for returns"}


def test_unknown_tasks_are_404() -> None:
    with build().test_client() as client:
        response = client.http.get("/tasks/task_missing")
    assert (response.status_code, response.json()) == (404, {"error": "Task not found"})


def test_invalid_arguments_are_refused_before_any_task_starts() -> None:
    with build().test_client() as client:
        result = client.call("generate_report", {})
    assert result.status_code == 400 and result.task_id is None


def test_completion_is_posted_signed_to_the_callback_url(receiver: tuple[Receiver, str]) -> None:
    recv, hook_url = receiver
    with build().test_client() as client:
        started = client.call("generate_report", {"kind": "sales"}, headers={"X-Plati-Callback-Url": hook_url})
        assert recv.arrived.wait(10), "the callback never arrived"
    body, signature = recv.received[0]
    assert verify_signature(body, SECRET, signature)
    assert not verify_signature(body, "wrong-secret", signature)
    assert json.loads(body) == {
        "task_id": started.task_id,
        "status": "succeeded",
        "result": {"kind": "sales", "rows": 3},
    }


async def test_background_calls_over_mcp_return_the_task_id() -> None:
    from mcp import Client

    with serve_app(build().app) as url:
        async with Client(f"{url}/mcp", mode="legacy") as client:
            tools = {tool.name: tool for tool in (await client.list_tools()).tools}
            result = await client.call_tool("generate_report", {"kind": "sales"})
        assert tools["generate_report"].output_schema is None
        assert result.is_error is False
        assert result.structured_content is not None
        task_id = result.structured_content["task_id"]
        import httpx

        async with httpx.AsyncClient(base_url=url) as http:
            for _ in range(200):
                document = (await http.get(f"/tasks/{task_id}")).json()
                if document["status"] == "succeeded":
                    break
                await asyncio.sleep(0.01)
        assert document["result"] == {"kind": "sales", "rows": 3}
