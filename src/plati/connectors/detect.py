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
3. For a URL ending in ``/mcp`` whose host answered step 2 with something else than the tool list
   (a 404, say), try the simple protocol at its parent: the guide registers
   ``https://your-domain.com/mcp`` while its Flask server answers ``/tools`` and ``/call`` at the
   root. The URL chosen is ``Discovery.endpoint`` (stored as ``mcp_servers.endpoint``).
4. If nothing works: nothing listening raises :class:`UpstreamUnreachable` at once (step 1);
   refused credentials raise :class:`UpstreamUnauthorized`; timeouts everywhere raise
   :class:`UpstreamTimeout`; anything else raises :class:`UpstreamBadReply`. Each lists every
   URL and protocol tried (``details["tried"]``) and the likely fix (``details["hint"]``).
"""

from __future__ import annotations

import logging
from urllib.parse import urlsplit, urlunsplit

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
    """Open a connector to ``config.url`` in whichever protocol it answers: MCP first, then the
    simple protocol at the URL, then (for a URL ending in ``/mcp``) the simple protocol at its parent.
    The connector's ``discover()`` names the URL chosen (``Discovery.endpoint``).

    Raises:
        UpstreamUnreachable: nothing listens at the URL.
        UpstreamUnauthorized: the server refused the registered credentials.
        UpstreamTimeout: no protocol answered in time.
        UpstreamBadReply: the URL answers, but neither as MCP nor as the simple protocol.

    Every one of them lists what was tried (``details["tried"]``: url, protocol, code, message)
    and the likely fix (``details["hint"]``, also the message's last sentence).
    """
    if not config.url:
        raise ValueError("Transport 'http' needs a url")
    url = config.url.rstrip("/")
    probe_timeout = min(PROBE_TIMEOUT_SECONDS, config.timeout_seconds)
    tried: list[tuple[str, str, UpstreamError]] = []

    mcp = StreamableHttpConnector(
        config.with_transport("streamable-http"), on_tools_changed=on_tools_changed, network=network
    )
    try:
        await mcp.connect(time_limit=probe_timeout)
        logger.info("%s answers MCP Streamable HTTP", url)
        return mcp
    except AddressNotAllowed:
        await mcp.aclose()
        raise
    except UpstreamError as exc:
        await mcp.aclose()
        tried.append((url, "streamable-http", exc))
        if isinstance(exc, UpstreamUnreachable):
            raise _failure(config.url, tried) from exc
    logger.debug("%s is not MCP Streamable HTTP (%s); trying the simple protocol", url, tried[-1][2].code)

    for candidate in _rest_candidates(url):
        rest = RestConnector(config.with_transport("rest", url=candidate), network=network)
        try:
            await rest.discover(time_limit=probe_timeout)
            logger.info("%s answers the simple protocol at %s", config.url, candidate)
            return rest
        except UpstreamError as exc:
            await rest.aclose()
            tried.append((candidate, "rest", exc))
            if not isinstance(exc, UpstreamBadReply):
                break  # the host did not answer (or refused us): its parent path would not either
    raise _failure(config.url, tried)


def _rest_candidates(url: str) -> list[str]:
    """Where to look for the simple protocol: the URL, then the parent of a URL ending in ``/mcp``
    (the guide registers ``https://your-domain.com/mcp`` while its server answers ``/tools`` at the root)."""
    candidates = [url]
    parts = urlsplit(url)
    if parts.path.endswith("/mcp") and not parts.query:
        candidates.append(urlunsplit(parts._replace(path=parts.path[: -len("/mcp")])))
    return candidates


def _hint(url: str, tried: list[tuple[str, str, UpstreamError]]) -> str:
    errors = [error for _, _, error in tried]
    if any(isinstance(error, UpstreamUnreachable) for error in errors):
        return (
            f"Start the function server, or correct the URL: nothing listens at {url} "
            "(from the platform's host, loopback is the platform's own machine)."
        )
    if any(isinstance(error, UpstreamUnauthorized) for error in errors):
        return "Set the server's credentials in the MCP's headers (e.g. Authorization: Bearer ...)."
    if all(isinstance(error, UpstreamTimeout) for error in errors):
        return "Check that the server is healthy, or raise timeout_seconds."
    return (
        "Register the server's MCP endpoint (usually .../mcp) or the base URL that serves GET /tools "
        "and POST /call, or name the protocol with transport 'streamable-http', 'sse' or 'rest'."
    )


def _failure(url: str, tried: list[tuple[str, str, UpstreamError]]) -> UpstreamError:
    """One error naming every URL and protocol tried, and the likely fix."""
    hint = _hint(url, tried)
    details = {
        "tried": [
            {"url": where, "protocol": protocol, "code": error.code, "message": error.message}
            for where, protocol, error in tried
        ],
        "hint": hint,
    }
    attempts = "; ".join(
        f"{'MCP' if protocol != 'rest' else 'simple protocol'} at {where}: {error.message.rstrip('.')}"
        for where, protocol, error in tried
    )
    errors = [error for _, _, error in tried]
    for kind in (UpstreamUnreachable, UpstreamUnauthorized):
        if any(isinstance(error, kind) for error in errors):
            return kind(f"{url} could not be used (tried {attempts}). {hint}", details=details)
    if all(isinstance(error, UpstreamTimeout) for error in errors):
        return UpstreamTimeout(f"{url} did not answer in time (tried {attempts}). {hint}", details=details)
    return UpstreamBadReply(
        f"{url} answers neither as MCP nor as the simple protocol (tried {attempts}). {hint}", details=details
    )
