"""One live connector per registered MCP, reused across calls and replaced when its config changes."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from .base import Connector, ConnectorConfig
from .detect import open_connector

logger = logging.getLogger("plati.connectors")

Opener = Callable[[str, ConnectorConfig], Awaitable[Connector]]


class ConnectorManager:
    """Live connectors keyed by MCP id.

    ``get`` returns the live connector while the config is equal, and replaces it (closing the
    old one) when the config changed. Concurrent ``get`` calls for the same key open at most one
    connector (one lock per key); different keys never wait for each other.

    Args:
        opener: builds a connector for a key (default: :func:`open_connector`); the platform
            passes one that also sets ``on_tools_changed``.
    """

    def __init__(self, opener: Opener | None = None) -> None:
        self._opener: Opener = opener if opener is not None else _default_opener
        self._live: dict[str, tuple[ConnectorConfig, Connector]] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._closed = False

    def __contains__(self, key: str) -> bool:
        return key in self._live

    def __len__(self) -> int:
        return len(self._live)

    async def get(self, key: str, config: ConnectorConfig) -> Connector:
        """The live connector for ``key``, opened or replaced as needed.

        Raises:
            UpstreamError: opening failed (transport ``"http"`` detects now).
            RuntimeError: the manager is closed.
        """
        live = self._live.get(key)
        if live is not None and live[0] == config:
            return live[1]
        async with self._lock(key):
            if self._closed:
                raise RuntimeError("The connector manager is closed")
            live = self._live.get(key)
            if live is not None:
                if live[0] == config:
                    return live[1]
                del self._live[key]
                await _close(key, live[1])
            connector = await self._opener(key, config)
            self._live[key] = (config, connector)
            return connector

    async def discard(self, key: str) -> None:
        """Close and forget the connector of ``key`` (no-op when there is none)."""
        async with self._lock(key):
            live = self._live.pop(key, None)
            if live is not None:
                await _close(key, live[1])

    async def aclose(self) -> None:
        """Close every connector; ``get`` fails afterwards."""
        self._closed = True
        live, self._live = self._live, {}
        await asyncio.gather(*(_close(key, connector) for key, (_, connector) in live.items()))

    def _lock(self, key: str) -> asyncio.Lock:
        lock = self._locks.get(key)
        if lock is None:
            lock = self._locks[key] = asyncio.Lock()
        return lock


async def _default_opener(key: str, config: ConnectorConfig) -> Connector:
    return await open_connector(config)


async def _close(key: str, connector: Connector) -> None:
    try:
        await connector.aclose()
    except Exception:
        logger.exception("Closing the connector of %s failed", key)
