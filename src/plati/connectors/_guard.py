"""Per-exchange state shared between an MCP call and the HTTP requests the ``mcp`` client makes.

The official client sends each JSON-RPC message from a task that runs in a copy of the *caller's*
``contextvars`` context (its streams carry the sender's context across tasks). So a value set
around ``client.call_tool(...)`` is visible to the httpx2 transport that posts that message. We
use that to add the call's context headers to the HTTP request, to count reply bytes against the
size cap, and to remember the HTTP status the server answered (the ``mcp`` client maps 401 and
5xx to generic JSON-RPC errors, dropping it).
"""

from __future__ import annotations

import contextvars
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field

import anyio
import httpx2

from ..errors import AddressNotAllowed
from ..security.egress import policy_transport, refusal_in
from ..security.network import NetworkPolicy


@dataclass
class Exchange:
    """One connector operation (connect, discover or call) in flight."""

    headers: Mapping[str, str] = field(default_factory=dict)
    limit: int | None = None
    too_large: bool = False
    statuses: list[int] = field(default_factory=list)
    scope: anyio.CancelScope | None = None
    refused: AddressNotAllowed | None = None  # the network policy refused a connection

    def overflowed(self) -> None:
        """Mark the reply too large and stop waiting for it."""
        self.too_large = True
        if self.scope is not None:
            self.scope.cancel()

    def last_error_status(self) -> int | None:
        return next((status for status in reversed(self.statuses) if status >= 400), None)


current_exchange: contextvars.ContextVar[Exchange | None] = contextvars.ContextVar(
    "plati_connector_exchange", default=None
)


class ReplyTooLarge(httpx2.StreamError):
    """Raised inside the ``mcp`` transport when a reply passes the cap (it handles StreamError)."""


class _CountingStream(httpx2.AsyncByteStream):
    def __init__(self, inner: httpx2.AsyncByteStream, limit: int, exchange: Exchange | None) -> None:
        self._inner = inner
        self._limit = limit
        self._exchange = exchange

    async def __aiter__(self) -> AsyncIterator[bytes]:
        size = 0
        async for chunk in self._inner:
            size += len(chunk)
            if size > self._limit:
                if self._exchange is not None:
                    self._exchange.overflowed()
                raise ReplyTooLarge(f"reply larger than {self._limit} bytes")
            yield chunk

    async def aclose(self) -> None:
        await self._inner.aclose()


class GuardedTransport(httpx2.AsyncBaseTransport):
    """Adds the current exchange's headers to each request; caps POST reply bodies; records a
    network-policy refusal on the exchange (the ``mcp`` client reports connection failures only
    as text).

    Only POST replies are capped: a GET is the long-lived stream of server notifications,
    whose events are capped one by one by the ``mcp`` transport (``max_sse_event_size``).
    """

    def __init__(self, limit: int, inner: httpx2.AsyncBaseTransport | None = None) -> None:
        self._limit = limit
        self._inner = inner if inner is not None else httpx2.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        exchange = current_exchange.get()
        if exchange is not None:
            for key, value in exchange.headers.items():
                request.headers[key] = value
        try:
            response = await self._inner.handle_async_request(request)
        except httpx2.TransportError as exc:
            if exchange is not None:
                exchange.refused = refusal_in(exc)
            raise
        if exchange is not None:
            exchange.statuses.append(response.status_code)
        if request.method != "POST":
            return response
        declared = response.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > self._limit:
            await response.aclose()
            if exchange is not None:
                exchange.overflowed()
            raise ReplyTooLarge(f"reply declares {declared} bytes, over {self._limit}")
        assert isinstance(response.stream, httpx2.AsyncByteStream)
        return httpx2.Response(
            status_code=response.status_code,
            headers=response.headers,
            stream=_CountingStream(response.stream, self._limit, exchange),
            extensions=response.extensions,
            request=request,
        )

    async def aclose(self) -> None:
        await self._inner.aclose()


def guarded_client(
    *,
    headers: Mapping[str, str],
    timeout: httpx2.Timeout,
    limit: int,
    auth: httpx2.Auth | None = None,
    network: NetworkPolicy | None = None,
) -> httpx2.AsyncClient:
    """An httpx2 client for the ``mcp`` transports with the registered headers and the guard;
    its connections go through the ``network`` policy; redirects are never followed and proxies
    from the environment never used."""
    return httpx2.AsyncClient(
        headers=dict(headers),
        timeout=timeout,
        auth=auth,
        transport=GuardedTransport(limit, policy_transport(network)),
        follow_redirects=False,
        trust_env=False,
    )
