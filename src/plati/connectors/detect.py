"""Opening a connector from its config; transport ``"http"`` detects what the URL speaks.

Detection for ``"http"``:

1. Try MCP Streamable HTTP at the URL itself (the official client, ``mode="auto"``: the
   ``server/discover`` probe, then the ``initialize`` handshake), with a short timeout
   (``min(5, timeout_seconds)``). If it completes, the URL is an MCP endpoint: the connected
   session is kept and returned (protocol ``streamable-http``).
2. Otherwise try the simple protocol: ``GET {url}/tools`` must answer the tool list (protocol
   ``rest``). A guide-style server answers 404/405 to the MCP POST on its base URL, and the
   ``plati_mcp`` SDK serves both: MCP at ``/mcp`` and the simple protocol at ``/tools`` and
   ``/mcp/tools`` — so ``base`` detects as ``rest`` and ``base/mcp`` as ``streamable-http``.
3. If neither works: nothing listening raises :class:`UpstreamUnreachable` at once (step 1);
   refused credentials on either try raise :class:`UpstreamUnauthorized`; two timeouts raise
   :class:`UpstreamTimeout`; anything else raises :class:`UpstreamBadReply` naming both answers.
"""

from __future__ import annotations

import logging

from ..errors import AddressNotAllowed, UpstreamError
from ..security.network import NetworkPolicy
from ..security.processes import ProcessPolicy
from .base import Connector, ConnectorConfig
from .errors import UpstreamBadReply, UpstreamTimeout, UpstreamUnauthorized, UpstreamUnreachable
from .mcp_http import StreamableHttpConnector
from .mcp_session import ToolsChangedHook
from .mcp_sse import SseConnector
from .mcp_stdio import StdioConnector
from .rest import RestConnector

logger = logging.getLogger("plati.connectors")

PROBE_TIMEOUT_SECONDS = 5.0


async def open_connector(
    config: ConnectorConfig,
    *,
    on_tools_changed: ToolsChangedHook | None = None,
    network: NetworkPolicy | None = None,
    processes: ProcessPolicy | None = None,
) -> Connector:
    """A connector for ``config``. Explicit transports connect lazily, on first use; ``"http"``
    talks to the server now to detect its protocol (see the module docstring).

    ``on_tools_changed`` is set on MCP connectors (called when the server announces a new tool list).
    ``network`` checks every URL and connection, ``processes`` every stdio process start (the
    platform always passes both; without them nothing is checked).

    Raises:
        ValueError: the config lacks what its transport needs (a url, a command).
        AddressNotAllowed: ``network`` refuses the URL.
        ProcessNotAllowed: ``processes`` refuses the command.
        UpstreamError: detection failed (``"http"`` only).
    """
    if config.transport == "http":
        return await detect(config, on_tools_changed=on_tools_changed, network=network)
    if config.transport == "rest":
        return RestConnector(config, network=network)
    if config.transport == "streamable-http":
        return StreamableHttpConnector(config, on_tools_changed=on_tools_changed, network=network)
    if config.transport == "sse":
        return SseConnector(config, on_tools_changed=on_tools_changed, network=network)
    if config.transport == "stdio":
        if not config.command:
            raise ValueError("A stdio MCP needs a command")
        if processes is not None:
            processes.check(config.command, config.env)
        return StdioConnector(config, on_tools_changed=on_tools_changed, processes=processes)
    raise ValueError(f"Unknown transport {config.transport!r}; use http, rest, streamable-http, sse or stdio")


async def detect(
    config: ConnectorConfig,
    *,
    on_tools_changed: ToolsChangedHook | None = None,
    network: NetworkPolicy | None = None,
) -> Connector:
    """Open a connector to ``config.url`` in whichever protocol it answers: MCP first, then REST.

    Raises:
        UpstreamUnreachable: nothing listens at the URL.
        UpstreamUnauthorized: the server refused the registered credentials.
        UpstreamTimeout: neither protocol answered in time.
        UpstreamBadReply: the URL answers, but neither as MCP nor as the simple protocol.
    """
    if not config.url:
        raise ValueError("Transport 'http' needs a url")
    probe_timeout = min(PROBE_TIMEOUT_SECONDS, config.timeout_seconds)

    mcp = StreamableHttpConnector(
        config.with_transport("streamable-http"), on_tools_changed=on_tools_changed, network=network
    )
    try:
        await mcp.connect(time_limit=probe_timeout)
        return mcp
    except (UpstreamUnreachable, AddressNotAllowed):
        await mcp.aclose()
        raise
    except UpstreamError as exc:
        await mcp.aclose()
        mcp_error = exc
    logger.debug("%s is not MCP Streamable HTTP (%s); trying the simple protocol", config.url, mcp_error.code)

    rest = RestConnector(config.with_transport("rest"), network=network)
    try:
        await rest.discover(time_limit=probe_timeout)
        return rest
    except UpstreamError as exc:
        await rest.aclose()
        rest_error = exc

    for error in (rest_error, mcp_error):
        if isinstance(error, UpstreamUnauthorized | UpstreamUnreachable):
            raise error
    if isinstance(mcp_error, UpstreamTimeout) and isinstance(rest_error, UpstreamTimeout):
        raise rest_error
    raise UpstreamBadReply(
        f"{config.url} answers neither as MCP ({mcp_error.message}) nor as the simple protocol ({rest_error.message}).",
        details={"mcp": mcp_error.code, "rest": rest_error.code},
    )
