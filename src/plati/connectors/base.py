"""The connector interface: what the platform knows about a function server and how it calls one.

Every protocol (the simple REST protocol, MCP over Streamable HTTP, legacy SSE or stdio) is
reached through the same small interface — :class:`Connector` — and the same value types.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

Transport = Literal["http", "rest", "streamable-http", "sse", "stdio"]
"""What a registration asks for; ``"http"`` means "detect MCP or the simple protocol"."""

ProtocolName = Literal["rest", "streamable-http", "sse", "stdio"]
"""What a live connector actually speaks."""

DEFAULT_TIMEOUT_SECONDS = 30.0
DEFAULT_MAX_RESPONSE_BYTES = 1_048_576


@dataclass(frozen=True)
class ConnectorConfig:
    """How to reach one function server. Equal configs share a live connector.

    ``headers`` and ``env`` hold decrypted secrets: they are sent (or passed to the process)
    but never appear in error messages or ``repr``.
    """

    transport: Transport
    url: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)
    command: str | None = None
    args: Sequence[str] = ()
    env: Mapping[str, str] = field(default_factory=dict, repr=False)
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS
    max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES

    def with_transport(self, transport: Transport, url: str | None = None) -> ConnectorConfig:
        """The same config with another transport, and optionally another URL (used by detection)."""
        return ConnectorConfig(
            transport=transport,
            url=url if url is not None else self.url,
            headers=self.headers,
            command=self.command,
            args=self.args,
            env=self.env,
            timeout_seconds=self.timeout_seconds,
            max_response_bytes=self.max_response_bytes,
        )


@dataclass(frozen=True)
class ToolSpec:
    """One function a server offers, in the simple protocol's terms (``annotations`` use MCP hint names)."""

    name: str
    description: str
    input_schema: dict[str, Any]
    output_schema: dict[str, Any] | None = None
    annotations: dict[str, Any] | None = None
    title: str | None = None


@dataclass(frozen=True)
class Discovery:
    """The result of listing a server's tools.

    Attributes:
        protocol: what the connector speaks (``rest``, ``streamable-http``, ``sse``, ``stdio``).
        server_name: the name the server gave itself, when the protocol carries one.
        ttl_seconds: how long the server says the list stays fresh (MCP ``ttlMs``, or the simple
            protocol's ``Cache-Control: max-age``); ``None`` when it gave no hint. ``0`` means the
            server asks not to cache.
        list_changed: the server announces tool-list changes (MCP ``tools.listChanged``); the
            connector then calls its ``on_tools_changed`` hook when one arrives.
        endpoint: the URL the connector talks to (``None`` for stdio); for transport ``"http"``
            it is the URL detection chose, which may be the parent of a registered ``…/mcp``.
    """

    tools: list[ToolSpec]
    protocol: str
    server_name: str | None = None
    ttl_seconds: float | None = None
    list_changed: bool = False
    endpoint: str | None = None


CONTEXT_HEADERS: dict[str, str] = {
    "workspace_id": "X-Plati-Workspace",
    "assistant_id": "X-Plati-Assistant",
    "conversation_id": "X-Plati-Conversation",
    "identity_id": "X-Plati-Identity",
    "request_id": "X-Plati-Request-Id",
    "idempotency_key": "Idempotency-Key",
}
"""CallContext field -> the HTTP header carrying it (SPEC section 2)."""

CONTEXT_META_KEYS: dict[str, str] = {
    "workspace_id": "plati/workspace",
    "assistant_id": "plati/assistant",
    "conversation_id": "plati/conversation",
    "identity_id": "plati/identity",
    "request_id": "plati/request_id",
    "idempotency_key": "plati/idempotency_key",
}
"""CallContext field -> the MCP ``_meta`` key carrying it (for transports without HTTP headers)."""


@dataclass(frozen=True)
class CallContext:
    """Who a function call is made for; sent to the server as headers (and MCP ``_meta``)."""

    workspace_id: str | None = None
    assistant_id: str | None = None
    conversation_id: str | None = None
    identity_id: str | None = None
    request_id: str | None = None
    idempotency_key: str | None = None

    def headers(self) -> dict[str, str]:
        """The ``X-Plati-*`` and ``Idempotency-Key`` headers for the fields that are set."""
        return {header: value for attr, header in CONTEXT_HEADERS.items() if (value := getattr(self, attr)) is not None}

    def meta(self) -> dict[str, str]:
        """The same values as MCP ``_meta`` entries (``plati/conversation``, ...)."""
        return {key: value for attr, key in CONTEXT_META_KEYS.items() if (value := getattr(self, attr)) is not None}


@dataclass(frozen=True)
class CallResult:
    """What a function call returned. A function that reports a failure is ``success=False``,
    not an exception; background work started is ``success=True`` with a ``task_id``."""

    success: bool
    data: Any = None
    error: str | None = None
    task_id: str | None = None
    duration_ms: float = 0.0


@runtime_checkable
class Connector(Protocol):
    """A live connection to one function server."""

    @property
    def protocol(self) -> str:
        """What the connector speaks: ``rest``, ``streamable-http``, ``sse`` or ``stdio``."""
        ...

    async def discover(self) -> Discovery:
        """List the server's tools with their schemas.

        Raises:
            UpstreamError: a subclass from :mod:`plati.connectors.errors`.
        """
        ...

    async def call(self, name: str, arguments: Mapping[str, Any], context: CallContext) -> CallResult:
        """Call one function.

        Raises:
            FunctionNotFound: the server does not know ``name`` (refresh the tool cache).
            UpstreamError: another subclass from :mod:`plati.connectors.errors`.
        """
        ...

    async def aclose(self) -> None:
        """Release the connection (idempotent)."""
        ...
