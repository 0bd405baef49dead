"""End users never see internals (SPEC section 8): when a function server or the model provider
fails, the reply, the streamed tokens and the stored assistant message carry a safe sentence and
an error id; the URL, the exception, the HTTP status and the upstream text stay in the call record
(chat reply data, SSE ``function_result``, stored message ``meta``) and the error details the
workspace reads, under the same error id."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from examples.ecommerce.db import create_database
from examples.ecommerce.server import create_server

from tests.conftest import serve_app
from tests.plati.fakes import ErrorAnswer
from tests.plati.fakes.openai_server import FakeOpenAI

from .conftest import Misbehaving, Platform

# What must never reach an end user: a URL, a loopback host, an exception class name, an HTTP status.
INTERNALS = re.compile(r"https?://|127\.0\.0\.1|localhost|\b\w+(?:Error|Exception)\b|\bHTTP\b")
ERROR_ID = re.compile(r"\(error id ([0-9a-f]{8})\)")
UPSTREAM_SECRET = "db-7.internal.example:5432 said: relation orders_archive does not exist"


def assert_safe(text: str, url: str) -> str:
    """``text`` names none of the server's internals; returns the error id it carries."""
    port = str(httpx.URL(url).port)
    assert INTERNALS.search(text) is None, text
    assert port not in text, text
    found = ERROR_ID.search(text)
    assert found is not None, text
    return found.group(1)


def read_events(response: httpx.Response) -> list[dict[str, Any]]:
    return [json.loads(line[len("data: ") :]) for line in response.iter_lines() if line.startswith("data: ")]


def channel_for(http: httpx.Client, mcp_id: str, instructions: str = "") -> str:
    assistant_id = http.post("/assistant", json={"name": "Support", "instructions": instructions}).json()["data"]["id"]
    assert http.put(f"/assistant/{assistant_id}/mcp/{mcp_id}").status_code == 200
    return http.post("/channels", json={"name": "web", "assistant_id": assistant_id}).json()["data"]["id"]


def messages_of(http: httpx.Client, conversation_id: str) -> list[dict[str, Any]]:
    response = http.get(f"/conversation/{conversation_id}/messages")
    assert response.status_code == 200, response.text
    messages: list[dict[str, Any]] = response.json()["data"]["messages"]
    return messages


@pytest.fixture
def stopped_shop(platform: Platform, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """The e-commerce example registered as "shop" (tools cached), then stopped: (channel, url)."""
    db_path = tmp_path / "shop.db"
    create_database(db_path)
    with platform.client() as http:
        with serve_app(create_server(db_path).app) as url:
            created = http.post("/workspace/mcps", json={"name": "shop", "url": url})
            assert created.status_code == 201, created.text
        yield channel_for(http, created.json()["data"]["id"]), url


def test_a_stopped_function_server_is_a_safe_sentence_for_the_user_and_the_detail_for_the_workspace(
    platform: Platform, stopped_shop: tuple[str, str]
) -> None:
    channel, url = stopped_shop
    with platform.client() as http:
        response = http.post(f"/conversation/u1/chat/{channel}", json={"text": "Where is my order ORD-001?"})
        assert response.status_code == 200, response.text
        data = response.json()["data"]
        stored = messages_of(http, data["conversation_id"])
    error_id = assert_safe(data["reply"], url)
    assert "The shop service is not answering right now" in data["reply"]
    [record] = data["function_calls"]
    assert (record["name"], record["success"], record["error_code"]) == (
        "check_order_status",
        False,
        "upstream_unreachable",
    )
    assert url in record["error_detail"]
    assert record["error_id"] == error_id
    assert assert_safe(record["error"], url) == error_id  # what the model read
    result = next(m for m in stored if m["kind"] == "function_result")
    assert assert_safe(result["error"], url) == error_id
    assert result["meta"]["error_code"] == "upstream_unreachable"
    assert url in result["meta"]["error_detail"]
    assert result["meta"]["error_id"] == error_id
    reply = stored[-1]
    assert reply["kind"] == "assistant_text"
    assert assert_safe(reply["text"], url) == error_id


def test_a_stopped_function_server_streams_only_safe_text_to_the_user(
    platform: Platform, stopped_shop: tuple[str, str]
) -> None:
    channel, url = stopped_shop
    with (
        platform.client() as http,
        http.stream(
            "GET", "/conversation/u2/streaming", params={"channel_id": channel, "text": "Where is ORD-001?"}
        ) as response,
    ):
        events = read_events(response)
    said = [event for event in events if event["type"] in ("token", "complete")]
    assert said and said[-1]["type"] == "complete"
    assert_safe("".join(event["content"] for event in said if event["type"] == "token"), url)
    error_id = assert_safe(said[-1]["content"], url)
    [result] = [event for event in events if event["type"] == "function_result"]
    assert (result["error_code"], result["error_id"]) == ("upstream_unreachable", error_id)
    assert url in result["error_detail"]
    assert said[-1]["data"]["function_calls"][0]["error_id"] == error_id


@pytest.mark.parametrize(
    ("kind", "registration", "sentence", "code", "detail"),
    [
        ("slow", {"timeout_seconds": 0.5}, "took too long to answer", "upstream_timeout", "0.5 s"),
        ("big", {}, "sent a reply too large to use", "upstream_too_large", "bytes"),
        ("html", {}, "sent a reply that could not be used", "upstream_bad_reply", "non-JSON"),
        ("locked", {}, "refused our credentials", "upstream_unauthorized", "HTTP 401"),
    ],
)
def test_each_kind_of_server_failure_has_its_own_safe_sentence(
    platform: Platform,
    misbehaving: tuple[Misbehaving, str],
    kind: str,
    registration: dict[str, Any],
    sentence: str,
    code: str,
    detail: str,
) -> None:
    servers, base = misbehaving
    url = f"{base}/{kind}"
    body = {"name": "inventory", "transport": "rest", "url": url, **registration}
    if kind == "locked":
        body["headers"] = [{"key": "Authorization", "value": f"Bearer {servers.TOKEN}"}]
    with platform.client() as http:
        created = http.post("/workspace/mcps", json=body)
        assert created.status_code == 201, created.text
        mcp_id = created.json()["data"]["id"]
        if kind == "locked":  # the key is rotated on the server: the registered one is refused now
            wrong = [{"key": "Authorization", "value": "Bearer an-old-token"}]
            patched = http.patch(f"/workspace/mcps/{mcp_id}", json={"headers": wrong, "validate": False})
            assert patched.status_code == 200, patched.text
        channel = channel_for(http, mcp_id, "Use {{function.f(x)}} for every request.")
        data = http.post(f"/conversation/u3/chat/{channel}", json={"text": "Run f with x 7"}).json()["data"]
        stored = messages_of(http, data["conversation_id"])
    error_id = assert_safe(data["reply"], url)
    assert f"The inventory service {sentence}" in data["reply"]
    [record] = data["function_calls"]
    assert (record["success"], record["error_code"], record["error_id"]) == (False, code, error_id)
    assert detail in record["error_detail"]
    assert assert_safe(stored[-1]["text"], url) == error_id
    result = next(m for m in stored if m["kind"] == "function_result")
    assert (result["meta"]["error_code"], result["meta"]["error_id"]) == (code, error_id)


def test_a_functions_own_failure_reaches_the_model_unchanged(platform: Platform, shop: str) -> None:
    with platform.client() as http:
        mcp_id = http.post("/workspace/mcps", json={"name": "shop", "url": shop}).json()["data"]["id"]
        channel = channel_for(http, mcp_id)
        data = http.post(f"/conversation/u4/chat/{channel}", json={"text": "Where is order ORD-999?"}).json()["data"]
    [record] = data["function_calls"]
    assert (record["success"], record["error"]) == (False, "Order ORD-999 not found")
    assert "error_id" not in record and "error_code" not in record
    assert "Order ORD-999 not found" in data["reply"]


# -- the model provider fails -----------------------------------------------------------------


@pytest.fixture(scope="module")
def openai_fake() -> Iterator[tuple[FakeOpenAI, str]]:
    fake = FakeOpenAI()
    with serve_app(fake.app) as url:
        yield fake, f"{url}/v1"
        fake.release()


@pytest.fixture
def platform_env(request: pytest.FixtureRequest) -> dict[str, str]:
    if "openai_fake" not in request.fixturenames:
        return {}
    _fake, url = request.getfixturevalue("openai_fake")
    # The operator's own provider, so the operator's key goes to the operator's base URL.
    return {"PLATI_OPENAI_API_KEY": "sk-test-123456789", "PLATI_OPENAI_BASE_URL": url}


@pytest.mark.parametrize("streamed", [False, True])
def test_a_failing_model_provider_gives_the_user_a_safe_sentence_and_the_workspace_the_detail(
    openai_fake: tuple[FakeOpenAI, str], platform: Platform, streamed: bool
) -> None:
    fake, url = openai_fake
    fake.script(lambda body: ErrorAnswer(500, UPSTREAM_SECRET))
    with platform.client() as http:
        body = {"name": "A", "provider": "OPENAI", "model": "test-model"}
        assistant_id = http.post("/assistant", json=body).json()["data"]["id"]
        channel = http.post("/channels", json={"name": "c", "assistant_id": assistant_id}).json()["data"]["id"]
        if streamed:
            with http.stream(
                "GET", "/conversation/u5/streaming", params={"channel_id": channel, "text": "hello"}
            ) as response:
                [event] = [e for e in read_events(response) if e["type"] == "error"]
            said, code, details = event["content"], event["code"], event["details"]
        else:
            response = http.post(f"/conversation/u5/chat/{channel}", json={"text": "hello"})
            assert response.status_code == 502
            error = response.json()["error"]
            said, code, details = response.json()["message"], error["code"], error["details"]
        conversation_id = http.get("/conversations").json()["data"]["conversations"][0]["id"]
        stored = messages_of(http, conversation_id)
    assert code == "provider_unavailable"
    error_id = assert_safe(said, url)
    assert "db-7" not in said and "orders_archive" not in said
    assert "The assistant is not available right now" in said
    assert details["error_id"] == error_id
    assert "HTTP 500" in details["detail"] and "orders_archive" in details["detail"]
    assert [m["kind"] for m in stored] == ["user_text", "error"]
    assert assert_safe(stored[-1]["message"], url) == error_id
    assert "orders_archive" not in stored[-1]["message"]
    assert stored[-1]["meta"]["error_id"] == error_id
    assert "orders_archive" in stored[-1]["meta"]["error_detail"]
