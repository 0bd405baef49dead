"""Two or three ``plati serve`` processes on one PostgreSQL database, as an operator runs them
behind a load balancer: nothing is lost, duplicated or left running, whichever process serves
which message, and a process killed mid-turn costs only its own turn."""

from __future__ import annotations

import asyncio
import itertools
import time
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select

from plati.store.db import Database
from plati.store.models import Message, Turn

from .conftest import Cluster, HeldShop, requires_postgres, serve_cluster

pytestmark = requires_postgres


def chat(http: httpx.Client, channel: str, text: str, identity: str = "alice") -> httpx.Response:
    return http.post(f"/conversation/{identity}/chat/{channel}", json={"text": text})


async def stored(database_url: str, conversation_id: str) -> tuple[list[Turn], list[Message]]:
    db = Database(database_url)
    try:
        async with db.sessionmaker() as session:
            turns = (await session.scalars(select(Turn).where(Turn.conversation_id == conversation_id))).all()
            messages = (
                await session.scalars(
                    select(Message).where(Message.conversation_id == conversation_id).order_by(Message.seq)
                )
            ).all()
        return list(turns), list(messages)
    finally:
        await db.aclose()


def user_texts(messages: list[Message]) -> list[str]:
    return [m.part["text"] for m in messages if m.kind == "user_text"]


def assert_whole(turns: list[Turn], messages: list[Message]) -> None:
    """Sequence numbers 1..n without a gap, every message in a turn of the conversation, each
    turn's user message first among its parts, nothing left running."""
    assert [m.seq for m in messages] == list(range(1, len(messages) + 1))
    by_turn: dict[str, list[Message]] = {}
    for m in messages:
        by_turn.setdefault(m.turn_id, []).append(m)
    assert set(by_turn) == {t.id for t in turns}
    for parts in by_turn.values():
        assert parts[0].kind == "user_text"
        # A turn's parts are contiguous: no other turn's parts in between.
        assert [m.seq for m in parts] == list(range(parts[0].seq, parts[0].seq + len(parts)))
    assert all(t.status != "running" for t in turns)


def test_alternating_sequential_messages_are_all_answered_in_order(
    tmp_path: Path, cluster_database: str, held_shop: HeldShop
) -> None:
    with serve_cluster(tmp_path, cluster_database, 2) as cluster:
        channel = cluster.channel(held_shop.url)
        clients = [cluster.client(0), cluster.client(1)]
        texts = [f"Check my order ORD-00{n}" for n in range(1, 7)]
        replies = [chat(clients[n % 2], channel, text) for n, text in enumerate(texts)]
        for client in clients:
            client.close()
    assert [r.status_code for r in replies] == [200] * 6, [r.text for r in replies]
    conversation_id = replies[0].json()["data"]["conversation_id"]
    assert {r.json()["data"]["conversation_id"] for r in replies} == {conversation_id}
    turns, messages = asyncio.run(stored(cluster_database, conversation_id))
    assert_whole(turns, messages)
    assert user_texts(messages) == texts
    assert [t.status for t in sorted(turns, key=lambda t: t.started_at)] == ["completed"] * 6
    assert held_shop.calls == [f"ORD-00{n}" for n in range(1, 7)]


async def _burst(cluster: Cluster, channel: str, texts: list[str]) -> list[httpx.Response]:
    clients = [cluster.async_client(i) for i in range(len(cluster.processes))]
    try:
        spread = zip(texts, itertools.cycle(clients), strict=False)
        return await asyncio.gather(
            *(client.post(f"/conversation/bob/chat/{channel}", json={"text": text}) for text, client in spread)
        )
    finally:
        for client in clients:
            await client.aclose()


def test_concurrent_bursts_to_one_conversation_follow_the_channel_policy(
    tmp_path: Path, cluster_database: str, held_shop: HeldShop
) -> None:
    with serve_cluster(tmp_path, cluster_database, 3) as cluster:
        queued = cluster.channel(held_shop.url)
        with cluster.client(0) as http:
            rejecting = http.post(
                "/channels",
                json={
                    "name": "strict",
                    "assistant_id": http.get(f"/channels/{queued}").json()["data"]["assistant_id"],
                    "multitask_strategy": "reject",
                },
            ).json()["data"]["id"]
        enqueue_texts = [f"Check my order ORD-1{n:02d}" for n in range(12)]
        reject_texts = [f"Check my order ORD-2{n:02d}" for n in range(12)]
        enqueued = asyncio.run(_burst(cluster, queued, enqueue_texts))
        rejected = asyncio.run(_burst(cluster, rejecting, reject_texts))

    # enqueue: every message answered, each stored once, in some order, whole.
    assert [r.status_code for r in enqueued] == [200] * 12, [r.text for r in enqueued if r.status_code != 200]
    conversation_id = enqueued[0].json()["data"]["conversation_id"]
    turns, messages = asyncio.run(stored(cluster_database, conversation_id))
    assert_whole(turns, messages)
    assert sorted(user_texts(messages)) == sorted(enqueue_texts)
    assert all(t.status == "completed" for t in turns) and len(turns) == 12
    for response in enqueued:  # each reply answers its own message
        data = response.json()["data"]
        [call] = data["function_calls"]
        assert call["arguments"]["order_id"] in data["reply"]

    # reject: answered or 409 conversation_busy; the rejected are not stored at all.
    codes = [r.status_code for r in rejected]
    assert set(codes) <= {200, 409} and 200 in codes, [r.text for r in rejected]
    busy = [r.json() for r in rejected if r.status_code == 409]
    assert all(body["error"]["code"] == "conversation_busy" for body in busy)
    answered = [text for text, r in zip(reject_texts, rejected, strict=True) if r.status_code == 200]
    conversation_id = next(r for r in rejected if r.status_code == 200).json()["data"]["conversation_id"]
    turns, messages = asyncio.run(stored(cluster_database, conversation_id))
    assert_whole(turns, messages)
    assert sorted(user_texts(messages)) == sorted(answered)
    assert sorted(held_shop.calls) == sorted(t.split()[-1] for t in enqueue_texts + answered)


def _in_thread(work: Any) -> tuple[Any, list[Any]]:
    import threading

    out: list[Any] = []
    thread = threading.Thread(target=lambda: out.append(work()), daemon=True)
    thread.start()
    return thread, out


def test_a_process_killed_mid_turn_costs_only_its_own_turn(
    tmp_path: Path, cluster_database: str, held_shop: HeldShop
) -> None:
    lease = 1.5
    held_shop.hold = {"ORD-901", "ORD-902"}
    held_shop.hold_seconds = 4.0
    with serve_cluster(tmp_path, cluster_database, 2, PLATI_TURN_LEASE_SECONDS=str(lease)) as cluster:
        channel = cluster.channel(held_shop.url)
        doomed, survivor = cluster.client(0), cluster.client(1)
        # A turn on each process, both waiting for the function server.
        dying, _ = _in_thread(lambda: _swallow(lambda: chat(doomed, channel, "Check my order ORD-901", "carol")))
        living, living_reply = _in_thread(lambda: chat(survivor, channel, "Check my order ORD-902", "dave"))
        assert held_shop.arrived("ORD-901").wait(30) and held_shop.arrived("ORD-902").wait(30)
        cluster.processes[0].kill()
        killed_at = time.monotonic()
        dying.join(10)

        # The dead process's turn is marked failed within the lease (checked on the database).
        carol = survivor.get("/conversations", params={"identity_id": "carol"}).json()["data"]["conversations"]
        carol_id = carol[0]["id"]
        while True:
            turns, _ = asyncio.run(stored(cluster_database, carol_id))
            if turns[0].status != "running":
                break
            assert time.monotonic() - killed_at < lease * 2 + 2, "the dead process's turn was not marked failed"
            time.sleep(0.1)
        marked_after = time.monotonic() - killed_at
        assert turns[0].status == "failed" and turns[0].error == "The service stopped during this turn"

        # The survivor's turn, running all along, completes untouched.
        living.join(30)
        assert living_reply[0].status_code == 200, living_reply[0].text
        dave_id = living_reply[0].json()["data"]["conversation_id"]
        dave_turns, _ = asyncio.run(stored(cluster_database, dave_id))
        assert [t.status for t in dave_turns] == ["completed"]

        # The conversation of the dead turn goes on, on the survivor.
        held_shop.hold = set()
        again = chat(survivor, channel, "Check my order ORD-903", "carol")
        assert again.status_code == 200, again.text
        turns, messages = asyncio.run(stored(cluster_database, carol_id))
        assert_whole(turns, messages)
        assert user_texts(messages) == ["Check my order ORD-901", "Check my order ORD-903"]
        doomed.close()
        survivor.close()
    assert marked_after <= lease + 1.5  # the lease, and at most one check period after it (lease / 3)


def _swallow(work: Any) -> Any:
    try:
        return work()
    except httpx.HTTPError as exc:
        return exc


def test_a_configuration_change_reaches_the_other_process_within_a_second(
    tmp_path: Path, cluster_database: str, held_shop: HeldShop
) -> None:
    with serve_cluster(tmp_path, cluster_database, 2) as cluster:
        channel = cluster.channel(held_shop.url)
        with cluster.client(0) as writer, cluster.client(1) as reader:
            assert chat(reader, channel, "Check my order ORD-001").status_code == 200  # cached there now
            assert writer.put(f"/channels/{channel}", json={"active": False}).status_code == 200
            changed = time.monotonic()
            while (answer := chat(reader, channel, "Check my order ORD-002")).status_code == 200:
                assert time.monotonic() - changed < 5
                time.sleep(0.05)
            seen_after = time.monotonic() - changed
            assert answer.status_code == 409 and "inactive" in answer.json()["message"]
    assert seen_after < 1.0


def test_interrupt_cancels_the_turn_running_on_another_process(
    tmp_path: Path, cluster_database: str, held_shop: HeldShop
) -> None:
    held_shop.hold = {"ORD-501"}
    held_shop.hold_seconds = 8.0
    with serve_cluster(tmp_path, cluster_database, 2) as cluster:
        channel = cluster.channel(held_shop.url, multitask_strategy="interrupt")
        with cluster.client(0) as first, cluster.client(1) as second:
            running, first_reply = _in_thread(lambda: chat(first, channel, "Check my order ORD-501"))
            assert held_shop.arrived("ORD-501").wait(30)
            newer = chat(second, channel, "Check my order ORD-502")
            running.join(30)
    assert newer.status_code == 200, newer.text
    assert first_reply[0].status_code == 409, first_reply[0].text
    assert first_reply[0].json()["error"]["code"] == "turn_interrupted"
    data = newer.json()["data"]
    old_turn = first_reply[0].json()["error"]["details"]["turn_id"]
    assert data["interrupted_turn_id"] == old_turn
    turns, messages = asyncio.run(stored(cluster_database, data["conversation_id"]))
    assert_whole(turns, messages)
    status = {t.id: t.status for t in turns}
    assert status == {old_turn: "interrupted", data["turn_id"]: "completed"}
    # What the interrupted turn stored stays: its message, its call, and the mark.
    kinds = [m.kind for m in messages if m.turn_id == old_turn]
    assert kinds[:2] == ["user_text", "function_call"] and kinds[-1] == "error"
