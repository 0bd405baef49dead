"""Turns keep the channel's configuration and the conversation in memory: every change made
through the API reaches the next turn, the history the model sees is the stored one (after a
restart too), and a conversation deleted behind the platform's back is started afresh at the next
message."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import delete, select

from plati.app import create_app
from plati.engine.messages import FunctionCall, Part, UserText, part_adapter
from plati.engine.providers import ModelReply, ModelRequest
from plati.engine.providers.scripted import ScriptedProvider, call, reply
from plati.store.db import Database
from plati.store.models import Conversation, Message
from plati_mcp import MCP
from tests.conftest import serve_app

from .conftest import Platform


class Recorder:
    """A model that calls ``echo`` once per turn, then answers; it records every request."""

    def __init__(self) -> None:
        self.requests: list[ModelRequest] = []

    def __call__(self, request: ModelRequest) -> ModelReply:
        self.requests.append(request)
        last = request.history[-1] if request.history else None
        if isinstance(last, UserText) and request.tools:
            return reply(call(request.tools[0].name, text=last.text))
        return reply("done")


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def model(recorder: Recorder) -> ScriptedProvider:
    return ScriptedProvider(recorder)


@pytest.fixture
def echo_server() -> Iterator[str]:
    mcp = MCP(name="tools")

    @mcp.function
    def echo(text: str) -> str:
        return text

    @mcp.function
    def shout(text: str) -> str:
        return text.upper()

    with serve_app(mcp.app) as url:
        yield url


def setup_channel(http: httpx.Client, url: str) -> dict[str, str]:
    mcp_id = http.post("/workspace/mcps", json={"name": "tools", "url": url}).json()["data"]["id"]
    first = http.post("/assistant", json={"name": "A", "instructions": "First: {{function.echo(text)}}."})
    assistant_id = first.json()["data"]["id"]
    assert http.put(f"/assistant/{assistant_id}/mcp/{mcp_id}").status_code == 200
    channel = http.post("/channels", json={"name": "c", "assistant_id": assistant_id}).json()["data"]["id"]
    return {"mcp": mcp_id, "assistant": assistant_id, "channel": channel}


def chat(http: httpx.Client, channel: str, text: str, identity: str = "u1") -> httpx.Response:
    return http.post(f"/conversation/{identity}/chat/{channel}", json={"text": text})


def test_every_configuration_change_reaches_the_next_turn(
    platform: Platform, recorder: Recorder, echo_server: str
) -> None:
    with platform.client() as http:
        ids = setup_channel(http, echo_server)
        assert chat(http, ids["channel"], "one").status_code == 200
        first = recorder.requests[-1]
        assert [tool.name for tool in first.tools] == ["echo", "shout"]
        assert first.system.startswith("First: echo(text)")

        assert http.patch(f"/assistant/{ids['assistant']}", json={"instructions": "Second."}).status_code == 200
        assert chat(http, ids["channel"], "two").status_code == 200
        assert recorder.requests[-1].system.startswith("Second.")

        assert http.patch(f"/workspace/mcps/{ids['mcp']}", json={"enabled": False}).status_code == 200
        assert chat(http, ids["channel"], "three").json()["data"]["function_calls"] == []
        assert recorder.requests[-1].tools == []

        assert http.patch(f"/workspace/mcps/{ids['mcp']}", json={"enabled": True}).status_code == 200
        assert chat(http, ids["channel"], "four").json()["data"]["function_calls"][0]["name"] == "echo"
        assert http.delete(f"/assistant/{ids['assistant']}/mcp/{ids['mcp']}").status_code == 200
        assert chat(http, ids["channel"], "five").json()["data"]["function_calls"] == []

        other = http.post("/assistant", json={"name": "B", "instructions": "Other."}).json()["data"]["id"]
        assert http.put(f"/channels/{ids['channel']}", json={"assistant_id": other}).status_code == 200
        answered = chat(http, ids["channel"], "six")
        assert answered.json()["data"]["assistant_id"] == other
        assert recorder.requests[-1].system.startswith("Other.")

        assert http.put(f"/channels/{ids['channel']}", json={"active": False}).status_code == 200
        refused = chat(http, ids["channel"], "seven")
        assert refused.status_code == 409 and refused.json()["error"]["code"] == "conflict"


async def _stored_parts(platform: Platform, conversation_id: str) -> list[Part]:
    db = Database(platform.database_url, schema=platform.schema)
    try:
        async with db.sessionmaker() as session:
            rows = (
                await session.scalars(
                    select(Message.part).where(Message.conversation_id == conversation_id).order_by(Message.seq)
                )
            ).all()
        return [part_adapter.validate_python(row) for row in rows]
    finally:
        await db.aclose()


def test_the_model_sees_the_stored_history_before_and_after_a_restart(
    platform: Platform, recorder: Recorder, echo_server: str, tmp_path: Path, database_url: Any
) -> None:
    with platform.client() as http:
        ids = setup_channel(http, echo_server)
        for text in ("one", "two", "three"):
            data = chat(http, ids["channel"], text).json()["data"]
    conversation_id = data["conversation_id"]
    stored = asyncio.run(_stored_parts(platform, conversation_id))
    assert len(stored) == 12  # per turn: the user's text, a call, its result, the reply
    # The last request of turn three saw everything stored before its reply.
    assert recorder.requests[-1].history == stored[:-1]

    # Another process on the same database (this one idle) reads the history from the database.
    restarted = create_app(
        platform.settings, database_schema=database_url.schema, provider_override=ScriptedProvider(recorder)
    )
    with serve_app(restarted) as url, httpx.Client(base_url=url, headers=platform.client().headers) as http:
        assert chat(http, ids["channel"], "four").json()["data"]["conversation_id"] == conversation_id
    turn_four_first_request = recorder.requests[-2]
    assert turn_four_first_request.history == [*stored, UserText(text="four")]
    assert isinstance(recorder.requests[-1].history[-2], FunctionCall)


async def _delete_conversation(platform: Platform, conversation_id: str) -> None:
    db = Database(platform.database_url, schema=platform.schema)
    try:
        async with db.sessionmaker() as session, session.begin():
            await session.execute(delete(Conversation).where(Conversation.id == conversation_id))
    finally:
        await db.aclose()


def test_a_conversation_deleted_behind_the_platforms_back_is_started_afresh_at_the_next_message(
    platform: Platform, recorder: Recorder, echo_server: str
) -> None:
    with platform.client() as http:
        ids = setup_channel(http, echo_server)
        first = chat(http, ids["channel"], "one").json()["data"]["conversation_id"]
        asyncio.run(_delete_conversation(platform, first))  # e.g. a retention job

        again = chat(http, ids["channel"], "two")
        assert again.status_code == 200
        second = again.json()["data"]["conversation_id"]
        assert second != first
        assert recorder.requests[-2].history == [UserText(text="two")]  # nothing of the old one
        assert chat(http, ids["channel"], "three").json()["data"]["conversation_id"] == second
        listed = http.get("/conversations").json()["data"]["conversations"]
        assert [c["id"] for c in listed] == [second]
