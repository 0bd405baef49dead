"""What a turn on a channel needs that changes only when the configuration does, cached.

A channel's configuration is its assistant, the assistant's functions (with model-facing names,
tool definitions and compiled argument validators), the connector configuration of each of its
function servers (secrets decrypted), and the workspace's settings. Reading and building all of
that costs more than the rest of a turn, so it is kept in memory and reloaded when:

- anything in the configuration tables was committed through this process's database engine
  (``Database.config_generation`` moved: every API change, a tool refresh), or by another
  process (it announces it, :mod:`plati.cluster.bus`, and the generation moves here too), or
- the entry is older than :data:`CONFIG_TTL_SECONDS` (a safety net: an announcement missed).
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from plati_mcp.schema import SchemaValidator

from ..connectors import ConnectorConfig
from ..errors import NotFound
from ..registry import AttachedFunction, Registry, argument_validator
from ..store.db import Database
from ..store.models import Assistant, Channel, Workspace
from .providers import ToolDef

CONFIG_TTL_SECONDS = 5.0
MAX_CHANNELS = 1024  # configurations kept; the least recently used goes first


@dataclass(frozen=True)
class ChannelConfig:
    workspace_id: str
    channel_id: str
    active: bool
    assistant: Assistant | None  # detached: a snapshot, never written back
    workspace_settings: dict[str, str]
    functions: tuple[AttachedFunction, ...] = ()
    tools: tuple[ToolDef, ...] = ()
    servers: dict[str, ConnectorConfig] = field(default_factory=dict)  # by MCP id (enabled ones)
    multitask_strategy: str = "enqueue"  # a message while a turn runs: enqueue | reject | interrupt
    validators: dict[str, SchemaValidator | None] = field(default_factory=dict)  # by model-facing name
    by_name: dict[str, AttachedFunction] = field(default_factory=dict)  # by model-facing name


@dataclass
class _Entry:
    config: ChannelConfig
    generation: int
    expires: float


class ChannelConfigs:
    """Channel configurations by ``(workspace id, channel id)``, loaded on first use."""

    def __init__(self, db: Database, registry: Registry, *, ttl_seconds: float = CONFIG_TTL_SECONDS) -> None:
        self.db = db
        self.registry = registry
        self.ttl_seconds = ttl_seconds
        self._entries: OrderedDict[tuple[str, str], _Entry] = OrderedDict()
        self._loading: dict[tuple[str, str], tuple[int, asyncio.Future[ChannelConfig]]] = {}

    async def get(self, workspace_id: str, channel_id: str) -> ChannelConfig:
        """The channel's configuration.

        Raises:
            NotFound: no such channel in the workspace.
        """
        key = (workspace_id, channel_id)
        entry = self._entries.get(key)
        if entry is not None and entry.generation == self.db.config_generation and entry.expires > time.monotonic():
            self._entries.move_to_end(key)
            return entry.config
        # Taken before reading: a change committed while this loads makes the entry stale.
        generation = self.db.config_generation
        # One load per channel at a time: when an entry expires under load, every turn on the
        # channel would otherwise read the configuration at once and queue for the pool.
        loading = self._loading.get(key)
        if loading is None or loading[0] != generation:
            task = asyncio.ensure_future(self._load_entry(key, generation))
            loading = (generation, task)
            self._loading[key] = loading
            task.add_done_callback(functools.partial(self._loaded, key, loading))
        return await asyncio.shield(loading[1])

    async def _load_entry(self, key: tuple[str, str], generation: int) -> ChannelConfig:
        config = await self._load(*key)
        self._entries[key] = _Entry(config, generation, time.monotonic() + self.ttl_seconds)
        self._entries.move_to_end(key)
        while len(self._entries) > MAX_CHANNELS:
            self._entries.popitem(last=False)
        return config

    def _loaded(
        self, key: tuple[str, str], mine: tuple[int, asyncio.Future[ChannelConfig]], done: asyncio.Future[ChannelConfig]
    ) -> None:
        if self._loading.get(key) is mine:
            del self._loading[key]
        if not done.cancelled():
            done.exception()  # retrieved here too: every waiter may have gone

    async def _load(self, workspace_id: str, channel_id: str) -> ChannelConfig:
        async with self.db.sessionmaker() as session:
            row = (
                await session.execute(
                    select(Channel, Assistant, Workspace.settings_encrypted)
                    .outerjoin(Assistant, Assistant.id == Channel.assistant_id)
                    .join(Workspace, Workspace.id == Channel.workspace_id)
                    .where(Channel.id == channel_id, Channel.workspace_id == workspace_id)
                )
            ).first()
            if row is None:
                raise NotFound(f"No channel {channel_id} in this workspace")
            channel, encrypted = row[0], row[2]
            assistant: Assistant | None = row[1]  # outer join: None when the channel has none
            settings: dict[str, str] = self.registry.box.decrypt_json(encrypted) if encrypted else {}
            if assistant is None:
                return ChannelConfig(
                    workspace_id,
                    channel_id,
                    channel.active,
                    None,
                    settings,
                    multitask_strategy=channel.multitask_strategy,
                )
            functions, mcps = await self.registry.attached(session, assistant.id)
        servers = {mcp_id: self.registry.config_of(mcp) for mcp_id, mcp in mcps.items()}
        validators: dict[str, Any] = {fn.ref.model_name: argument_validator(fn.input_schema) for fn in functions}
        return ChannelConfig(
            workspace_id=workspace_id,
            channel_id=channel_id,
            active=channel.active,
            assistant=assistant,
            workspace_settings=settings,
            functions=tuple(functions),
            tools=tuple(ToolDef(fn.ref.model_name, fn.description, fn.input_schema) for fn in functions),
            servers=servers,
            multitask_strategy=channel.multitask_strategy,
            validators=validators,
            by_name={fn.ref.model_name: fn for fn in functions},
        )


__all__ = ["CONFIG_TTL_SECONDS", "ChannelConfig", "ChannelConfigs"]
