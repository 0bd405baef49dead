"""A channel's cached configuration is reloaded after a change committed in this process at once,
and after a change made by another process once the entry's lifetime is over."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, update

from plati.connectors import ConnectorManager
from plati.engine.config import ChannelConfigs
from plati.errors import NotFound
from plati.ids import new_id, utcnow
from plati.registry import Registry
from plati.security.secrets import SecretBox
from plati.settings import Settings
from plati.store.db import Database
from plati.store.models import Assistant, Channel, Workspace
from tests.plati.conftest import DatabaseTarget


async def seed(db: Database) -> tuple[str, str, str]:
    now = utcnow()
    workspace_id, assistant_id, channel_id = new_id("ws"), new_id("asst"), new_id("chn")
    async with db.sessionmaker() as session, session.begin():
        session.add(Workspace(id=workspace_id, name="w", created_at=now))
        await session.flush()
        session.add(
            Assistant(
                id=assistant_id,
                workspace_id=workspace_id,
                name="A",
                instructions="first",
                provider="OFFLINE",
                created_at=now,
                updated_at=now,
            )
        )
        await session.flush()
        session.add(
            Channel(
                id=channel_id,
                workspace_id=workspace_id,
                name="c",
                assistant_id=assistant_id,
                created_at=now,
                updated_at=now,
            )
        )
    return workspace_id, assistant_id, channel_id


async def set_instructions(db: Database, assistant_id: str, text: str) -> None:
    async with db.sessionmaker() as session, session.begin():
        await session.execute(update(Assistant).where(Assistant.id == assistant_id).values(instructions=text))


def registry_for(db: Database, tmp_path: Path) -> Registry:
    settings = Settings.load(env={"PLATI_DATA_DIR": str(tmp_path), "PLATI_DATABASE_URL": db.url})
    return Registry(settings, db.sessionmaker, SecretBox(settings.secret_key), ConnectorManager())


def instructions(config: object) -> str:
    assistant = getattr(config, "assistant", None)
    assert assistant is not None
    return str(assistant.instructions)


async def test_a_change_committed_in_this_process_is_seen_by_the_next_read(
    database: Database, database_url: DatabaseTarget, tmp_path: Path
) -> None:
    workspace_id, assistant_id, channel_id = await seed(database)
    configs = ChannelConfigs(database, registry_for(database, tmp_path), ttl_seconds=3600)
    assert instructions(await configs.get(workspace_id, channel_id)) == "first"

    elsewhere = Database(database_url.url, schema=database_url.schema)  # another process's engine
    try:
        await set_instructions(elsewhere, assistant_id, "changed elsewhere")
    finally:
        await elsewhere.aclose()
    # Not seen yet: nothing moved in this process, and the entry is still young.
    assert instructions(await configs.get(workspace_id, channel_id)) == "first"

    await set_instructions(database, assistant_id, "changed here")
    assert instructions(await configs.get(workspace_id, channel_id)) == "changed here"


async def test_a_change_made_by_another_process_is_seen_once_the_entry_expires(
    database: Database, database_url: DatabaseTarget, tmp_path: Path
) -> None:
    workspace_id, assistant_id, channel_id = await seed(database)
    configs = ChannelConfigs(database, registry_for(database, tmp_path), ttl_seconds=0)
    assert instructions(await configs.get(workspace_id, channel_id)) == "first"
    elsewhere = Database(database_url.url, schema=database_url.schema)
    try:
        await set_instructions(elsewhere, assistant_id, "changed elsewhere")
    finally:
        await elsewhere.aclose()
    assert instructions(await configs.get(workspace_id, channel_id)) == "changed elsewhere"


async def test_an_unknown_channel_is_not_found_and_not_remembered(database: Database, tmp_path: Path) -> None:
    workspace_id, _assistant_id, channel_id = await seed(database)
    configs = ChannelConfigs(database, registry_for(database, tmp_path), ttl_seconds=3600)
    with pytest.raises(NotFound):
        await configs.get(workspace_id, "chn_nope")
    with pytest.raises(NotFound):  # another workspace's channel
        await configs.get("ws_other", channel_id)
    assert (await configs.get(workspace_id, channel_id)).channel_id == channel_id


async def test_turns_arriving_together_on_a_cold_channel_load_its_configuration_once(
    database: Database, tmp_path: Path
) -> None:
    workspace_id, _assistant_id, channel_id = await seed(database)
    configs = ChannelConfigs(database, registry_for(database, tmp_path), ttl_seconds=3600)
    channel_reads: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().startswith("SELECT channels."):
            channel_reads.append(statement)

    event.listen(database.engine.sync_engine, "before_cursor_execute", count)
    try:
        found = await asyncio.gather(*(configs.get(workspace_id, channel_id) for _ in range(20)))
    finally:
        event.remove(database.engine.sync_engine, "before_cursor_execute", count)
    assert len(channel_reads) == 1
    assert all(config is found[0] for config in found)
