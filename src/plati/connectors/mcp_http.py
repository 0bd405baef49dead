"""MCP over Streamable HTTP (both protocol eras), with the official ``mcp`` client.

The ``mcp`` client takes an ``httpx2.AsyncClient``; ours carries the registered headers and a
transport guard (:mod:`._guard`) that adds each call's ``X-Plati-*`` headers to the HTTP request
of that call, counts reply bytes against ``max_response_bytes`` and records HTTP statuses.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import httpx2
from mcp.client._transport import TransportStreams
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import MCP_DEFAULT_SSE_READ_TIMEOUT

from ._guard import guarded_client
from .mcp_session import McpConnector

PROTOCOL = "streamable-http"


class StreamableHttpConnector(McpConnector):
    """An MCP server at ``config.url`` (usually ending in ``/mcp``)."""

    protocol = PROTOCOL

    def _transport(self) -> AbstractAsyncContextManager[TransportStreams]:
        if not self.config.url:
            raise ValueError("A Streamable HTTP connector needs a url")
        return _streamable_http(
            self.config.url,
            guarded_client(
                headers=self.config.headers,
                # The read timeout also bounds the server's notification stream (GET): keep it long;
                # requests are bounded by the session's per-request timeout.
                timeout=httpx2.Timeout(self.config.timeout_seconds, read=MCP_DEFAULT_SSE_READ_TIMEOUT),
                limit=self.config.max_response_bytes,
                network=self.network,
            ),
            max_event_size=self.config.max_response_bytes,
        )


@asynccontextmanager
async def _streamable_http(
    url: str, http_client: httpx2.AsyncClient, max_event_size: int
) -> AsyncIterator[TransportStreams]:
    async with (
        http_client,
        streamable_http_client(url, http_client=http_client, max_sse_event_size=max_event_size) as streams,
    ):
        yield streams
