"""The rows behave the same on both backends: cascades, unique constraints, UTC datetimes, JSON."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError, StatementError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from plati.ids import new_id, utcnow
from plati.security.keys import generate_api_key, hash_api_key, key_prefix
from plati.store.db import Database, run_migrations
from plati.store.direct import SqliteDriver
from plati.store.hot import HotStore
from plati.store.models import ApiKey, Assistant, AssistantMcp, Base, Channel, McpServer, McpTool, Workspace


def workspace(name: str = "main") -> Workspace:
    return Workspace(id=new_id("ws"), name=name, created_at=utcnow())


def api_key(workspace_id: str, key: str | None = None) -> ApiKey:
    key = key or generate_api_key()
    return ApiKey(
        id=new_id("key"),
        workspace_id=workspace_id,
        name="default",
        access="read-write",
        key_hash=hash_api_key(key),
        prefix=key_prefix(key),
        created_at=utcnow(),
    )


def mcp(workspace_id: str, name: str = "shop", **extra: Any) -> McpServer:
    now = utcnow()
    values: dict[str, Any] = {
        "id": new_id("mcp"),
        "workspace_id": workspace_id,
        "name": name,
        "transport": "http",
        "url": "http://127.0.0.1:1",
        "timeout_seconds": 30.0,
        "max_response_bytes": 1_048_576,
        "created_at": now,
        "updated_at": now,
    }
    values.update(extra)
    return McpServer(**values)


def tool(name: str, position: int = 0) -> McpTool:
    return McpTool(name=name, description=f"{name}.", input_schema={"type": "object"}, position=position)


def assistant(workspace_id: str) -> Assistant:
    now = utcnow()
    return Assistant(
        id=new_id("asst"), workspace_id=workspace_id, name="Helper", provider="OFFLINE", created_at=now, updated_at=now
    )


def channel(workspace_id: str, assistant_id: str | None) -> Channel:
    now = utcnow()
    return Channel(
        id=new_id("chn"),
        workspace_id=workspace_id,
        name="web",
        assistant_id=assistant_id,
        created_at=now,
        updated_at=now,
    )


async def count(session: AsyncSession, model: type[Base]) -> int:
    return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def seed(db: Database) -> dict[str, str]:
    """A workspace with a key, an MCP with two tools, an assistant attached to it and a channel."""
    async with db.session() as session, session.begin():
        ws = workspace()
        session.add(ws)
        await session.flush()
        server = mcp(ws.id)
        server.tools.extend([tool("b", 1), tool("a", 0)])
        bot = assistant(ws.id)
        session.add_all([api_key(ws.id), server, bot])
        await session.flush()
        session.add(AssistantMcp(assistant_id=bot.id, mcp_id=server.id, created_at=utcnow()))
        chn = channel(ws.id, bot.id)
        session.add(chn)
    return {"workspace": ws.id, "mcp": server.id, "assistant": bot.id, "channel": chn.id}


async def test_defaults_are_filled_in(database: Database) -> None:
    ids = await seed(database)
    async with database.session() as session:
        server = await session.get_one(McpServer, ids["mcp"])
        assert server.args == []
        assert server.enabled is True
        assert server.status == "unknown"
        assert server.protocol is None
        bot = await session.get_one(Assistant, ids["assistant"])
        assert bot.languages == []
        assert bot.settings == {}
        assert bot.instructions == ""
        chn = await session.get_one(Channel, ids["channel"])
        assert chn.type == "api"
        assert chn.active is True


async def test_tools_load_eagerly_in_position_order(database: Database) -> None:
    ids = await seed(database)
    async with database.session() as session:
        server = await session.scalar(select(McpServer).where(McpServer.id == ids["mcp"]))
        assert server is not None
        assert [t.name for t in server.tools] == ["a", "b"]  # no lazy load needed under asyncio
        bot = await session.get_one(Assistant, ids["assistant"], options=[selectinload(Assistant.mcp_links)])
        assert [link.mcp_id for link in bot.mcp_links] == [ids["mcp"]]


async def test_replacing_the_tools_with_the_same_names_needs_a_flush_between(database: Database) -> None:
    ids = await seed(database)
    async with database.session() as session, session.begin():
        server = await session.get_one(McpServer, ids["mcp"])
        server.tools.clear()
        await session.flush()  # deletes first: (mcp_id, name) is unique
        server.tools.extend([tool("a", 0), tool("c", 1)])
    async with database.session() as session:
        names = (await session.scalars(select(McpTool.name).where(McpTool.mcp_id == ids["mcp"]))).all()
        assert sorted(names) == ["a", "c"]


async def test_deleting_a_workspace_removes_everything_in_it(database: Database) -> None:
    ids = await seed(database)
    other = await seed(database)
    async with database.session() as session, session.begin():
        await session.delete(await session.get_one(Workspace, ids["workspace"]))
    async with database.session() as session:
        for model in (ApiKey, McpServer, McpTool, Assistant, AssistantMcp, Channel):
            assert await count(session, model) == (2 if model is McpTool else 1), model.__name__
        assert await session.get(McpServer, other["mcp"]) is not None


async def test_deleting_a_workspace_by_sql_cascades_in_the_database(database: Database) -> None:
    from sqlalchemy import delete

    ids = await seed(database)
    async with database.session() as session, session.begin():
        await session.execute(delete(Workspace).where(Workspace.id == ids["workspace"]))
    async with database.session() as session:
        for model in (ApiKey, McpServer, McpTool, Assistant, AssistantMcp, Channel):
            assert await count(session, model) == 0, model.__name__


async def test_deleting_an_mcp_removes_its_tools_and_assistant_links(database: Database) -> None:
    ids = await seed(database)
    async with database.session() as session, session.begin():
        await session.delete(await session.get_one(McpServer, ids["mcp"]))
    async with database.session() as session:
        assert await count(session, McpTool) == 0
        assert await count(session, AssistantMcp) == 0
        bot = await session.get_one(Assistant, ids["assistant"], options=[selectinload(Assistant.mcp_links)])
        assert bot.mcp_links == []


async def test_deleting_an_assistant_detaches_its_channels(database: Database) -> None:
    ids = await seed(database)
    async with database.session() as session, session.begin():
        await session.delete(await session.get_one(Assistant, ids["assistant"]))
    async with database.session() as session:
        chn = await session.get_one(Channel, ids["channel"])
        assert chn.assistant_id is None
        assert await count(session, AssistantMcp) == 0
        assert await count(session, McpServer) == 1


async def test_mcp_names_are_unique_per_workspace(database: Database) -> None:
    ids = await seed(database)
    other = await seed(database)
    async with database.session() as session, session.begin():
        session.add(mcp(other["workspace"], name="second"))  # another name: fine
    with pytest.raises(IntegrityError):
        async with database.session() as session, session.begin():
            session.add(mcp(ids["workspace"], name="shop"))


async def test_key_hashes_are_unique(database: Database) -> None:
    ids = await seed(database)
    key = generate_api_key()
    async with database.session() as session, session.begin():
        session.add(api_key(ids["workspace"], key))
    with pytest.raises(IntegrityError):
        async with database.session() as session, session.begin():
            session.add(api_key(ids["workspace"], key))


async def test_tool_names_are_unique_per_mcp(database: Database) -> None:
    ids = await seed(database)
    with pytest.raises(IntegrityError):
        async with database.session() as session, session.begin():
            session.add(McpTool(mcp_id=ids["mcp"], name="a", description="", input_schema={}, position=5))


async def test_foreign_keys_are_enforced(database: Database) -> None:
    with pytest.raises(IntegrityError):
        async with database.session() as session, session.begin():
            session.add(api_key("ws_missing"))


async def test_datetimes_read_back_timezone_aware_in_utc(database: Database) -> None:
    ids = await seed(database)
    paris = timezone(timedelta(hours=2))
    moment = datetime(2026, 5, 1, 14, 30, 15, 123456, tzinfo=paris)
    async with database.session() as session, session.begin():
        server = await session.get_one(McpServer, ids["mcp"])
        server.tools_expire_at = moment
    async with database.session() as session:
        server = await session.get_one(McpServer, ids["mcp"])
        await session.refresh(server)
        assert server.tools_expire_at == moment
        assert server.tools_expire_at is not None
        assert server.tools_expire_at.utcoffset() == timedelta(0)
        assert server.tools_expire_at.tzinfo == UTC
        assert server.created_at.tzinfo == UTC
        assert server.tools_refreshed_at is None
        # Comparisons in SQL work across rows written at different offsets.
        later = await session.scalar(
            select(func.count())
            .select_from(McpServer)
            .where(McpServer.tools_expire_at > datetime(2026, 5, 1, 12, 0, tzinfo=UTC))
        )
        assert later == 1


async def test_naive_datetimes_are_refused(database: Database) -> None:
    with pytest.raises(StatementError, match="naive datetime"):
        async with database.session() as session, session.begin():
            session.add(Workspace(id=new_id("ws"), name="x", created_at=datetime(2026, 1, 1)))


async def test_json_columns_round_trip_and_need_reassignment_to_change(database: Database) -> None:
    ids = await seed(database)
    schema = {"type": "object", "properties": {"q": {"type": "string", "description": "ünï"}}, "required": ["q"]}
    async with database.session() as session, session.begin():
        bot = await session.get_one(Assistant, ids["assistant"])
        bot.settings = {"temperature": 0.2, "tags": ["a", None]}
        bot.languages = ["en", "fr"]
        server = await session.get_one(McpServer, ids["mcp"])
        server.args = ["--port", "1"]
        server.tools[0].input_schema = schema
    async with database.session() as session, session.begin():
        bot = await session.get_one(Assistant, ids["assistant"])
        assert bot.settings == {"temperature": 0.2, "tags": ["a", None]}
        assert bot.languages == ["en", "fr"]
        bot.settings["temperature"] = 0.9  # in-place mutation: NOT tracked
    async with database.session() as session:
        bot = await session.get_one(Assistant, ids["assistant"])
        assert bot.settings["temperature"] == 0.2
        server = await session.get_one(McpServer, ids["mcp"])
        assert server.args == ["--port", "1"]
        assert server.tools[0].input_schema == schema


@pytest.mark.parametrize(("setting", "pragma"), [("normal", 1), ("full", 2)])
async def test_sqlite_connections_use_the_configured_synchronous_mode(
    tmp_path: Path, setting: str, pragma: int
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'plati.db'}"
    await run_migrations(url)
    db = Database(url, sqlite_synchronous=setting)
    hot = await HotStore.open(db)
    try:
        async with db.engine.connect() as connection:
            assert (await connection.execute(text("PRAGMA synchronous"))).scalar() == pragma
            assert (await connection.execute(text("PRAGMA journal_mode"))).scalar() == "wal"
        driver = hot._commit.driver
        assert isinstance(driver, SqliteDriver) and driver.synchronous == setting.upper()
    finally:
        await hot.aclose()
        await db.aclose()
