"""Assistants on OPENAI and ANTHROPIC, through the official SDKs, against local servers speaking
their wire formats (including streamed tool calls); provider failures keep the user's message."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.conftest import serve_app
from tests.plati.fakes import ErrorAnswer, Reply, ToolCall
from tests.plati.fakes.anthropic_server import FakeAnthropic
from tests.plati.fakes.openai_server import FakeOpenAI

from .conftest import Platform


@pytest.fixture(scope="module")
def fakes() -> Iterator[dict[str, Any]]:
    openai_fake, anthropic_fake = FakeOpenAI(), FakeAnthropic()
    with serve_app(openai_fake.app) as openai_url, serve_app(anthropic_fake.app) as anthropic_url:
        yield {"openai": (openai_fake, f"{openai_url}/v1"), "anthropic": (anthropic_fake, anthropic_url)}
        openai_fake.release()
        anthropic_fake.release()


@pytest.fixture
def platform_env(fakes: dict[str, Any]) -> dict[str, str]:
    return {
        "PLATI_OPENAI_API_KEY": "sk-test-123456789",
        "PLATI_ANTHROPIC_API_KEY": "sk-ant-test-123456789",
        "PLATI_ANTHROPIC_BASE_URL": fakes["anthropic"][1],
        "PLATI_PROVIDER_TIMEOUT_SECONDS": "5",
    }


def setup(http: httpx.Client, shop: str, provider: str, settings: dict[str, Any]) -> str:
    mcp_id = http.post("/workspace/mcps", json={"name": "shop", "url": shop}).json()["data"]["id"]
    body = {
        "name": "A",
        "instructions": "Help with orders.",
        "provider": provider,
        "model": "test-model",
        "settings": settings,
    }
    assistant_id = http.post("/assistant", json=body).json()["data"]["id"]
    http.put(f"/assistant/{assistant_id}/mcp/{mcp_id}")
    return http.post("/channels", json={"name": "c", "assistant_id": assistant_id}).json()["data"]["id"]


SCRIPT = [
    Reply(text="Let me check.", tool_calls=[ToolCall("check_order_status", {"order_id": "ORD-001"})]),
    Reply(text="Your order ORD-001 has shipped."),
]


@pytest.mark.parametrize("provider", ["OPENAI", "ANTHROPIC"])
@pytest.mark.parametrize("streamed", [False, True])
def test_provider_tool_calls_run_the_function_and_answer(
    platform: Platform, shop: str, fakes: dict[str, Any], provider: str, streamed: bool
) -> None:
    fake, url = fakes[provider.lower()]
    fake.script(list(SCRIPT))
    settings = {"base_url": url} if provider == "OPENAI" else {}
    with platform.client() as http:
        channel = setup(http, shop, provider, settings)
        if streamed:
            with http.stream(
                "POST",
                f"/conversation/u/chat/{channel}",
                json={"text": "Where is ORD-001?"},
                headers={"Accept": "text/event-stream"},
            ) as response:
                events = [json.loads(line[6:]) for line in response.iter_lines() if line.startswith("data: ")]
            data = events[-1]["data"]
            assert [e["type"] for e in events if e["type"] != "token"] == [
                "function_call",
                "function_result",
                "complete",
            ]
        else:
            data = http.post(f"/conversation/u/chat/{channel}", json={"text": "Where is ORD-001?"}).json()["data"]
    assert data["reply"] == "Your order ORD-001 has shipped."
    [record] = data["function_calls"]
    assert (record["name"], record["arguments"], record["success"]) == (
        "check_order_status",
        {"order_id": "ORD-001"},
        True,
    )
    assert data["usage"]["input_tokens"] > 0
    second = fake.requests[-1]
    wire = json.dumps(second)
    assert "1Z999AA1234567890" in wire  # the function's result went back to the model
    assert "check_order_status" in wire


@pytest.mark.parametrize("provider", ["OPENAI", "ANTHROPIC"])
def test_provider_failures_are_clear_errors_and_keep_the_message(
    platform: Platform, shop: str, fakes: dict[str, Any], provider: str
) -> None:
    fake, url = fakes[provider.lower()]
    fake.script([ErrorAnswer(401, "bad key sk-test-123456789")])
    settings = {"base_url": url} if provider == "OPENAI" else {}
    with platform.client() as http:
        channel = setup(http, shop, provider, settings)
        failed = http.post(f"/conversation/u/chat/{channel}", json={"text": "hello"})
        conversation = http.get("/conversations").json()["data"]["conversations"][0]["id"]
        kinds = [m["kind"] for m in http.get(f"/conversation/{conversation}/messages").json()["data"]["messages"]]
    assert (failed.status_code, failed.json()["error"]["code"]) == (502, "provider_unauthorized")
    assert "sk-test-123456789" not in failed.text
    assert kinds == ["user_text", "error"]


def test_a_provider_without_credentials_is_a_clear_error(platform: Platform, shop: str) -> None:
    with platform.client() as http:
        mcp_id = http.post("/workspace/mcps", json={"name": "shop", "url": shop}).json()["data"]["id"]
        del mcp_id
        assistant_id = http.post("/assistant", json={"name": "A", "provider": "OPENAI"}).json()["data"]["id"]
        channel = http.post("/channels", json={"name": "c", "assistant_id": assistant_id}).json()["data"]["id"]
        response = http.post(f"/conversation/u/chat/{channel}", json={"text": "hello"})
    # PLATI_OPENAI_API_KEY is set in this module, so the key is there: the call reaches the
    # SDK's default endpoint, which the test kill switch points at a closed port.
    assert response.status_code == 502
    assert response.json()["error"]["code"] == "provider_unavailable"
