"""Operator maximums (``PLATI_MAX_*``) bound every size, step and time a workspace can set: above
them registration and updates are a 422 naming the field and the setting, and a value stored
before a maximum was lowered is held to the new maximum where it is used."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import update

from plati.engine.providers import ModelReply, ModelRequest
from plati.engine.providers.scripted import ScriptedProvider, call, reply
from plati.store.db import Database
from plati.store.models import Assistant
from plati_mcp import MCP
from tests.conftest import serve_app

from .conftest import Misbehaving, Platform, another_process

MiB = 1_048_576


async def always_call_echo(request: ModelRequest) -> ModelReply:
    """A model that never stops asking for one more function call."""
    return reply(call("echo", text="again"))


@pytest.fixture
def model() -> ScriptedProvider:
    return ScriptedProvider(always_call_echo)


@pytest.fixture
def echo_server() -> Iterator[str]:
    mcp = MCP(name="tools")

    @mcp.function
    def echo(text: str) -> str:
        return text

    with serve_app(mcp.app) as url:
        yield url


@contextmanager
def restarted(platform: Platform, model: ScriptedProvider, **env: str) -> Iterator[httpx.Client]:
    """The same database served again by a platform whose operator changed ``env`` (e.g. lowered
    a maximum); yields a client with the workspace's key."""
    with another_process(platform, model=model, **env) as again, again.client() as http:
        yield http


def over_maximum(response: httpx.Response, field: str, message: str) -> None:
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert error["details"] == [{"field": field, "message": message}]


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("timeout_seconds", 300.5, "at most 300 (PLATI_MAX_MCP_TIMEOUT_SECONDS)"),
        ("timeout_seconds", 1e308, "at most 300 (PLATI_MAX_MCP_TIMEOUT_SECONDS)"),
        ("max_response_bytes", 8 * MiB + 1, "at most 8388608 (PLATI_MAX_MCP_RESPONSE_BYTES)"),
        ("max_response_bytes", 64 * MiB, "at most 8388608 (PLATI_MAX_MCP_RESPONSE_BYTES)"),
        ("max_response_bytes", 2**70, "at most 8388608 (PLATI_MAX_MCP_RESPONSE_BYTES)"),
    ],
)
def test_an_mcp_timeout_or_reply_cap_above_the_operator_maximum_is_a_422_on_register_and_update(
    platform: Platform, shop: str, field: str, value: float, message: str
) -> None:
    with platform.client() as http:
        over_maximum(http.post("/workspace/mcps", json={"name": "shop", "url": shop, field: value}), field, message)
        mcp_id = http.post("/workspace/mcps", json={"name": "shop", "url": shop}).json()["data"]["id"]
        over_maximum(http.patch(f"/workspace/mcps/{mcp_id}", json={field: value}), field, message)
        at_most = {"timeout_seconds": 300, "max_response_bytes": 8 * MiB}[field]
        updated = http.patch(f"/workspace/mcps/{mcp_id}", json={field: at_most})
    assert (updated.status_code, updated.json()["data"][field]) == (200, at_most)


class TestLoweredMaximums:
    @pytest.fixture
    def platform_env(self) -> dict[str, str]:
        return {
            "PLATI_MAX_MCP_TIMEOUT_SECONDS": "2.5",
            "PLATI_MCP_TIMEOUT_SECONDS": "2",
            "PLATI_MAX_MCP_RESPONSE_BYTES": "500000",
            "PLATI_MCP_MAX_RESPONSE_BYTES": "400000",
            "PLATI_MAX_OUTPUT_TOKENS": "1000",
            "PLATI_MAX_PROVIDER_TIMEOUT_SECONDS": "20",
            "PLATI_PROVIDER_TIMEOUT_SECONDS": "10",
            "PLATI_MAX_STEP_LIMIT": "4",
            "PLATI_STEP_LIMIT": "3",
        }

    def test_the_operators_own_maximums_are_the_ones_enforced_and_named(self, platform: Platform, shop: str) -> None:
        body = {"name": "shop", "url": shop, "timeout_seconds": 3, "max_response_bytes": 500_001}
        with platform.client() as http:
            response = http.post("/workspace/mcps", json=body)
            defaults = http.post("/workspace/mcps", json={"name": "shop", "url": shop}).json()["data"]
        assert response.status_code == 422
        assert response.json()["error"]["details"] == [
            {"field": "timeout_seconds", "message": "at most 2.5 (PLATI_MAX_MCP_TIMEOUT_SECONDS)"},
            {"field": "max_response_bytes", "message": "at most 500000 (PLATI_MAX_MCP_RESPONSE_BYTES)"},
        ]
        assert (defaults["timeout_seconds"], defaults["max_response_bytes"]) == (2, 400_000)

    @pytest.mark.parametrize(
        ("settings", "field", "message"),
        [
            ({"max_tokens": 1001}, "settings.max_tokens", "at most 1000 (PLATI_MAX_OUTPUT_TOKENS)"),
            ({"timeout_seconds": 20.5}, "settings.timeout_seconds", "at most 20 (PLATI_MAX_PROVIDER_TIMEOUT_SECONDS)"),
            ({"step_limit": 5}, "settings.step_limit", "at most 4 (PLATI_MAX_STEP_LIMIT)"),
        ],
    )
    def test_an_assistant_setting_above_the_operator_maximum_is_a_422_on_create_and_update(
        self, platform: Platform, settings: dict[str, Any], field: str, message: str
    ) -> None:
        with platform.client() as http:
            over_maximum(http.post("/assistant", json={"name": "A", "settings": settings}), field, message)
            assistant = http.post("/assistant", json={"name": "A"}).json()["data"]["id"]
            over_maximum(http.patch(f"/assistant/{assistant}", json={"settings": settings}), field, message)
            ((key, value),) = settings.items()
            fits = http.patch(f"/assistant/{assistant}", json={"settings": {key: value - 1}})
        assert (fits.status_code, fits.json()["data"]["settings"]) == (200, {key: value - 1})


def test_a_reply_cap_stored_before_the_maximum_was_lowered_is_held_to_the_new_maximum(
    platform: Platform, tmp_path: Path, model: ScriptedProvider, misbehaving: tuple[Misbehaving, str]
) -> None:
    _servers, url = misbehaving  # /big answers a call with a ~2 MB reply
    body = {"name": "big", "transport": "rest", "url": f"{url}/big", "max_response_bytes": 4 * MiB}
    call_f = {"name": "f", "arguments": {"x": 1}}
    with platform.client() as http:
        mcp_id = http.post("/workspace/mcps", json=body).json()["data"]["id"]
        assert http.post(f"/workspace/mcps/{mcp_id}/call", json=call_f).status_code == 200
    with restarted(platform, model, PLATI_MAX_MCP_RESPONSE_BYTES=str(MiB)) as http:
        response = http.post(f"/workspace/mcps/{mcp_id}/call", json=call_f)
        stored = http.get(f"/workspace/mcps/{mcp_id}").json()["data"]["max_response_bytes"]
    assert (response.status_code, response.json()["error"]["code"]) == (502, "upstream_too_large")
    assert stored == 4 * MiB  # shown as stored; used as the operator allows


def test_a_timeout_stored_before_the_maximum_was_lowered_is_held_to_the_new_maximum(
    platform: Platform, tmp_path: Path, model: ScriptedProvider, misbehaving: tuple[Misbehaving, str]
) -> None:
    servers, url = misbehaving  # /slow answers after 2 s unless released
    body = {"name": "slow", "transport": "rest", "url": f"{url}/slow", "timeout_seconds": 30}
    with platform.client() as http:
        mcp_id = http.post("/workspace/mcps", json=body).json()["data"]["id"]
    env = {"PLATI_MAX_MCP_TIMEOUT_SECONDS": "0.3", "PLATI_MCP_TIMEOUT_SECONDS": "0.3"}
    try:
        with restarted(platform, model, **env) as http:
            response = http.post(f"/workspace/mcps/{mcp_id}/call", json={"name": "f", "arguments": {"x": 1}})
    finally:
        servers.release.set()
    assert (response.status_code, response.json()["error"]["code"]) == (504, "upstream_timeout")


def test_a_step_limit_stored_before_the_maximum_was_lowered_is_held_to_the_new_maximum(
    platform: Platform, tmp_path: Path, model: ScriptedProvider, echo_server: str
) -> None:
    with platform.client() as http:
        mcp_id = http.post("/workspace/mcps", json={"name": "tools", "url": echo_server}).json()["data"]["id"]
        assistant = http.post("/assistant", json={"name": "A", "settings": {"step_limit": 10}}).json()["data"]["id"]
        http.put(f"/assistant/{assistant}/mcp/{mcp_id}").raise_for_status()
        channel = http.post("/channels", json={"name": "c", "assistant_id": assistant}).json()["data"]["id"]
    with restarted(platform, model, PLATI_MAX_STEP_LIMIT="2", PLATI_STEP_LIMIT="2") as http:
        data = http.post(f"/conversation/u1/chat/{channel}", json={"text": "loop"}).json()["data"]
    assert len(data["function_calls"]) == 2
    assert "within 2 steps" in data["reply"]


def test_assistant_settings_stored_before_they_were_validated_do_not_break_a_turn(
    platform: Platform, model: ScriptedProvider, echo_server: str
) -> None:
    with platform.client() as http:
        mcp_id = http.post("/workspace/mcps", json={"name": "tools", "url": echo_server}).json()["data"]["id"]
        assistant = http.post("/assistant", json={"name": "A"}).json()["data"]["id"]
        http.put(f"/assistant/{assistant}/mcp/{mcp_id}").raise_for_status()
        channel = http.post("/channels", json={"name": "c", "assistant_id": assistant}).json()["data"]["id"]
    garbage = {"step_limit": "lots", "max_tokens": "many", "temperature": "hot", "timeout_seconds": -1}
    asyncio.run(store_settings(platform, assistant, garbage))
    with restarted(platform, model, PLATI_STEP_LIMIT="2") as http:
        response = http.post(f"/conversation/u1/chat/{channel}", json={"text": "loop"})
        shown = http.get(f"/assistant/{assistant}").json()["data"]["settings"]
    assert response.status_code == 200, response.text
    assert len(response.json()["data"]["function_calls"]) == 2  # the operator's default step limit
    assert shown == garbage


async def store_settings(platform: Platform, assistant_id: str, settings: dict[str, Any]) -> None:
    """Write an assistant's settings behind the API's back (as rows stored by an older version)."""
    db = Database(platform.database_url, schema=platform.schema)
    try:
        async with db.sessionmaker() as session, session.begin():
            await session.execute(update(Assistant).where(Assistant.id == assistant_id).values(settings=settings))
    finally:
        await db.aclose()
