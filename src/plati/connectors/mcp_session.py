"""The MCP client side shared by every MCP transport: one long-lived ``mcp.Client`` per connector.

The session is opened on first use (or by :meth:`McpConnector.connect`) in ``mode="auto"``: the
official client probes ``server/discover`` (the stateless 2026-07-28 revision) and falls back to
the ``initialize`` handshake. The ``Client`` then stays open and serves every ``discover`` and
``call``; when the session breaks (connection closed, session terminated by the server) the next
operation reconnects once and retries.

The ``Client`` holds anyio task groups, which must be exited by the task that entered them; a
connector is used from many request tasks, so the ``Client`` lives in a dedicated runner task
that enters it, waits for the stop signal, and exits it.

Subclasses only say how to open the transport: :mod:`.mcp_http`, :mod:`.mcp_sse`, :mod:`.mcp_stdio`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager
from typing import Any, ClassVar, TypeVar, cast

import anyio
import httpx2
import mcp_types as types
from mcp import Client, MCPError
from mcp.client._transport import TransportStreams
from mcp.client.session import IncomingMessage
from pydantic import ValidationError

from .. import __version__
from ..errors import UpstreamError
from ..security.egress import refusal_in
from ..security.network import NetworkPolicy
from ._guard import Exchange, ReplyTooLarge, current_exchange
from .base import CallContext, CallResult, ConnectorConfig, Discovery, ToolSpec
from .errors import (
    FunctionNotFound,
    UpstreamBadReply,
    UpstreamTimeout,
    UpstreamTooLarge,
    UpstreamUnauthorized,
    UpstreamUnreachable,
)

logger = logging.getLogger("plati.connectors")

_T = TypeVar("_T")
ToolsChangedHook = Callable[[], Awaitable[None]]

_MAX_PAGES = 100  # tools/list pages followed before giving up on a paginator that never ends
_CLOSE_TIMEOUT = 10.0  # seconds to let a session shut down cleanly before cancelling it
_UNKNOWN_TOOL = re.compile(r"unknown tool|no such tool|tool\b.*\bnot found", re.IGNORECASE)


class McpConnector:
    """A function server reached over MCP, through one reused ``mcp.Client`` session.

    Attributes:
        on_tools_changed: called (in its own task) when the server sends
            ``notifications/tools/list_changed``; the platform sets it to refresh its tool cache.
        sessions_opened: how many sessions this connector has opened (1 unless it reconnected).
    """

    protocol: ClassVar[str]

    def __init__(
        self,
        config: ConnectorConfig,
        *,
        on_tools_changed: ToolsChangedHook | None = None,
        network: NetworkPolicy | None = None,
    ) -> None:
        if self.protocol == "stdio" and not config.command:
            raise ValueError("An MCP over stdio needs a command")
        if self.protocol != "stdio" and not config.url:
            raise ValueError(f"An MCP over {self.protocol} needs a url")
        if network is not None and config.url:
            network.check_url(config.url)
        self.config = config
        self.network = network
        self.on_tools_changed = on_tools_changed
        self.sessions_opened = 0
        self._client: Client | None = None
        self._runner: asyncio.Task[None] | None = None
        self._stop: asyncio.Event | None = None
        self._connect_lock = asyncio.Lock()
        self._closed = False
        self._hook_tasks: set[asyncio.Task[None]] = set()

    # -- what subclasses provide -------------------------------------------------------------

    def _transport(self) -> AbstractAsyncContextManager[TransportStreams]:
        """A fresh (not yet entered) transport to the server."""
        raise NotImplementedError

    def _before_connect(self) -> None:
        """Called before every new session (stdio: the operator's process policy)."""

    @property
    def closed(self) -> bool:
        """``aclose`` was called; the connector cannot be used again."""
        return self._closed

    @property
    def target(self) -> str:
        """The server as named in messages: its URL or command (never a header or env value)."""
        return self.config.url or self.config.command or "the MCP server"

    # -- the connector interface -------------------------------------------------------------

    async def connect(self, *, time_limit: float | None = None) -> None:
        """Open the session now instead of on first use.

        Raises:
            UpstreamError: a subclass saying why the server could not be reached.
        """
        await self._session(time_limit=time_limit)

    async def discover(self) -> Discovery:
        async def list_all(client: Client) -> tuple[Client, list[types.Tool], float | None]:
            tools: list[types.Tool] = []
            ttl: float | None = None
            cursor: str | None = None
            for _ in range(_MAX_PAGES):
                page = await client.list_tools(cursor=cursor, cache_mode="bypass")
                tools.extend(page.tools)
                if "ttl_ms" in page.model_fields_set:
                    seconds = page.ttl_ms / 1000
                    ttl = seconds if ttl is None else min(ttl, seconds)
                cursor = page.next_cursor
                if cursor is None:
                    break
            return client, tools, ttl

        client, tools, ttl = await self._operate(list_all, headers={}, what="tools/list")
        capabilities = client.session.server_capabilities
        info = client.session.server_info
        return Discovery(
            tools=[_tool_spec(tool) for tool in tools],
            protocol=self.protocol,
            server_name=info.name if info is not None else None,
            ttl_seconds=ttl,
            list_changed=bool(capabilities and capabilities.tools and capabilities.tools.list_changed),
            endpoint=self.config.url,
        )

    async def call(self, name: str, arguments: Mapping[str, Any], context: CallContext) -> CallResult:
        started = time.perf_counter()
        meta = cast(types.RequestParamsMeta, context.meta()) or None

        async def call_tool(client: Client) -> types.CallToolResult:
            return await client.call_tool(
                name, dict(arguments), read_timeout_seconds=self.config.timeout_seconds, meta=meta
            )

        try:
            result = await self._operate(call_tool, headers=context.headers(), what=f"the call to {name!r}")
        except _InvalidParams as exc:
            # Only the protocol says a tool does not exist (SPEC section 3): a -32602 naming it.
            if _UNKNOWN_TOOL.search(exc.message) and name in exc.message:
                raise FunctionNotFound(f"{self.target} does not know the function {name!r}.", function=name) from None
            # Arguments the server refused at the protocol level: a failure the model can fix.
            return CallResult(success=False, error=exc.message, duration_ms=_since(started))
        self._check_size(result, f"the call to {name!r}")
        if result.is_error:
            # A tool result is the function's own answer, whatever it says: the official SDK words
            # every tool error "Error executing tool X: ..." (e.g. "... Order ORD-9 not found"),
            # and even its "Unknown tool: X" is a result the model reads, not a protocol error.
            text = "\n".join(block.text for block in result.content if isinstance(block, types.TextContent))
            return CallResult(
                success=False, error=text or f"The function {name!r} failed.", duration_ms=_since(started)
            )
        return CallResult(success=True, data=_result_data(result), duration_ms=_since(started))

    async def aclose(self) -> None:
        self._closed = True
        async with self._connect_lock:
            await self._stop_session()
        for task in list(self._hook_tasks):
            task.cancel()
        if self._hook_tasks:
            await asyncio.gather(*self._hook_tasks, return_exceptions=True)

    # -- session lifecycle ---------------------------------------------------------------------

    async def _session(self, *, time_limit: float | None = None) -> Client:
        """The live client, opening (or reopening) the session when there is none."""
        client = self._client
        if client is not None and self._runner is not None and not self._runner.done():
            return client
        async with self._connect_lock:
            if self._closed:
                raise RuntimeError("This connector is closed")
            if self._client is not None and self._runner is not None and not self._runner.done():
                return self._client
            await self._stop_session()
            self._before_connect()
            return await self._start_session(self.config.timeout_seconds if time_limit is None else time_limit)

    async def _start_session(self, time_limit: float) -> Client:
        loop = asyncio.get_running_loop()
        ready: asyncio.Future[Client] = loop.create_future()
        stop = asyncio.Event()
        exchange = Exchange(limit=self.config.max_response_bytes)
        runner = loop.create_task(self._run(ready, stop, exchange), name=f"mcp-session {self.target}")
        self._runner, self._stop = runner, stop
        done, _ = await asyncio.wait([ready], timeout=time_limit)
        if not done:
            await _cancel(runner)
            raise UpstreamTimeout(
                f"{self.target} did not complete the MCP handshake within {time_limit:g} s.",
                details={"timeout_seconds": time_limit},
            )
        try:
            client = ready.result()
        except BaseException as exc:
            await _cancel(runner)
            raise self._connect_error(exc, exchange) from exc
        self._client = client
        self.sessions_opened += 1
        return client

    async def _run(self, ready: asyncio.Future[Client], stop: asyncio.Event, exchange: Exchange) -> None:
        """The runner task: owns the ``Client`` from entry to exit."""
        current_exchange.set(exchange)  # this task's own context: the handshake's exchange
        client = Client(
            self._transport(),
            mode="auto",
            read_timeout_seconds=self.config.timeout_seconds,
            message_handler=self._on_message,
            client_info=types.Implementation(name="plati", version=__version__),
            cache=None,
        )
        try:
            async with client:
                ready.set_result(client)
                await stop.wait()
        except asyncio.CancelledError:
            if not ready.done():
                ready.cancel()
            raise
        except BaseException as exc:
            if not ready.done():
                ready.set_exception(exc)
            elif not stop.is_set():
                logger.warning("The MCP session with %s ended: %s", self.target, _leaf_summary(exc))

    async def _stop_session(self) -> None:
        runner, stop = self._runner, self._stop
        self._client = self._runner = self._stop = None
        if runner is None or stop is None:
            return
        stop.set()
        done, _ = await asyncio.wait([runner], timeout=_CLOSE_TIMEOUT)
        if not done:
            logger.warning("The MCP session with %s did not close in time; cancelling it", self.target)
            await _cancel(runner)

    async def _on_message(self, message: IncomingMessage) -> None:
        if isinstance(message, types.ToolListChangedNotification):
            hook = self.on_tools_changed
            if hook is not None:
                # Not awaited here: the hook may call discover(), whose reply this very
                # read loop must deliver.
                task = asyncio.get_running_loop().create_task(self._run_hook(hook))
                self._hook_tasks.add(task)
                task.add_done_callback(self._hook_tasks.discard)
        elif isinstance(message, Exception):
            logger.debug("Transport error from %s: %r", self.target, message)

    async def _run_hook(self, hook: ToolsChangedHook) -> None:
        try:
            await hook()
        except Exception:
            logger.exception("on_tools_changed for %s failed", self.target)

    # -- one operation -------------------------------------------------------------------------

    async def _operate(self, op: Callable[[Client], Awaitable[_T]], *, headers: Mapping[str, str], what: str) -> _T:
        """Run ``op`` on the session with the exchange set; reconnect once if the session broke."""
        for attempt in (1, 2):
            client = await self._session()
            exchange = Exchange(headers=headers, limit=self.config.max_response_bytes)
            token = current_exchange.set(exchange)
            try:
                # A safety net over the client's own per-request read timeout (which raises
                # REQUEST_TIMEOUT first); the guard also cancels this scope on an oversized reply.
                with anyio.CancelScope(deadline=anyio.current_time() + 2 * self.config.timeout_seconds) as scope:
                    exchange.scope = scope
                    result = await op(client)
                if exchange.too_large:
                    raise self._too_large(what)
                if scope.cancelled_caught:
                    raise self._timeout(what)
                return result
            except MCPError as exc:
                if exchange.too_large:
                    raise self._too_large(what) from None
                if attempt == 1 and _session_broken(exc, exchange) and not self._closed:
                    logger.info("The MCP session with %s broke (%s); reconnecting", self.target, exc.error.message)
                    await self._drop(client)
                    continue
                raise self._call_error(exc, exchange, what) from None
            except RuntimeError as exc:
                if attempt == 1 and not self._closed and self._client is not client:
                    await self._drop(client)
                    continue  # the session closed under us ("Client must be used within ...")
                raise UpstreamBadReply(f"{self.target} failed during {what}: {exc}") from exc
            except (ValidationError, ValueError) as exc:
                raise UpstreamBadReply(
                    f"{self.target} answered {what} with a reply that does not fit the MCP schema."
                ) from exc
            finally:
                current_exchange.reset(token)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _drop(self, client: Client) -> None:
        async with self._connect_lock:
            if self._client is client or self._client is None:
                await self._stop_session()

    # -- error mapping -------------------------------------------------------------------------

    def _connect_error(self, exc: BaseException, exchange: Exchange) -> UpstreamError:
        refusal = exchange.refused or refusal_in(exc)
        if refusal is not None:
            return refusal
        leaves = _leaves(exc)
        status = exchange.last_error_status()
        if exchange.too_large or any(isinstance(leaf, ReplyTooLarge) for leaf in leaves):
            return self._too_large("the MCP handshake")
        if status in (401, 403) or any(_status_of(leaf) in (401, 403) for leaf in leaves):
            return self._unauthorized(status or _status_of_any(leaves))
        for leaf in leaves:
            if isinstance(leaf, httpx2.ConnectError | ConnectionError | FileNotFoundError | PermissionError):
                return UpstreamUnreachable(f"Nothing answers at {self.target} ({type(leaf).__name__}).")
            if isinstance(leaf, httpx2.TimeoutException | TimeoutError):
                return self._timeout("the MCP handshake")
        for leaf in leaves:
            if isinstance(leaf, MCPError):
                if leaf.code == types.REQUEST_TIMEOUT:
                    return self._timeout("the MCP handshake")
                if leaf.code == types.CONNECTION_CLOSED and self.protocol == "stdio":
                    return UpstreamUnreachable(f"{self.target} exited before completing the MCP handshake.")
                http = f" (HTTP {status})" if status is not None else ""
                return UpstreamBadReply(
                    f"{self.target} did not answer as an MCP server{http}: {leaf.error.message}",
                    details={"status": status, "mcp_code": leaf.code},
                )
            if isinstance(leaf, httpx2.HTTPStatusError):
                return UpstreamBadReply(
                    f"{self.target} answered HTTP {leaf.response.status_code} to the MCP connection.",
                    details={"status": leaf.response.status_code},
                )
        first = leaves[0] if leaves else exc
        return UpstreamBadReply(f"The MCP connection to {self.target} failed ({type(first).__name__}).")

    def _call_error(self, exc: MCPError, exchange: Exchange, what: str) -> Exception:
        if exchange.refused is not None:
            return exchange.refused
        status = exchange.last_error_status()
        if status in (401, 403):
            return self._unauthorized(status)
        if exc.code == types.REQUEST_TIMEOUT:
            return self._timeout(what)
        if exc.code == types.INVALID_PARAMS and what.startswith("the call"):
            return _InvalidParams(exc.error.message)
        http = f" (HTTP {status})" if status is not None else ""
        return UpstreamBadReply(
            f"{self.target} answered {what} with MCP error {exc.code}{http}: {exc.error.message}",
            details={"status": status, "mcp_code": exc.code},
        )

    def _check_size(self, result: types.CallToolResult, what: str) -> None:
        """The cap for transports without a byte counter (stdio, SSE): measure the parsed result."""
        if len(result.model_dump_json(by_alias=True, exclude_none=True)) > self.config.max_response_bytes:
            raise self._too_large(what)

    def _timeout(self, what: str) -> UpstreamTimeout:
        return UpstreamTimeout(
            f"{self.target} did not answer {what} within {self.config.timeout_seconds:g} s.",
            details={"timeout_seconds": self.config.timeout_seconds},
        )

    def _too_large(self, what: str) -> UpstreamTooLarge:
        limit = self.config.max_response_bytes
        return UpstreamTooLarge(
            f"The reply of {self.target} to {what} is larger than {limit} bytes.",
            details={"max_response_bytes": limit},
        )

    def _unauthorized(self, status: int | None) -> UpstreamUnauthorized:
        http = f" (HTTP {status})" if status is not None else ""
        return UpstreamUnauthorized(
            f"{self.target} refused the registered credentials{http}; check the MCP's headers.",
            details={"status": status},
        )


class _InvalidParams(Exception):
    """A -32602 answer to tools/call, sorted out by :meth:`McpConnector.call`."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _session_broken(exc: MCPError, exchange: Exchange) -> bool:
    """Whether the session (not the request) failed, so a new session may succeed.

    The spec says a server answers 404 to a session it no longer knows; some answer 400. Either
    way the HTTP layer refused the request before any tool ran, so retrying it is safe.
    """
    if exc.code == types.CONNECTION_CLOSED:
        return True
    if exc.code == types.INVALID_REQUEST and "session terminated" in exc.error.message.lower():
        return True
    http_refusal = exc.code in (types.INTERNAL_ERROR, types.INVALID_REQUEST, types.METHOD_NOT_FOUND)
    return http_refusal and exchange.last_error_status() in (400, 404)


def _tool_spec(tool: types.Tool) -> ToolSpec:
    annotations = tool.annotations.model_dump(by_alias=True, exclude_none=True) if tool.annotations else None
    title = tool.title or (tool.annotations.title if tool.annotations else None)
    return ToolSpec(
        name=tool.name,
        description=tool.description or "",
        input_schema=tool.input_schema,
        output_schema=tool.output_schema,
        annotations=annotations or None,
        title=title,
    )


def _result_data(result: types.CallToolResult) -> Any:
    """``structuredContent`` when present; else the content, text parsed as JSON when it is JSON."""
    if result.structured_content is not None:
        return result.structured_content
    values = [_block_value(block) for block in result.content]
    if not values:
        return None
    return values[0] if len(values) == 1 else values


def _block_value(block: types.ContentBlock) -> Any:
    if isinstance(block, types.TextContent):
        try:
            return json.loads(block.text)
        except ValueError:
            return block.text
    return block.model_dump(by_alias=True, mode="json", exclude_none=True)


def _leaves(exc: BaseException) -> list[BaseException]:
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for inner in exc.exceptions for leaf in _leaves(inner)]
    found = [exc]
    cause = exc.__cause__
    if cause is not None and cause is not exc:
        found.extend(_leaves(cause))
    return found


def _leaf_summary(exc: BaseException) -> str:
    return ", ".join(f"{type(leaf).__name__}: {leaf}" for leaf in _leaves(exc))[:500]


def _status_of(exc: BaseException) -> int | None:
    return exc.response.status_code if isinstance(exc, httpx2.HTTPStatusError) else None


def _status_of_any(leaves: list[BaseException]) -> int | None:
    return next((status for leaf in leaves if (status := _status_of(leaf)) is not None), None)


async def _cancel(task: asyncio.Task[None]) -> None:
    """Cancel ``task`` and wait for it, without swallowing a cancellation of the caller."""
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        current = asyncio.current_task()
        if current is not None and current.cancelling():
            raise


def _since(started: float) -> float:
    return (time.perf_counter() - started) * 1000
