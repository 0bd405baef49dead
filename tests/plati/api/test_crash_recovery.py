"""A turn cut short by a crash keeps what it stored and shows as failed after the next start."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from sqlalchemy import select
from starlette.testclient import TestClient

from plati.app import create_app
from plati.ids import new_id, utcnow
from plati.store.db import Database
from plati.store.models import Channel, Conversation, Identity, Message, Turn, Workspace

from .conftest import make_settings


async def _seed_interrupted_turn(url: str, schema: str | None) -> str:
    db = Database(url, schema=schema)
    try:
        now = utcnow()
        ids = {name: new_id(name) for name in ("ws", "chn", "idn", "conv", "turn")}
        async with db.sessionmaker() as session, session.begin():
            session.add(Workspace(id=ids["ws"], name="w", created_at=now))
            await session.flush()
            session.add(Channel(id=ids["chn"], workspace_id=ids["ws"], name="c", created_at=now, updated_at=now))
            session.add(Identity(id=ids["idn"], workspace_id=ids["ws"], external_id="u", created_at=now))
            await session.flush()
            session.add(
                Conversation(
                    id=ids["conv"],
                    workspace_id=ids["ws"],
                    channel_id=ids["chn"],
                    identity_id=ids["idn"],
                    created_at=now,
                    updated_at=now,
                )
            )
            await session.flush()
            session.add(Turn(id=ids["turn"], conversation_id=ids["conv"], status="running", usage={}, started_at=now))
            await session.flush()
            session.add(
                Message(
                    id=new_id("msg"),
                    conversation_id=ids["conv"],
                    turn_id=ids["turn"],
                    seq=1,
                    kind="user_text",
                    part={"kind": "user_text", "text": "hello"},
                    created_at=now,
                )
            )
        return ids["turn"]
    finally:
        await db.aclose()


async def _turn_and_messages(url: str, schema: str | None, turn_id: str) -> tuple[Turn, list[Message]]:
    db = Database(url, schema=schema)
    try:
        async with db.sessionmaker() as session:
            turn = await session.get_one(Turn, turn_id)
            messages = list((await session.scalars(select(Message).where(Message.turn_id == turn_id))).all())
            return turn, messages
    finally:
        await db.aclose()


def test_turns_left_running_are_marked_failed_at_start(tmp_path: Path, database_url: Any) -> None:
    settings = make_settings(tmp_path, database_url.url)
    with TestClient(create_app(settings, database_schema=database_url.schema)):
        pass  # first start: migrations
    turn_id = asyncio.run(_seed_interrupted_turn(database_url.url, database_url.schema))
    with TestClient(create_app(settings, database_schema=database_url.schema)):
        turn, messages = asyncio.run(_turn_and_messages(database_url.url, database_url.schema, turn_id))
    assert turn.status == "failed"
    assert turn.error == "The service stopped during this turn"
    assert [m.part["text"] for m in messages] == ["hello"]
