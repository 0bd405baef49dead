"""The statements every request or turn runs, on driver connections (see :mod:`.direct`).

- reading an API key by its hash, and recording its use;
- finding (or creating) who talks on a channel: the identity and its conversation;
- reading a conversation's recent parts, and storing a turn as it runs: the turn row, its
  messages, its completion.

All writes go through the one group commit, so on SQLite no other connection holds the write
lock across event-loop turns while a turn waits for it. Everything else goes through the ORM.
"""

from __future__ import annotations

import asyncio
import sqlite3
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

import asyncpg
from sqlalchemy import Integer, Interval, String, and_, bindparam, func, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from ..ids import utcnow
from .db import Database, sqlite_pragma_synchronous
from .direct import Driver, GroupCommit, Statement, Write, open_driver
from .models import Base, UTCDateTime

_API_KEYS = Base.metadata.tables["api_keys"]
_IDENTITIES = Base.metadata.tables["identities"]
_TURNS = Base.metadata.tables["turns"]
_MESSAGES = Base.metadata.tables["messages"]
_CONVERSATIONS = Base.metadata.tables["conversations"]


@dataclass(frozen=True)
class KeyRecord:
    id: str
    workspace_id: str
    access: str
    revoked_at: datetime | None
    last_used_at: datetime | None


@dataclass(frozen=True)
class ParticipantRecord:
    identity_id: str
    name: str | None
    conversation_id: str | None  # None: the identity has no conversation on the channel yet


@dataclass(frozen=True)
class MessageRow:
    id: str
    conversation_id: str
    turn_id: str
    seq: int
    kind: str
    part: dict[str, Any]
    meta: dict[str, Any] | None
    created_at: datetime


class HotStore:
    """Key lookups on a reader connection; turn writes through a group commit on a writer.

    The turn methods submit their writes and return at once with a future that resolves when
    they are committed (in submission order): a turn goes on while its parts are written, and
    awaits them all before it answers. Open with :meth:`open` and close with :meth:`aclose`
    (before the database's engine).
    """

    def __init__(self, reader: Driver, writer: Driver, statements: _Statements) -> None:
        self._reader = reader
        self._writer = writer
        self._commit = GroupCommit(writer)
        self._sql = statements

    @classmethod
    async def open(cls, db: Database) -> HotStore:
        statements = _Statements(db)
        synchronous = sqlite_pragma_synchronous(db.sqlite_synchronous)
        reader = await open_driver(db.engine, sqlite_synchronous=synchronous)
        try:
            writer = await open_driver(db.engine, sqlite_synchronous=synchronous)
        except BaseException:
            await reader.aclose()
            raise
        return cls(reader, writer, statements)

    async def aclose(self) -> None:
        await self._commit.aclose()
        await self._writer.aclose()
        await self._reader.aclose()

    # -- API keys -----------------------------------------------------------------------------

    async def api_key(self, key_hash: str) -> KeyRecord | None:
        row = await self._reader.fetchone(self._sql.key_by_hash, self._sql.key_by_hash.params({"b_hash": key_hash}))
        return None if row is None else KeyRecord(*row)

    async def key_used(self, key_id: str, at: datetime) -> None:
        await self._commit.write([self._write(self._sql.key_used, b_id=key_id, b_at=at)])

    # -- participants -------------------------------------------------------------------------

    async def participant(self, workspace_id: str, channel_id: str, external_id: str) -> ParticipantRecord | None:
        """The identity ``external_id`` of the workspace and its conversation on the channel."""
        statement = self._sql.participant
        row = await self._reader.fetchone(
            statement, statement.params({"b_ws": workspace_id, "b_channel": channel_id, "b_ext": external_id})
        )
        return None if row is None else ParticipantRecord(*row)

    async def create_participant(
        self,
        *,
        workspace_id: str,
        channel_id: str,
        external_id: str,
        identity_id: str,
        conversation_id: str,
        name: str | None,
        at: datetime,
    ) -> None:
        """Create the identity and its conversation on the channel where missing (one that a
        concurrent first message created is kept), and record ``name`` when given."""
        identity: dict[str, Any] = {
            "id": identity_id,
            "workspace_id": workspace_id,
            "external_id": external_id,
            "name": name,
            "created_at": at,
        }
        conversation: dict[str, Any] = {
            "c_id": conversation_id,
            "c_ws": workspace_id,
            "c_channel": channel_id,
            "c_ext": external_id,
            "c_at": at,
        }
        writes = [
            (self._sql.insert_identity, self._sql.insert_identity.params(identity)),
            (self._sql.insert_conversation, self._sql.insert_conversation.params(conversation)),
        ]
        if name:
            writes.append(self._write(self._sql.rename_identity, b_ws=workspace_id, b_ext=external_id, b_name=name))
        await self._commit.write(writes)

    # -- turns --------------------------------------------------------------------------------

    async def recent_parts(self, conversation_id: str, limit: int) -> list[tuple[int, dict[str, Any]]]:
        """The conversation's last ``limit`` stored parts as ``(seq, part)``, oldest first."""
        statement = self._sql.recent_parts
        rows = await self._reader.fetchall(statement, statement.params({"b_conv": conversation_id, "b_limit": limit}))
        return [(int(seq), part) for seq, part in reversed(rows)]

    def start_turn(
        self,
        *,
        turn_id: str,
        conversation_id: str,
        assistant_id: str,
        at: datetime,
        messages: list[MessageRow],
        owner: str,
        lease: timedelta,
    ) -> asyncio.Future[None]:
        """Store a running turn owned by ``owner`` (its lease runs ``lease`` from now, on the
        database's clock), its first messages, and the conversation's new ``updated_at``.

        This is how a process takes a conversation: the write fails, and nothing of it is stored,
        when another turn of the conversation is running or when the messages' sequence numbers
        are taken (the caller's history is not the latest); :func:`turn_conflict` tells which.
        """
        row: dict[str, Any] = {
            "id": turn_id,
            "conversation_id": conversation_id,
            "assistant_id": assistant_id,
            "status": "running",
            "error": None,
            "usage": {},
            "started_at": at,
            "finished_at": None,
            "owner": owner,
            "lease_for": lease,
            "lease_at": at + lease,
        }
        writes = [
            (self._sql.insert_turn, self._sql.insert_turn.params(row)),
            *self._messages(messages),
            self._write(self._sql.touch_conversation, b_id=conversation_id, b_at=at),
        ]
        return self._commit.submit(writes)

    def add_messages(self, messages: list[MessageRow]) -> asyncio.Future[None]:
        return self._commit.submit(self._messages(messages))

    def finish_turn(
        self,
        turn_id: str,
        *,
        status: str,
        usage: dict[str, Any],
        at: datetime,
        error: str | None = None,
        messages: list[MessageRow] | None = None,
    ) -> asyncio.Future[None]:
        """Store the last messages and the turn's outcome, in one transaction (a turn that is no
        longer running, marked failed after its lease ran out, keeps that outcome)."""
        finish = self._write(
            self._sql.finish_turn, b_id=turn_id, b_status=status, b_error=error, b_usage=usage, b_at=at
        )
        return self._commit.submit([*self._messages(messages or []), finish])

    async def running_turn(self, conversation_id: str) -> tuple[str, str | None] | None:
        """The running turn of a conversation, as ``(turn id, owner)``."""
        statement = self._sql.running_turn
        row = await self._reader.fetchone(statement, statement.params({"b_conv": conversation_id}))
        return None if row is None else (row[0], row[1])

    async def renew_leases(self, owner: str, lease: timedelta) -> set[str]:
        """Extend the lease of every running turn of ``owner``; the ids of those still running."""
        statement = self._sql.renew_leases
        rows = await self._reader.fetchall(statement, statement.params({"b_owner": owner, "b_for": lease}))
        return {row[0] for row in rows}

    async def reap_turns(self, *, all_running: bool = False) -> list[tuple[str, str]]:
        """Mark failed the running turns whose lease ran out (their process stopped), or every
        running turn with ``all_running`` (no other process can be serving the database);
        ``(turn id, conversation id)`` of each."""
        statement = self._sql.reap_all if all_running else self._sql.reap_expired
        values = {"b_error": REAPED_ERROR, "b_at": utcnow()}
        rows = await self._reader.fetchall(statement, statement.params(values))
        return [(row[0], row[1]) for row in rows]

    def _messages(self, messages: list[MessageRow]) -> list[Write]:
        statement = self._sql.insert_message
        return [(statement, statement.params(message.__dict__)) for message in messages]

    @staticmethod
    def _write(statement: Statement, **values: Any) -> Write:
        return statement, statement.params(values)


REAPED_ERROR = "The service stopped during this turn"
RUNNING_INDEX = "uq_turns_running_conversation"
_SEQ_CONSTRAINT = "uq_messages_conversation_id_seq"


def turn_conflict(exc: BaseException) -> Literal["busy", "stale", "gone"] | None:
    """What made :meth:`HotStore.start_turn` fail: ``busy`` (another turn of the conversation is
    running), ``stale`` (the sequence numbers are taken: messages were stored since the history
    was read), ``gone`` (the conversation was deleted), or None (anything else)."""
    if isinstance(exc, asyncpg.UniqueViolationError):
        name = exc.constraint_name or ""
        return "busy" if name == RUNNING_INDEX else "stale" if name == _SEQ_CONSTRAINT else None
    if isinstance(exc, asyncpg.ForeignKeyViolationError):
        return "gone"
    if isinstance(exc, sqlite3.IntegrityError):
        text = str(exc)
        if "FOREIGN KEY constraint failed" in text:
            return "gone"
        if "UNIQUE" in text and "turns.conversation_id" in text:
            return "busy"
        if "UNIQUE" in text and "messages.conversation_id, messages.seq" in text:
            return "stale"
    return None


class _Statements:
    """The hot statements, compiled for the database's dialect. Ranks order a group commit:
    turns before their messages, updates last."""

    def __init__(self, db: Database) -> None:
        dialect = db.engine.dialect
        self.key_by_hash = Statement(
            select(
                _API_KEYS.c.id,
                _API_KEYS.c.workspace_id,
                _API_KEYS.c.access,
                _API_KEYS.c.revoked_at,
                _API_KEYS.c.last_used_at,
            ).where(_API_KEYS.c.key_hash == bindparam("b_hash")),
            dialect,
        )
        self.key_used = Statement(
            update(_API_KEYS).where(_API_KEYS.c.id == bindparam("b_id")).values(last_used_at=bindparam("b_at")),
            dialect,
            rank=4,
        )
        self.participant = Statement(
            select(_IDENTITIES.c.id, _IDENTITIES.c.name, _CONVERSATIONS.c.id)
            .select_from(
                _IDENTITIES.outerjoin(
                    _CONVERSATIONS,
                    and_(
                        _CONVERSATIONS.c.identity_id == _IDENTITIES.c.id,
                        _CONVERSATIONS.c.channel_id == bindparam("b_channel", type_=String()),
                    ),
                )
            )
            .where(_IDENTITIES.c.workspace_id == bindparam("b_ws"), _IDENTITIES.c.external_id == bindparam("b_ext")),
            dialect,
        )
        # ON CONFLICT DO NOTHING (SQLite and PostgreSQL alike): a concurrent first message may
        # have created the row; the caller reads what is there afterwards.
        dialect_insert = postgresql.insert if dialect.name == "postgresql" else sqlite.insert
        self.insert_identity = Statement(
            dialect_insert(_IDENTITIES).on_conflict_do_nothing(),
            dialect,
            keys=[c.key for c in _IDENTITIES.c],
            rank=-3,
        )
        self.insert_conversation = Statement(
            dialect_insert(_CONVERSATIONS)
            .from_select(
                ["id", "workspace_id", "channel_id", "identity_id", "created_at", "updated_at"],
                select(
                    bindparam("c_id", type_=String()),
                    bindparam("c_ws", type_=String()),
                    bindparam("c_channel", type_=String()),
                    _IDENTITIES.c.id,
                    bindparam("c_at", type_=UTCDateTime()),
                    bindparam("c_at", type_=UTCDateTime()),
                ).where(
                    _IDENTITIES.c.workspace_id == bindparam("c_ws", type_=String()),
                    _IDENTITIES.c.external_id == bindparam("c_ext", type_=String()),
                ),
            )
            .on_conflict_do_nothing(),
            dialect,
            rank=-2,
        )
        self.rename_identity = Statement(
            update(_IDENTITIES)
            .where(_IDENTITIES.c.workspace_id == bindparam("b_ws"), _IDENTITIES.c.external_id == bindparam("b_ext"))
            .values(name=bindparam("b_name")),
            dialect,
            rank=-1,
        )
        self.recent_parts = Statement(
            select(_MESSAGES.c.seq, _MESSAGES.c.part)
            .where(_MESSAGES.c.conversation_id == bindparam("b_conv"))
            .order_by(_MESSAGES.c.seq.desc())
            .limit(bindparam("b_limit", type_=Integer())),
            dialect,
        )
        postgres = dialect.name == "postgresql"
        # The lease runs on the database's clock (PostgreSQL), so that processes on machines
        # whose clocks differ agree on it; SQLite has one process, whose clock it is.
        lease_until = (
            func.now() + bindparam("lease_for", type_=Interval())
            if postgres
            else bindparam("lease_at", type_=UTCDateTime())
        )
        turn_values: dict[str, Any] = {c.key: bindparam(c.key, type_=c.type) for c in _TURNS.c}
        turn_values["lease_expires_at"] = lease_until
        self.insert_turn = Statement(insert(_TURNS).values(turn_values), dialect, rank=0)
        running = _TURNS.c.status == "running"
        self.running_turn = Statement(
            select(_TURNS.c.id, _TURNS.c.owner).where(_TURNS.c.conversation_id == bindparam("b_conv"), running),
            dialect,
        )
        now = func.now() if postgres else bindparam("b_at", type_=UTCDateTime())
        self.renew_leases = Statement(
            update(_TURNS)
            .where(_TURNS.c.owner == bindparam("b_owner"), running)
            .values(lease_expires_at=func.now() + bindparam("b_for", type_=Interval()))
            .returning(_TURNS.c.id)
            if postgres
            else update(_TURNS)
            .where(_TURNS.c.owner == bindparam("b_owner"), running)
            .values(lease_expires_at=bindparam("b_at", type_=UTCDateTime()))
            .returning(_TURNS.c.id),
            dialect,
        )
        reap = update(_TURNS).values(status="failed", error=bindparam("b_error"), finished_at=now)
        self.reap_expired = Statement(
            reap.where(running, or_(_TURNS.c.lease_expires_at.is_(None), _TURNS.c.lease_expires_at < now)).returning(
                _TURNS.c.id, _TURNS.c.conversation_id
            ),
            dialect,
        )
        self.reap_all = Statement(reap.where(running).returning(_TURNS.c.id, _TURNS.c.conversation_id), dialect)
        self.insert_message = Statement(insert(_MESSAGES), dialect, keys=[c.key for c in _MESSAGES.c], rank=1)
        self.touch_conversation = Statement(
            update(_CONVERSATIONS).where(_CONVERSATIONS.c.id == bindparam("b_id")).values(updated_at=bindparam("b_at")),
            dialect,
            rank=2,
        )
        self.finish_turn = Statement(
            update(_TURNS)
            .where(_TURNS.c.id == bindparam("b_id"), _TURNS.c.status == "running")
            .values(
                status=bindparam("b_status"),
                error=bindparam("b_error"),
                usage=bindparam("b_usage"),
                finished_at=bindparam("b_at"),
            ),
            dialect,
            rank=3,
        )


__all__ = ["REAPED_ERROR", "HotStore", "KeyRecord", "MessageRow", "ParticipantRecord", "turn_conflict"]
