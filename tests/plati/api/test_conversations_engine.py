"""The tool loop, driven by a scripted model: validation, parallel calls, failures going back to
the model, the step limit, truncation, provider failures, per-conversation state across turns,
streaming (and a client that disconnects), and turn serialization."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from examples.advanced.stateful import create_server as create_stateful_server
from examples.ecommerce.db import create_database

from plati.engine.messages import FunctionResult
from plati.engine.providers import ModelReply, ModelRequest, ProviderUnavailable
from plati.engine.providers.scripted import ScriptedProvider, call, reply
from plati_mcp import MCP, FunctionError
from tests.conftest import serve_app

from .conftest import Misbehaving, Platform


class Script:
    """What the scripted model answers; tests set ``handler`` after the platform starts."""

    def __init__(self) -> None:
        self.handler: Callable[[ModelRequest], Any] = lambda request: reply("ok")
        self.requests: list[ModelRequest] = []

    async def __call__(self, request: ModelRequest) -> ModelReply:
        self.requests.append(request)
        answer = self.handler(request)
        if asyncio.iscoroutine(answer):
            answer = await answer
        if isinstance(answer, Exception):
            raise answer
        return answer


@pytest.fixture
def script() -> Script:
    return Script()


@pytest.fixture
def model(script: Script) -> ScriptedProvider:
    return ScriptedProvider(script)


def last_results(request: ModelRequest) -> list[FunctionResult]:
    results = []
    for part in reversed(request.history):
        if not isinstance(part, FunctionResult):
            break
        results.append(part)
    return list(reversed(results))


def answered(request: ModelRequest) -> bool:
    return bool(last_results(request))


@pytest.fixture
def tools_server() -> Iterator[str]:
    mcp = MCP(name="tools")
    arrived = 0
    both = threading.Event()
    lock = threading.Lock()

    @mcp.function
    def pair(n: int) -> int:
        """Returns only once two calls are in flight at the same time."""
        nonlocal arrived
        with lock:
            arrived += 1
            if arrived >= 2:
                both.set()
        if not both.wait(5):
            raise FunctionError("the other call never came: calls ran one after the other")
        return n

    @mcp.function
    def echo(text: str, times: int = 1) -> str:
        return text * times

    with serve_app(mcp.app) as url:
        yield url


def make_channel(http: httpx.Client, url: str, settings: dict[str, Any] | None = None) -> str:
    mcp_id = http.post("/workspace/mcps", json={"name": "tools", "url": url}).json()["data"]["id"]
    body: dict[str, Any] = {"name": "A", "instructions": "Use {{function.echo(text)}}."}
    if settings:
        body["settings"] = settings
    assistant_id = http.post("/assistant", json=body).json()["data"]["id"]
    http.put(f"/assistant/{assistant_id}/mcp/{mcp_id}")
    return http.post("/channels", json={"name": "c", "assistant_id": assistant_id}).json()["data"]["id"]


def chat(http: httpx.Client, channel: str, text: str, identity: str = "u1") -> httpx.Response:
    return http.post(f"/conversation/{identity}/chat/{channel}", json={"text": text})


def test_several_calls_in_one_step_run_in_parallel(platform: Platform, script: Script, tools_server: str) -> None:
    script.handler = lambda r: reply("both done") if answered(r) else reply(call("pair", n=1), call("pair", n=2))
    with platform.client() as http:
        data = chat(http, make_channel(http, tools_server), "go").json()["data"]
    assert [(c["name"], c["success"], c.get("result")) for c in data["function_calls"]] == [
        ("pair", True, 1),
        ("pair", True, 2),
    ]
    assert data["reply"] == "both done"


def test_invalid_and_unknown_calls_go_back_to_the_model_as_failed_results(
    platform: Platform, script: Script, tools_server: str
) -> None:
    seen: list[list[FunctionResult]] = []

    def handler(request: ModelRequest) -> ModelReply:
        if answered(request):
            seen.append(last_results(request))
            return reply("sorry")
        return reply(call("echo", times="many"), call("launch_rockets"))

    script.handler = handler
    with platform.client() as http:
        data = chat(http, make_channel(http, tools_server), "go").json()["data"]
    invalid, unknown = data["function_calls"]
    assert invalid["success"] is False
    assert "text: Field required" in invalid["error"]
    assert "times" in invalid["error"]
    assert unknown["success"] is False
    assert "Unknown function" in unknown["error"]
    assert [r.success for r in seen[0]] == [False, False]
    assert data["reply"] == "sorry"
    assert script.requests[0].system == "Use echo(text)."
    assert {tool.name for tool in script.requests[0].tools} == {"pair", "echo"}


def test_server_failures_go_back_to_the_model(
    platform: Platform, script: Script, misbehaving: tuple[Misbehaving, str]
) -> None:
    _servers, url = misbehaving
    script.handler = lambda r: reply(last_results(r)[0].error or "") if answered(r) else reply(call("f", x=1))
    with platform.client() as http:
        mcp_id = http.post("/workspace/mcps", json={"name": "boom", "url": f"{url}/boom"}).json()["data"]["id"]
        assistant_id = http.post("/assistant", json={"name": "A"}).json()["data"]["id"]
        http.put(f"/assistant/{assistant_id}/mcp/{mcp_id}")
        channel = http.post("/channels", json={"name": "c", "assistant_id": assistant_id}).json()["data"]["id"]
        data = chat(http, channel, "go").json()["data"]
    [record] = data["function_calls"]
    assert (record["success"], record["error_code"]) == (False, "upstream_bad_reply")
    # The model reads a safe sentence; the HTTP status and the server's text stay in the record.
    assert data["reply"] == f"The boom service sent a reply that could not be used (error id {record['error_id']})."
    assert "HTTP 500" in record["error_detail"] and "500" not in data["reply"].replace(record["error_id"], "")


def test_the_step_limit_ends_a_runaway_loop_with_a_clear_reply(
    platform: Platform, script: Script, tools_server: str
) -> None:
    script.handler = lambda r: reply(call("echo", text="again"))
    with platform.client() as http:
        data = chat(http, make_channel(http, tools_server, {"step_limit": 3}), "loop").json()["data"]
    assert len(data["function_calls"]) == 3
    assert "within 3 steps" in data["reply"]


def test_provider_failures_are_clear_errors_and_keep_the_users_message(
    platform: Platform, script: Script, tools_server: str
) -> None:
    script.handler = lambda r: ProviderUnavailable("The model provider is unreachable", provider="SCRIPTED")
    with platform.client() as http:
        channel = make_channel(http, tools_server)
        failed = chat(http, channel, "hello?")
        conversation = http.get("/conversations").json()["data"]["conversations"][0]["id"]
        messages = http.get(f"/conversation/{conversation}/messages").json()["data"]["messages"]
    assert (failed.status_code, failed.json()["error"]["code"]) == (502, "provider_unavailable")
    details = failed.json()["error"]["details"]
    assert details["detail"] == "The model provider is unreachable"
    safe = f"The assistant is not available right now; please try again later (error id {details['error_id']})."
    assert failed.json()["message"] == safe
    assert [(m["kind"], m.get("text") or m.get("message")) for m in messages] == [
        ("user_text", "hello?"),
        ("error", safe),
    ]
    assert messages[-1]["meta"]["error_detail"] == "The model provider is unreachable"


def test_the_guides_stateful_pattern_keeps_state_across_turns(
    platform: Platform, script: Script, tmp_path: Path
) -> None:
    db_path = tmp_path / "shop.db"
    create_database(db_path)

    def handler(request: ModelRequest) -> ModelReply:
        if answered(request):
            return reply(json.dumps(last_results(request)[0].result))
        user = request.history[-1]
        if "history" in getattr(user, "text", ""):
            return reply(call("get_order_history", customer_id="CUST-001"))
        return reply(call("get_last_order_details"))

    script.handler = handler
    with serve_app(create_stateful_server(db_path).app) as url, platform.client() as http:
        mcp_id = http.post("/workspace/mcps", json={"name": "orders", "url": f"{url}/mcp"}).json()["data"]["id"]
        assistant_id = http.post("/assistant", json={"name": "A"}).json()["data"]["id"]
        http.put(f"/assistant/{assistant_id}/mcp/{mcp_id}")
        channel = http.post("/channels", json={"name": "c", "assistant_id": assistant_id}).json()["data"]["id"]
        history = chat(http, channel, "show my order history").json()["data"]
        details = chat(http, channel, "and the newest one?").json()["data"]
        stranger = chat(http, channel, "and the newest one?", identity="someone-else").json()["data"]
    assert history["function_calls"][0]["success"] is True
    assert details["function_calls"][0]["success"] is True, details["function_calls"][0]
    assert details["function_calls"][0]["result"]["order_id"].startswith("ORD-")
    assert stranger["function_calls"][0]["success"] is False
    assert "No order history" in stranger["function_calls"][0]["error"]


def read_events(response: httpx.Response) -> list[dict[str, Any]]:
    return [json.loads(line[len("data: ") :]) for line in response.iter_lines() if line.startswith("data: ")]


def test_streaming_sends_tokens_calls_results_and_completion_and_stores_the_same_turn(
    platform: Platform, script: Script, tools_server: str
) -> None:
    script.handler = lambda r: reply("echoed it back to you") if answered(r) else reply(call("echo", text="hi"))
    with platform.client() as http:
        channel = make_channel(http, tools_server)
        with http.stream("GET", "/conversation/s1/streaming", params={"channel_id": channel, "text": "echo"}) as got:
            assert got.headers["content-type"].startswith("text/event-stream")
            events = read_events(got)
        with http.stream(
            "POST", f"/conversation/s2/chat/{channel}", json={"text": "echo"}, headers={"Accept": "text/event-stream"}
        ) as posted:
            posted_events = read_events(posted)
        synced = chat(http, channel, "echo", identity="s3").json()["data"]
        stored = {
            identity: [m["kind"] for m in http.get(f"/conversation/{conv}/messages").json()["data"]["messages"]]
            for identity, conv in (
                ("stream", events[-1]["data"]["conversation_id"]),
                ("sync", synced["conversation_id"]),
            )
        }
    types = [event["type"] for event in events]
    assert types[0] == "function_call"
    assert types[1] == "function_result"
    assert "token" in types
    assert types[-1] == "complete"
    assert events[-1]["content"] == "echoed it back to you"
    assert "".join(e["content"] for e in events if e["type"] == "token") == "echoed it back to you"
    assert [e["type"] for e in posted_events][-1] == "complete"
    assert events[-1]["data"]["function_calls"][0]["result"] == "hi"
    assert stored["stream"] == stored["sync"]


def test_a_client_that_disconnects_mid_stream_does_not_lose_the_turn(
    platform: Platform, script: Script, tools_server: str
) -> None:
    release = threading.Event()

    async def handler(request: ModelRequest) -> ModelReply:
        if answered(request):
            await asyncio.to_thread(release.wait, 10)
            return reply("finished after you left")
        return reply(call("echo", text="x"))

    script.handler = handler
    with platform.client() as http:
        channel = make_channel(http, tools_server)
        with http.stream("GET", "/conversation/gone/streaming", params={"channel_id": channel, "text": "go"}) as got:
            for line in got.iter_lines():
                if line.startswith("data: ") and json.loads(line[6:])["type"] == "function_result":
                    break  # leave mid-turn
        release.set()
        deadline = time.monotonic() + 10
        while True:
            conversations = http.get("/conversations", params={"identity_id": "gone"}).json()["data"]["conversations"]
            messages = http.get(f"/conversation/{conversations[0]['id']}/messages").json()["data"]["messages"]
            if messages[-1]["kind"] == "assistant_text":
                break
            assert time.monotonic() < deadline, messages
            time.sleep(0.05)  # polling for the stored turn, not timing a behaviour
    assert messages[-1]["text"] == "finished after you left"


def test_turns_of_one_conversation_are_serialized_and_others_run_concurrently(
    platform: Platform, script: Script, tools_server: str
) -> None:
    in_flight: dict[str, int] = {}
    peak: dict[str, int] = {}
    gate = threading.Event()
    seen_systems: list[str] = []

    async def handler(request: ModelRequest) -> ModelReply:
        key = request.history[0].text  # type: ignore[union-attr]
        seen_systems.append(key)
        in_flight[key] = in_flight.get(key, 0) + 1
        total = sum(in_flight.values())
        peak["all"] = max(peak.get("all", 0), total)
        peak[key] = max(peak.get(key, 0), in_flight[key])
        if total >= 2:
            gate.set()
        await asyncio.to_thread(gate.wait, 2)
        in_flight[key] -= 1
        return reply("done")

    script.handler = handler
    with platform.client() as http:
        channel = make_channel(http, tools_server)

    def send(identity: str) -> int:
        with platform.client() as client:
            return chat(client, channel, identity, identity=identity).status_code

    import concurrent.futures

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        codes = list(pool.map(send, ["same", "same", "other"]))
    assert codes == [200, 200, 200]
    assert peak["same"] == 1
    assert peak["all"] >= 2
