"""Legacy MCP over SSE (the 2024-11-05 HTTP+SSE transport), with the official ``sse_client``.

Replies arrive on the long-lived event stream rather than on the POST, so the byte counter of
:mod:`._guard` cannot attribute them to a call; the size cap is checked on the parsed result.
The ``X-Plati-*`` headers still reach the server on each call's POST.
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager

import httpx2
from mcp.client._transport import TransportStreams
from mcp.client.sse import sse_client
from mcp.shared._httpx_utils import MCP_DEFAULT_SSE_READ_TIMEOUT

from ._guard import guarded_client
from .mcp_session import McpConnector

PROTOCOL = "sse"


class SseConnector(McpConnector):
    """An MCP server whose SSE endpoint is ``config.url`` (usually ending in ``/sse``)."""

    protocol = PROTOCOL

    def _transport(self) -> AbstractAsyncContextManager[TransportStreams]:
        if not self.config.url:
            raise ValueError("An SSE connector needs a url")
        limit = self.config.max_response_bytes

        def client_factory(
            headers: dict[str, str] | None = None,
            timeout: httpx2.Timeout | None = None,
            auth: httpx2.Auth | None = None,
        ) -> httpx2.AsyncClient:
            return guarded_client(
                headers=headers or {},
                timeout=timeout or httpx2.Timeout(self.config.timeout_seconds),
                limit=limit,
                auth=auth,
                network=self.network,
            )

        return sse_client(
            self.config.url,
            headers=dict(self.config.headers),
            timeout=self.config.timeout_seconds,
            sse_read_timeout=MCP_DEFAULT_SSE_READ_TIMEOUT,
            httpx_client_factory=client_factory,
        )
