"""The hot path's driver statements and group commit, on SQLite and PostgreSQL: what they write
reads back through the ORM unchanged, batches share a transaction in order, a bad submission
fails alone, and only committed configuration writes move the configuration generation."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta
from typing import Any, TypeVar

import asyncpg
import pytest
from sqlalchemy import select, text, update

from plati.ids import new_id, utcnow
from plati.security.keys import generate_api_key, hash_api_key, key_prefix
from plati.store.db import Database
from plati.store.direct import Row, Statement
from plati.store.hot import HotStore, MessageRow
from plati.store.models import ApiKey, Channel, Conversation, Identity, Message, Turn, Workspace
from tests.plati.conftest import DatabaseTarget

T = TypeVar("T")


def start_turn(hot: HotStore, **values: Any) -> asyncio.Future[None]:
    """``HotStore.start_turn`` for a turn of this process, leased for a minute."""
    return hot.start_turn(owner="test-host:1:abcd", lease=timedelta(minutes=1), **values)


async def seed(db: Database) -> dict[str, str]:
    now = utcnow()
    ids = {name: new_id(name) for name in ("ws", "chn", "idn", "conv", "key")}
    key = generate_api_key()
    async with db.sessionmaker() as session, session.begin():
        session.add(Workspace(id=ids["ws"], name="w", created_at=now))
        await session.flush()
        session.add(Channel(id=ids["chn"], workspace_id=ids["ws"], name="c", created_at=now, updated_at=now))
        session.add(Identity(id=ids["idn"], workspace_id=ids["ws"], external_id="u", created_at=now))
        session.add(
            ApiKey(
                id=ids["key"],
                workspace_id=ids["ws"],
                name="k",
                access="read-only",
                key_hash=hash_api_key(key),
                prefix=key_prefix(key),
                created_at=now,
            )
        )
        await session.flush()
        session.add(
            Conversation(
                id=ids["conv"],
                workspace_id=ids["ws"],
                channel_id=ids["chn"],
                identity_id=ids["idn"],
                created_at=now - timedelta(hours=1),
                updated_at=now - timedelta(hours=1),
            )
        )
    ids["api_key"] = key
    return ids


async def another_conversation(db: Database, ids: dict[str, str]) -> str:
    """A second conversation on the seeded channel (a new identity's)."""
    now = utcnow()
    identity_id, conversation_id = new_id("idn"), new_id("conv")
    async with db.sessionmaker() as session, session.begin():
        session.add(Identity(id=identity_id, workspace_id=ids["ws"], external_id=identity_id, created_at=now))
        await session.flush()
        session.add(
            Conversation(
                id=conversation_id,
                workspace_id=ids["ws"],
                channel_id=ids["chn"],
                identity_id=identity_id,
                created_at=now,
                updated_at=now,
            )
        )
    return conversation_id


def message(conversation_id: str, turn_id: str, seq: int, part: dict[str, Any], meta: Any = None) -> MessageRow:
    return MessageRow(
        id=new_id("msg"),
        conversation_id=conversation_id,
        turn_id=turn_id,
        seq=seq,
        kind=str(part["kind"]),
        part=part,
        meta=meta,
        created_at=utcnow(),
    )


def table_of(sql: str) -> str:
    words = sql.split()
    return words[2] if words[0] == "INSERT" else words[1]


class CountingDriver:
    """The real driver, counting the transactions it runs."""

    def __init__(self, driver: Any) -> None:
        self.driver = driver
        self.transactions: list[list[str]] = []

    async def fetchone(self, statement: Statement, params: Row) -> Row | None:
        result: Row | None = await self.driver.fetchone(statement, params)
        return result

    async def transaction(self, work: Sequence[tuple[Statement, Sequence[Row]]]) -> None:
        self.transactions.append([table_of(statement.sql) for statement, _ in work])
        await self.driver.transaction(work)

    async def aclose(self) -> None:
        await self.driver.aclose()


async def test_a_turn_written_on_the_driver_reads_back_through_the_orm_unchanged(database: Database) -> None:
    ids = await seed(database)
    hot = await HotStore.open(database)
    try:
        turn_id, started = new_id("turn"), utcnow()
        user = message(ids["conv"], turn_id, 1, {"kind": "user_text", "text": "Où est ma commande ORD-001 ? 📦"})
        call = message(
            ids["conv"],
            turn_id,
            2,
            {"kind": "function_call", "call_id": "c1", "name": "check", "arguments": {"order_id": "ORD-001"}},
        )
        result_part = {"kind": "function_result", "call_id": "c1", "name": "check", "success": True}
        result_part["result"] = {"status": "shipped", "items": [1, 2.5, None, {"deep": True}]}
        result = message(ids["conv"], turn_id, 3, result_part, meta={"mcp_id": "mcp_1", "duration_ms": 1.25})
        reply = message(ids["conv"], turn_id, 4, {"kind": "assistant_text", "text": "Shipped."})
        first = start_turn(
            hot, turn_id=turn_id, conversation_id=ids["conv"], assistant_id="asst_1", at=started, messages=[user]
        )
        second = hot.add_messages([call, result])
        finished = utcnow()
        third = hot.finish_turn(
            turn_id, status="completed", usage={"input_tokens": 3, "output_tokens": 4}, at=finished, messages=[reply]
        )
        await asyncio.gather(first, second, third)
    finally:
        await hot.aclose()
    async with database.sessionmaker() as session:
        turn = await session.get_one(Turn, turn_id)
        rows = (await session.scalars(select(Message).where(Message.turn_id == turn_id).order_by(Message.seq))).all()
        conversation = await session.get_one(Conversation, ids["conv"])
    assert (turn.status, turn.error, turn.usage) == ("completed", None, {"input_tokens": 3, "output_tokens": 4})
    assert turn.started_at == started and turn.finished_at == finished
    assert turn.started_at.tzinfo is not None
    assert conversation.updated_at == started
    written = [user, call, result, reply]
    assert [(r.id, r.seq, r.kind, r.part, r.meta, r.created_at) for r in rows] == [
        (m.id, m.seq, m.kind, m.part, m.meta, m.created_at) for m in written
    ]


async def test_an_api_key_lookup_sees_a_revocation_at_once(database: Database) -> None:
    ids = await seed(database)
    hot = await HotStore.open(database)
    try:
        found = await hot.api_key(hash_api_key(ids["api_key"]))
        assert found is not None
        assert (found.id, found.workspace_id, found.access) == (ids["key"], ids["ws"], "read-only")
        assert found.revoked_at is None and found.last_used_at is None
        assert await hot.api_key(hash_api_key(generate_api_key())) is None

        used = utcnow()
        await hot.key_used(ids["key"], used)
        async with database.sessionmaker() as session, session.begin():
            await session.execute(update(ApiKey).where(ApiKey.id == ids["key"]).values(revoked_at=utcnow()))
        again = await hot.api_key(hash_api_key(ids["api_key"]))
        assert again is not None and again.revoked_at is not None and again.last_used_at == used
    finally:
        await hot.aclose()


async def test_writes_submitted_together_share_one_transaction_in_rank_order(database: Database) -> None:
    ids = await seed(database)
    hot = await HotStore.open(database)
    counting = CountingDriver(hot._commit.driver)
    hot._commit.driver = counting
    try:
        turns = [new_id("turn") for _ in range(3)]
        conversations = [
            ids["conv"],
            await another_conversation(database, ids),
            await another_conversation(database, ids),
        ]
        # Submitted without yielding: one batch. Each turn's row must land before its message.
        futures = [
            start_turn(
                hot,
                turn_id=turn_id,
                conversation_id=conversation_id,
                assistant_id="asst_1",
                at=utcnow(),
                messages=[message(conversation_id, turn_id, 1, {"kind": "user_text", "text": turn_id})],
            )
            for turn_id, conversation_id in zip(turns, conversations, strict=True)
        ]
        await asyncio.gather(*futures)
        assert counting.transactions == [["turns", "messages", "conversations"]]

        # Submitted one after the other: one transaction each.
        for turn_id in turns:
            await hot.finish_turn(turn_id, status="completed", usage={}, at=utcnow())
        assert len(counting.transactions) == 4
    finally:
        await hot.aclose()
    async with database.sessionmaker() as session:
        statuses = (await session.scalars(select(Turn.status).where(Turn.id.in_(turns)))).all()
        texts = (await session.scalars(select(Message.part).where(Message.turn_id.in_(turns)))).all()
    assert statuses == ["completed"] * 3 and sorted(part["text"] for part in texts) == sorted(turns)


async def test_a_submission_that_cannot_be_written_fails_alone(database: Database) -> None:
    ids = await seed(database)
    hot = await HotStore.open(database)
    try:
        good, bad = new_id("turn"), new_id("turn")
        committed = start_turn(
            hot,
            turn_id=good,
            conversation_id=ids["conv"],
            assistant_id="asst_1",
            at=utcnow(),
            messages=[message(ids["conv"], good, 1, {"kind": "user_text", "text": "fine"})],
        )
        # The same batch: a turn of a conversation that does not exist (a foreign key violation).
        refused = start_turn(
            hot,
            turn_id=bad,
            conversation_id="conv_gone",
            assistant_id="asst_1",
            at=utcnow(),
            messages=[message("conv_gone", bad, 1, {"kind": "user_text", "text": "lost"})],
        )
        outcomes = await asyncio.gather(committed, refused, return_exceptions=True)
    finally:
        await hot.aclose()
    assert outcomes[0] is None
    assert isinstance(outcomes[1], Exception)
    assert "foreign" in str(outcomes[1]).lower()
    async with database.sessionmaker() as session:
        assert (await session.scalars(select(Turn.id))).all() == [good]


async def test_only_committed_configuration_writes_move_the_generation(database: Database) -> None:
    ids = await seed(database)
    start = database.config_generation

    async with database.sessionmaker() as session:
        await session.scalar(select(Channel).where(Channel.id == ids["chn"]))
    assert database.config_generation == start  # a read

    async with database.sessionmaker() as session, session.begin():
        session.add(Identity(id=new_id("idn"), workspace_id=ids["ws"], external_id="v", created_at=utcnow()))
    assert database.config_generation == start  # not a configuration table

    async with database.sessionmaker() as session:
        await session.execute(update(Channel).where(Channel.id == ids["chn"]).values(name="renamed"))
        await session.rollback()
    assert database.config_generation == start  # never committed

    async with database.sessionmaker() as session, session.begin():
        await session.execute(update(Channel).where(Channel.id == ids["chn"]).values(active=False))
    assert database.config_generation == start + 1

    hot = await HotStore.open(database)
    try:
        turn_id = new_id("turn")
        await start_turn(hot, turn_id=turn_id, conversation_id=ids["conv"], assistant_id="a", at=utcnow(), messages=[])
    finally:
        await hot.aclose()
    assert database.config_generation == start + 1  # turn writes are not configuration


async def test_first_contact_creates_one_identity_and_conversation_even_when_concurrent(database: Database) -> None:
    ids = await seed(database)
    hot = await HotStore.open(database)
    try:
        assert await hot.participant(ids["ws"], ids["chn"], "newcomer") is None

        async def first_message(name: str | None) -> None:
            await hot.create_participant(
                workspace_id=ids["ws"],
                channel_id=ids["chn"],
                external_id="newcomer",
                identity_id=new_id("idn"),
                conversation_id=new_id("conv"),
                name=name,
                at=utcnow(),
            )

        await asyncio.gather(first_message(None), first_message(None), first_message("Ada"))
        found = await hot.participant(ids["ws"], ids["chn"], "newcomer")
        assert found is not None and found.conversation_id is not None and found.name == "Ada"

        # The identity that already talks on the channel ("u") gets a conversation on another one.
        known = await hot.participant(ids["ws"], "chn_other", "u")
        assert known is not None and known.identity_id == ids["idn"] and known.conversation_id is None
    finally:
        await hot.aclose()
    async with database.sessionmaker() as session:
        identities = (await session.scalars(select(Identity).where(Identity.external_id == "newcomer"))).all()
        conversations = (
            await session.scalars(select(Conversation).where(Conversation.identity_id == found.identity_id))
        ).all()
    assert [identity.id for identity in identities] == [found.identity_id]
    assert [conversation.id for conversation in conversations] == [found.conversation_id]
    assert conversations[0].channel_id == ids["chn"] and conversations[0].workspace_id == ids["ws"]


async def test_recent_parts_are_the_last_ones_oldest_first(database: Database) -> None:
    ids = await seed(database)
    hot = await HotStore.open(database)
    try:
        turn_id = new_id("turn")
        rows = [message(ids["conv"], turn_id, seq, {"kind": "user_text", "text": f"m{seq}"}) for seq in range(1, 6)]
        await start_turn(
            hot, turn_id=turn_id, conversation_id=ids["conv"], assistant_id="a", at=utcnow(), messages=rows
        )
        assert await hot.recent_parts(ids["conv"], 3) == [
            (seq, {"kind": "user_text", "text": f"m{seq}"}) for seq in (3, 4, 5)
        ]
        assert await hot.recent_parts("conv_none", 3) == []
    finally:
        await hot.aclose()


# What a connection whose backend was terminated answers first, depending on when it notices.
CONNECTION_ERRORS = (
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,
    asyncpg.PostgresConnectionError,
    asyncpg.AdminShutdownError,
    OSError,
)


async def at_most_one_failure(operation: Callable[[], Awaitable[T]]) -> T:
    """Run ``operation``; a connection that broke may fail it once (when the break was not seen
    before), with a connection error; the next try must work."""
    try:
        return await operation()
    except CONNECTION_ERRORS:
        pass
    return await operation()


async def test_a_postgres_connection_that_broke_is_replaced_at_the_next_use(
    database: Database, database_url: DatabaseTarget
) -> None:
    if database_url.backend != "postgresql":
        pytest.skip("PostgreSQL only")
    ids = await seed(database)
    hot = await HotStore.open(database)
    try:
        assert await hot.api_key(hash_api_key(ids["api_key"])) is not None
        await hot.finish_turn("turn_none", status="failed", usage={}, at=utcnow())  # the writer is open too
        # A server restart, as the platform sees it: the backends of both its connections go.
        pids = [driver._driver.get_server_pid() for driver in (hot._reader, hot._commit.driver)]  # type: ignore[attr-defined]
        async with database.engine.connect() as connection:
            await connection.execute(
                text("SELECT pg_terminate_backend(pid) FROM unnest(CAST(:pids AS integer[])) AS pid"), {"pids": pids}
            )

        assert await at_most_one_failure(lambda: hot.api_key(hash_api_key(ids["api_key"]))) is not None
        turn_id = new_id("turn")
        await at_most_one_failure(
            lambda: start_turn(
                hot, turn_id=turn_id, conversation_id=ids["conv"], assistant_id="a", at=utcnow(), messages=[]
            )
        )
    finally:
        await hot.aclose()
    async with database.sessionmaker() as session:
        assert (await session.scalars(select(Turn.id))).all() == [turn_id]
