"""Bad input is a 400/422 naming the field, never a server error, on SQLite and PostgreSQL: NUL
characters in bodies, paths and queries (PostgreSQL refuses them in text), unpaired surrogates,
names longer than their column, numbers beyond the database's integers, nesting too deep to
read, and assistant settings of the wrong type."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from .conftest import Platform

Case = tuple[str, str, Any, str]  # method, path, JSON body (None: no body), the field named


def refused(response: httpx.Response, field: str | None, *, status: int = 422) -> None:
    """``response`` is a ``status`` whose error names ``field`` (None: a 400 naming no field)."""
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == ("validation_error" if status == 422 else "bad_request")
    if field is not None:
        assert field in [item["field"] for item in error["details"]], error


def send(http: httpx.Client, method: str, path: str, body: Any = None) -> httpx.Response:
    if body is None:
        return http.request(method, path)
    return http.request(method, path, json=body)


@pytest.fixture
def ids(platform: Platform, shop: str) -> dict[str, str]:
    """A registered MCP (the e-commerce example), an assistant using it, and a channel."""
    with platform.client() as http:
        mcp = http.post("/workspace/mcps", json={"name": "shop", "url": shop}).json()["data"]["id"]
        assistant = http.post("/assistant", json={"name": "A"}).json()["data"]["id"]
        http.put(f"/assistant/{assistant}/mcp/{mcp}").raise_for_status()
        channel = http.post("/channels", json={"name": "c", "assistant_id": assistant}).json()["data"]["id"]
    return {"mcp": mcp, "assistant": assistant, "channel": channel}


def test_a_nul_character_anywhere_in_a_body_is_a_422_naming_the_field(
    platform: Platform, shop: str, ids: dict[str, str]
) -> None:
    mcp, assistant, channel = ids["mcp"], ids["assistant"], ids["channel"]
    cases: list[Case] = [
        ("POST", "/workspace/mcps", {"name": "sh\x00op", "url": shop}, "name"),
        ("POST", "/workspace/mcps", {"name": "s", "url": shop, "headers": [{"key": "X", "value": "\x00"}]},
         "headers.0.value"),
        ("POST", "/workspace/mcps", {"name": "s", "url": shop, "env": {"A\x00": "b"}}, "env.A\\u0000"),
        ("PATCH", f"/workspace/mcps/{mcp}", {"name": "x\x00"}, "name"),
        ("POST", f"/workspace/mcps/{mcp}/call", {"name": "check_order_status\x00"}, "name"),
        ("POST", f"/workspace/mcps/{mcp}/call", {"name": "check_order_status", "arguments": {"order_id": "ORD\x00"}},
         "arguments.order_id"),
        ("POST", "/assistant", {"name": "A", "instructions": "Be kind\x00"}, "instructions"),
        ("PATCH", f"/assistant/{assistant}", {"languages": ["e\x00n"]}, "languages.0"),
        ("PATCH", f"/assistant/{assistant}", {"model": "\x00"}, "model"),
        ("POST", "/channels", {"name": "c", "assistant_id": "asst\x00"}, "assistant_id"),
        ("PUT", f"/channels/{channel}", {"name": "\x00"}, "name"),
        ("POST", f"/conversation/u1/chat/{channel}", {"text": "hi\x00"}, "text"),
        ("POST", f"/conversation/u1/chat/{channel}", {"text": "hi", "metadata": {"na\x00me": "x"}},
         "metadata.na\\u0000me"),
        ("POST", f"/conversation/u1/chat/{channel}", {"text": "hi", "metadata": {"name": "Ann\x00"}}, "metadata.name"),
        ("PATCH", "/workspace/settings", {"openai_model": "gpt\x00"}, "openai_model"),
    ]  # fmt: skip
    with platform.client() as http:
        for method, path, body, field in cases:
            refused(send(http, method, path, body), field)
        # Nothing was stored on the way.
        assert http.get("/conversations").json()["data"]["conversations"] == []
        assert [item["name"] for item in http.get("/workspace/mcps").json()["data"]] == ["shop"]


def test_an_unpaired_surrogate_or_a_nan_in_a_body_is_a_422_naming_the_field(
    platform: Platform, ids: dict[str, str]
) -> None:
    channel = ids["channel"]
    raw_cases = [
        ("POST", "/assistant", '{"name": "A\\ud800"}', "name"),
        ("POST", "/channels", '{"name": "c", "\\udc00": 1}', "\\udc00"),
        ("POST", f"/conversation/u1/chat/{channel}", '{"text": "hi \\udfff"}', "text"),
        ("POST", f"/conversation/u1/chat/{channel}", '{"text": "hi", "metadata": {"n": NaN}}', "metadata.n"),
        ("POST", "/assistant", '{"name": "A", "settings": {"temperature": Infinity}}', "settings.temperature"),
    ]
    with platform.client() as http:
        for method, path, raw, field in raw_cases:
            response = http.request(method, path, content=raw, headers={"content-type": "application/json"})
            refused(response, field)


def test_a_nul_in_a_path_or_query_parameter_is_a_422_naming_the_parameter(
    platform: Platform, ids: dict[str, str]
) -> None:
    mcp, assistant, channel = ids["mcp"], ids["assistant"], ids["channel"]
    cases: list[Case] = [
        ("GET", "/workspace/mcps/mcp%00x", None, "path.mcp_id"),
        ("POST", "/workspace/mcps/%00/refresh", None, "path.mcp_id"),
        ("GET", f"/workspace/mcps/{mcp}%00/tools", None, "path.mcp_id"),
        ("DELETE", "/assistant/%00", None, "path.assistant_id"),
        ("PUT", f"/assistant/{assistant}/mcp/%00", None, "path.mcp_id"),
        ("GET", "/channels/x%00", None, "path.channel_id"),
        ("POST", f"/conversation/u%001/chat/{channel}", {"text": "hi"}, "path.identity_id"),
        ("POST", f"/conversation/u1/chat/{channel}%00", {"text": "hi"}, "path.channel_id"),
        ("GET", f"/conversation/u1/streaming?channel_id={channel}%00&text=hi", None, "query.channel_id"),
        ("GET", f"/conversation/u1/streaming?channel_id={channel}&text=h%00i", None, "query.text"),
        ("GET", "/conversations?identity_id=u%001", None, "query.identity_id"),
        ("GET", "/conversations?channel_id=%00", None, "query.channel_id"),
        ("GET", "/conversation/conv%00/messages", None, "path.conversation_id"),
    ]
    with platform.client() as http:
        for method, path, body, field in cases:
            refused(send(http, method, path, body), field)
        assert http.get("/conversations").json()["data"]["conversations"] == []


def test_an_identity_name_longer_than_its_column_is_a_422_and_one_that_fits_is_recorded(
    platform: Platform, ids: dict[str, str]
) -> None:
    channel = ids["channel"]
    with platform.client() as http:
        too_long = http.post(f"/conversation/u1/chat/{channel}", json={"text": "hi", "metadata": {"name": "n" * 201}})
        not_text = http.post(f"/conversation/u1/chat/{channel}", json={"text": "hi", "metadata": {"name": ["Ann"]}})
        fits = http.post(f"/conversation/u1/chat/{channel}", json={"text": "hi", "metadata": {"name": "n" * 200}})
    refused(too_long, "metadata.name")
    refused(not_text, "metadata.name")
    assert fits.status_code == 200, fits.text


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/conversations?offset=9223372036854775808", "query.offset"),
        ("/conversations?offset=99999999999999999999999", "query.offset"),
        ("/conversations?offset=2147483648", "query.offset"),
        ("/conversations?limit=9223372036854775808", "query.limit"),
        ("/conversations?offset=-1", "query.offset"),
        ("/conversation/{conversation}/messages?after=9223372036854775808", "query.after"),
        ("/conversation/{conversation}/messages?after=2147483648", "query.after"),
        ("/conversation/{conversation}/messages?limit=100000", "query.limit"),
    ],
)
def test_a_page_position_beyond_the_databases_integers_is_a_422(
    platform: Platform, ids: dict[str, str], path: str, field: str
) -> None:
    with platform.client() as http:
        reply = http.post(f"/conversation/u1/chat/{ids['channel']}", json={"text": "hi"})
        conversation = reply.json()["data"]["conversation_id"]
        refused(http.get(path.format(conversation=conversation)), field)
        largest = http.get("/conversations?offset=2147483647")
        assert (largest.status_code, largest.json()["data"]["conversations"]) == (200, [])


def test_json_nested_too_deep_is_a_400_when_unreadable_and_a_422_naming_the_field_when_read(
    platform: Platform, ids: dict[str, str]
) -> None:
    chat = f"/conversation/u1/chat/{ids['channel']}"
    unreadable = '{"text": "hi", "metadata": {"a": ' + "[" * 100_000 + "]" * 100_000 + "}}"
    deep: Any = "bottom"
    for _ in range(40):
        deep = {"d": deep}
    with platform.client() as http:
        for path in (chat, "/assistant", "/workspace/mcps"):
            response = http.post(path, content=unreadable, headers={"content-type": "application/json"})
            refused(response, None, status=400)
        refused(http.post(chat, json={"text": "hi", "metadata": deep}), "metadata" + ".d" * 31)
        call = http.post(f"/workspace/mcps/{ids['mcp']}/call", json={"name": "check_order_status", "arguments": deep})
        refused(call, "arguments" + ".d" * 31)
        # 32 levels are fine.
        fits: Any = "bottom"
        for _ in range(31):
            fits = {"d": fits}
        assert http.post(chat, json={"text": "hi", "metadata": fits}).status_code == 200


@pytest.mark.parametrize(
    ("settings", "field"),
    [
        ({"step_limit": "lots"}, "settings.step_limit"),
        ({"step_limit": 0}, "settings.step_limit"),
        ({"step_limit": 2.5}, "settings.step_limit"),
        ({"step_limit": [3]}, "settings.step_limit"),
        ({"temperature": "warm"}, "settings.temperature"),
        ({"temperature": 2.5}, "settings.temperature"),
        ({"max_tokens": -1}, "settings.max_tokens"),
        ({"timeout_seconds": 0}, "settings.timeout_seconds"),
        ({"base_url": "ftp://models.example"}, "settings.base_url"),
        ({"base_url": 12}, "settings.base_url"),
        ({"stepLimit": 3}, "settings.stepLimit"),
        ("fast", "settings"),
    ],
)
def test_an_assistant_setting_of_the_wrong_type_or_range_is_a_422_naming_it_on_create_and_update(
    platform: Platform, settings: Any, field: str
) -> None:
    with platform.client() as http:
        created = http.post("/assistant", json={"name": "A", "settings": settings})
        assistant = http.post("/assistant", json={"name": "B"}).json()["data"]["id"]
        updated = http.patch(f"/assistant/{assistant}", json={"settings": settings})
        unchanged = http.get(f"/assistant/{assistant}").json()["data"]["settings"]
    refused(created, field)
    refused(updated, field)
    assert unchanged == {}


def test_an_unknown_assistant_setting_is_refused_with_the_known_ones_listed(platform: Platform) -> None:
    with platform.client() as http:
        response = http.post("/assistant", json={"name": "A", "settings": {"tempreature": 0.2}})
    refused(response, "settings.tempreature")
    message = response.json()["error"]["details"][0]["message"]
    assert all(name in message for name in ("base_url", "temperature", "max_tokens", "timeout_seconds", "step_limit"))


def test_assistant_settings_are_stored_and_shown_as_given(platform: Platform) -> None:
    settings = {"base_url": "HTTP://127.0.0.1:9/v1", "temperature": 0.5, "max_tokens": 200, "step_limit": 4}
    with platform.client() as http:
        created = http.post("/assistant", json={"name": "A", "settings": {**settings, "timeout_seconds": None}})
        assistant = created.json()["data"]["id"]
        patched = http.patch(f"/assistant/{assistant}", json={"settings": {"step_limit": 2}})
    assert created.json()["data"]["settings"] == settings
    assert patched.json()["data"]["settings"] == {"step_limit": 2}


def test_a_body_that_is_not_json_or_not_an_object_is_a_400_or_422(platform: Platform, ids: dict[str, str]) -> None:
    chat = f"/conversation/u1/chat/{ids['channel']}"
    garbage = {"content": b"\xff\xfe{", "headers": {"content-type": "application/json"}}
    with platform.client() as http:
        refused(http.post(chat, **garbage), None, status=400)  # type: ignore[arg-type]
        refused(http.post("/assistant", **garbage), None, status=400)  # type: ignore[arg-type]
        refused(http.post(chat, content=json.dumps(["text"])), "")
        refused(http.post("/assistant", json=["name"]), "")


def test_a_streamed_message_of_only_whitespace_is_a_422_naming_the_query_parameter(
    platform: Platform, ids: dict[str, str]
) -> None:
    with platform.client() as http:
        response = http.get("/conversation/u1/streaming", params={"channel_id": ids["channel"], "text": "   "})
    refused(response, "query.text")


@pytest.mark.parametrize(
    "url", ["http://[::1]:99999", "http://a:b@[::1", "http://:80/", "https://shop:0/", "ftp://shop"]
)
def test_a_malformed_url_is_a_422_before_any_connection(platform: Platform, url: str) -> None:
    with platform.client() as http:
        mcp = http.post("/workspace/mcps", json={"name": "s", "url": url})
        assistant = http.post("/assistant", json={"name": "A", "settings": {"base_url": url}})
    refused(mcp, "url")
    refused(assistant, "settings.base_url")


@pytest.mark.parametrize("url", ["http://a\x12b.example/v1", "http://host/ path", "http://host/\x7f"])
def test_a_url_with_a_control_character_or_a_space_is_a_422(platform: Platform, url: str) -> None:
    with platform.client() as http:
        created = http.post("/assistant", json={"name": "A", "provider": "OPENAI", "settings": {"base_url": url}})
        registered = http.post("/workspace/mcps", json={"name": "m", "url": url, "validate": False})
    assert (created.status_code, created.json()["error"]["code"]) == (422, "validation_error")
    assert (registered.status_code, registered.json()["error"]["code"]) == (422, "validation_error")
