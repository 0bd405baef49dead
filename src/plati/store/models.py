"""The platform's rows (SQLAlchemy 2 ORM). The schema is created by the Alembic migrations in
``plati.migrations``; a test checks that the migrated schema and these models agree."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

# Explicit constraint names make migrations identical on SQLite and PostgreSQL (and let Alembic's
# batch mode on SQLite find constraints by name later).
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every backend.

    SQLite has no timezone type and reads values back naive; PostgreSQL answers in the session's
    time zone. Values are stored as UTC and always read back as aware UTC datetimes.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r} cannot be stored; use plati.ids.utcnow()")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON(), list[Any]: JSON()}


def _workspace_fk() -> Mapped[str]:
    return mapped_column(String(64), ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)


class Workspace(Base):
    __tablename__ = "workspaces"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime]
    # SecretBox of the workspace's settings (model provider credentials); see /workspace/settings.
    settings_encrypted: Mapped[str | None] = mapped_column(Text)


class ApiKey(Base):
    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    workspace_id: Mapped[str] = _workspace_fk()
    name: Mapped[str] = mapped_column(String(200))
    access: Mapped[str] = mapped_column(String(20))  # "read-write" | "read-only"
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime]
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class McpServer(Base):
    __tablename__ = "mcp_servers"
    __table_args__ = (UniqueConstraint("workspace_id", "name"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    workspace_id: Mapped[str] = _workspace_fk()
    name: Mapped[str] = mapped_column(String(200))
    transport: Mapped[str] = mapped_column(String(20))  # http | rest | streamable-http | sse | stdio
    protocol: Mapped[str | None] = mapped_column(String(20))  # detected: rest | streamable-http | sse | stdio
    url: Mapped[str | None] = mapped_column(Text)
    endpoint: Mapped[str | None] = mapped_column(Text)  # detected: the URL that answered (url or its parent)
    headers_encrypted: Mapped[str | None] = mapped_column(Text)  # SecretBox of [{"key", "value"}]
    command: Mapped[str | None] = mapped_column(Text)
    args: Mapped[list[Any]] = mapped_column(JSON, default=list)
    env_encrypted: Mapped[str | None] = mapped_column(Text)  # SecretBox of {name: value}
    timeout_seconds: Mapped[float] = mapped_column(Float)
    max_response_bytes: Mapped[int] = mapped_column(Integer)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    status: Mapped[str] = mapped_column(String(20), default="unknown")  # ok | error | unknown
    last_error: Mapped[str | None] = mapped_column(Text)
    tools_refreshed_at: Mapped[datetime | None]
    tools_expire_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    tools: Mapped[list[McpTool]] = relationship(
        back_populates="mcp",
        order_by="McpTool.position",
        cascade="all, delete-orphan",
        passive_deletes=True,
        lazy="selectin",
    )


class McpTool(Base):
    __tablename__ = "mcp_tools"
    __table_args__ = (UniqueConstraint("mcp_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    mcp_id: Mapped[str] = mapped_column(String(64), ForeignKey("mcp_servers.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    input_schema: Mapped[dict[str, Any]] = mapped_column(JSON)
    output_schema: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    annotations: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    title: Mapped[str | None] = mapped_column(Text)
    position: Mapped[int] = mapped_column(Integer, default=0)

    mcp: Mapped[McpServer] = relationship(back_populates="tools")


class Assistant(Base):
    __tablename__ = "assistants"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    workspace_id: Mapped[str] = _workspace_fk()
    name: Mapped[str] = mapped_column(String(200))
    instructions: Mapped[str] = mapped_column(Text, default="")
    provider: Mapped[str] = mapped_column(String(20))  # OFFLINE | OPENAI | ANTHROPIC
    model: Mapped[str | None] = mapped_column(String(200))
    languages: Mapped[list[Any]] = mapped_column(JSON, default=list)
    settings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    # Not loaded with the assistant (turns read assistants on the hot path and never need it);
    # load it explicitly with selectinload() where wanted.
    mcp_links: Mapped[list[AssistantMcp]] = relationship(
        back_populates="assistant",
        order_by="AssistantMcp.created_at",
        cascade="all, delete-orphan",
        passive_deletes=True,
        lazy="raise_on_sql",
    )


class AssistantMcp(Base):
    __tablename__ = "assistant_mcps"

    assistant_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("assistants.id", ondelete="CASCADE"), primary_key=True
    )
    mcp_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("mcp_servers.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    created_at: Mapped[datetime]

    assistant: Mapped[Assistant] = relationship(back_populates="mcp_links")


class Channel(Base):
    __tablename__ = "channels"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    workspace_id: Mapped[str] = _workspace_fk()
    name: Mapped[str] = mapped_column(String(200))
    type: Mapped[str] = mapped_column(String(20), default="api")
    assistant_id: Mapped[str | None] = mapped_column(
        String(64), ForeignKey("assistants.id", ondelete="SET NULL"), index=True
    )
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # What a message does when it arrives while a turn of its conversation runs: enqueue (it runs
    # after), reject (409) or interrupt (the running turn is cancelled); see plati.engine.runner.
    multitask_strategy: Mapped[str] = mapped_column(String(20), default="enqueue", server_default="enqueue")
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class Identity(Base):
    """Someone who talks to assistants: a free string chosen by the caller, per workspace."""

    __tablename__ = "identities"
    __table_args__ = (UniqueConstraint("workspace_id", "external_id"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    workspace_id: Mapped[str] = _workspace_fk()
    external_id: Mapped[str] = mapped_column(String(200))
    name: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime]


class Conversation(Base):
    """The exchange of one identity on one channel (created on its first message)."""

    __tablename__ = "conversations"
    __table_args__ = (UniqueConstraint("channel_id", "identity_id"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    workspace_id: Mapped[str] = _workspace_fk()
    channel_id: Mapped[str] = mapped_column(String(64), ForeignKey("channels.id", ondelete="CASCADE"), index=True)
    identity_id: Mapped[str] = mapped_column(String(64), ForeignKey("identities.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class Turn(Base):
    """One user message and everything the assistant did to answer it.

    A conversation has at most one running turn (a partial unique index): inserting the running
    turn is how a process takes the conversation. The process (``owner``) renews
    ``lease_expires_at`` while the turn runs; a turn whose lease ran out belongs to a process that
    stopped, and any live process marks it failed.
    """

    __tablename__ = "turns"
    __table_args__ = (
        Index(
            "uq_turns_running_conversation",
            "conversation_id",
            unique=True,
            sqlite_where=text("status = 'running'"),
            postgresql_where=text("status = 'running'"),
        ),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    conversation_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("conversations.id", ondelete="CASCADE"), index=True
    )
    assistant_id: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(20))  # running | completed | failed | interrupted
    error: Mapped[str | None] = mapped_column(Text)
    usage: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
    owner: Mapped[str | None] = mapped_column(String(120))  # the process running it: host:pid:token
    lease_expires_at: Mapped[datetime | None]


class Message(Base):
    """One part of a conversation (user text, assistant text, function call, function result,
    error), stored as the engine's provider-neutral part, in order."""

    __tablename__ = "messages"
    __table_args__ = (UniqueConstraint("conversation_id", "seq"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    conversation_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("conversations.id", ondelete="CASCADE"), index=True
    )
    turn_id: Mapped[str] = mapped_column(String(64), ForeignKey("turns.id", ondelete="CASCADE"), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(32))
    part: Mapped[dict[str, Any]] = mapped_column(JSON)
    meta: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # e.g. mcp_id and duration of a call
    created_at: Mapped[datetime]


__all__ = [
    "NAMING_CONVENTION",
    "ApiKey",
    "Assistant",
    "AssistantMcp",
    "Base",
    "Channel",
    "Conversation",
    "Identity",
    "McpServer",
    "McpTool",
    "Message",
    "Turn",
    "UTCDateTime",
    "Workspace",
]
