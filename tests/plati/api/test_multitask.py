"""A message that arrives while a reply in its conversation is running follows the channel's
``multitask_strategy``: enqueue (answered after it), reject (409, nothing stored) or interrupt (the
running reply is cancelled, what it stored is kept and marked). The SSE stream says which."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from plati.cli.demo import GUIDE_PROMPT
from plati.store.db import Database
from plati.store.models import Message, Turn
from tests.conftest import serve_app
from tests.plati.cluster.conftest import HeldShop, held_shop_server

from .conftest import Platform


@pytest.fixture
def held_shop() -> Iterator[HeldShop]:
    shop = HeldShop(hold_seconds=3.0)
    with serve_app(held_shop_server(shop)) as url:
        shop.url = url
        yield shop


def setup_channel(http: httpx.Client, shop: str, strategy: str | None = None) -> str:
    mcp_id = http.post("/workspace/mcps", json={"name": "Order Management System", "url": shop}).json()["data"]["id"]
    assistant_id = http.post("/assistant", json={"name": "Support", "instructions": GUIDE_PROMPT}).json()["data"]["id"]
    http.put(f"/assistant/{assistant_id}/mcp/{mcp_id}")
    body: dict[str, Any] = {"name": "web", "assistant_id": assistant_id}
    if strategy is not None:
        body["multitask_strategy"] = strategy
    created = http.post("/channels", json=body)
    assert created.status_code == 201, created.text
    return str(created.json()["data"]["id"])


def in_background(work: Any) -> tuple[threading.Thread, list[Any]]:
    out: list[Any] = []
    thread = threading.Thread(target=lambda: out.append(work()), daemon=True)
    thread.start()
    return thread, out


def events(response: httpx.Response) -> list[dict[str, Any]]:
    return [json.loads(line[6:]) for line in response.text.splitlines() if line.startswith("data: ")]


async def _stored(platform: Platform, conversation_id: str) -> tuple[list[Turn], list[Message]]:
    db = Database(platform.database_url, schema=platform.schema)
    try:
        async with db.sessionmaker() as session:
            turns = (await session.scalars(select(Turn).where(Turn.conversation_id == conversation_id))).all()
            messages = (
                await session.scalars(
                    select(Message).where(Message.conversation_id == conversation_id).order_by(Message.seq)
                )
            ).all()
        return sorted(turns, key=lambda t: t.started_at), list(messages)
    finally:
        await db.aclose()


def stored(platform: Platform, conversation_id: str) -> tuple[list[Turn], list[Message]]:
    return asyncio.run(_stored(platform, conversation_id))


def test_channels_carry_a_multitask_strategy(platform: Platform, held_shop: HeldShop) -> None:
    with platform.client() as http:
        channel = setup_channel(http, held_shop.url)
        assert http.get(f"/channels/{channel}").json()["data"]["multitask_strategy"] == "enqueue"
        updated = http.put(f"/channels/{channel}", json={"multitask_strategy": "reject"})
        assert updated.json()["data"]["multitask_strategy"] == "reject"
        wrong = http.put(f"/channels/{channel}", json={"multitask_strategy": "rollback"})
        assert wrong.status_code == 422
        assert wrong.json()["error"]["details"][0]["field"] == "multitask_strategy"


def test_enqueue_answers_the_second_message_after_the_first_and_the_stream_says_so(
    platform: Platform, held_shop: HeldShop
) -> None:
    held_shop.hold = {"ORD-601"}
    with platform.client() as http:
        channel = setup_channel(http, held_shop.url)
        first, first_out = in_background(
            lambda: http.post(f"/conversation/u/chat/{channel}", json={"text": "Check my order ORD-601"})
        )
        assert held_shop.arrived("ORD-601").wait(10)
        second = http.post(
            f"/conversation/u/chat/{channel}",
            json={"text": "Check my order ORD-602"},
            headers={"Accept": "text/event-stream"},
        )
        first.join(10)
    assert first_out[0].status_code == 200 and second.status_code == 200
    stream = events(second)
    assert stream[0]["type"] == "queued"
    assert stream[-1]["type"] == "complete" and "ORD-602" in stream[-1]["content"]
    turns, messages = stored(platform, stream[-1]["data"]["conversation_id"])
    assert [t.status for t in turns] == ["completed", "completed"]
    texts = [m.part["text"] for m in messages if m.kind == "user_text"]
    assert texts == ["Check my order ORD-601", "Check my order ORD-602"]
    assert [m.seq for m in messages] == list(range(1, len(messages) + 1))


def test_reject_refuses_a_message_while_a_reply_runs_and_stores_nothing_of_it(
    platform: Platform, held_shop: HeldShop
) -> None:
    held_shop.hold = {"ORD-611"}
    with platform.client() as http:
        channel = setup_channel(http, held_shop.url, "reject")
        first, first_out = in_background(
            lambda: http.post(f"/conversation/u/chat/{channel}", json={"text": "Check my order ORD-611"})
        )
        assert held_shop.arrived("ORD-611").wait(10)
        refused = http.post(f"/conversation/u/chat/{channel}", json={"text": "Check my order ORD-612"})
        streamed = http.post(
            f"/conversation/u/chat/{channel}",
            json={"text": "Check my order ORD-613"},
            headers={"Accept": "text/event-stream"},
        )
        first.join(10)
        after = http.post(f"/conversation/u/chat/{channel}", json={"text": "Check my order ORD-614"})
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "conversation_busy"
    assert "reject" in refused.json()["message"]
    assert streamed.status_code == 409  # refused before the stream starts
    assert first_out[0].status_code == 200 and after.status_code == 200
    _turns, messages = stored(platform, after.json()["data"]["conversation_id"])
    assert [m.part["text"] for m in messages if m.kind == "user_text"] == [
        "Check my order ORD-611",
        "Check my order ORD-614",
    ]
    assert held_shop.calls == ["ORD-611", "ORD-614"]


def test_interrupt_cancels_the_running_reply_keeps_what_it_stored_and_answers_the_new_message(
    platform: Platform, held_shop: HeldShop
) -> None:
    held_shop.hold = {"ORD-621"}
    with platform.client() as http:
        channel = setup_channel(http, held_shop.url, "interrupt")
        first, first_out = in_background(
            lambda: http.post(f"/conversation/u/chat/{channel}", json={"text": "Check my order ORD-621"})
        )
        assert held_shop.arrived("ORD-621").wait(10)
        newer = http.post(
            f"/conversation/u/chat/{channel}",
            json={"text": "Check my order ORD-622"},
            headers={"Accept": "text/event-stream"},
        )
        first.join(10)
    interrupted = first_out[0]
    assert interrupted.status_code == 409 and interrupted.json()["error"]["code"] == "turn_interrupted"
    old_turn = interrupted.json()["error"]["details"]["turn_id"]
    stream = events(newer)
    assert stream[0] == {
        "type": "interrupted",
        "turn_id": old_turn,
        "content": "The reply to the previous message was interrupted; this message is answered next",
    }
    done = stream[-1]
    assert done["type"] == "complete" and done["data"]["interrupted_turn_id"] == old_turn
    turns, messages = stored(platform, done["data"]["conversation_id"])
    assert [(t.id, t.status) for t in turns] == [(old_turn, "interrupted"), (done["data"]["turn_id"], "completed")]
    old = [m for m in messages if m.turn_id == old_turn]
    assert [m.kind for m in old] == ["user_text", "function_call", "error"]
    assert old[-1].part["message"] == "This reply was interrupted by a newer message."
    assert [m.seq for m in messages] == list(range(1, len(messages) + 1))
