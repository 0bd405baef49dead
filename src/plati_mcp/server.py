"""``MCP``: the function server a developer builds with decorators."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Literal, TypeVar, overload

import anyio

from .app import FunctionServerApp
from .auth import Authenticator, TokenVerifier
from .errors import DefinitionError
from .executor import Executor
from .function import Function
from .mcp_http import McpHttpTransport
from .protocol_mcp import McpProtocol
from .protocol_rest import RestProtocol
from .ratelimit import RateLimiter
from .state import StateStore, state_store_from_url
from .tasks import BackgroundRunner, CallbackSender, TaskStore, task_store_from_url

if TYPE_CHECKING:
    from .testing import FunctionTestClient

logger = logging.getLogger("plati_mcp")

F = TypeVar("F", bound=Callable[..., Any])
Transport = Literal["http", "streamable-http", "stdio"]


class MCP:
    """A function server speaking the simple protocol (``GET /tools``, ``POST /call``) and MCP.

    Args:
        name: the server's name, shown to MCP clients.
        version: the server's version, shown to MCP clients.
        instructions: guidance for the model about this server (MCP ``instructions``).
        auth_tokens: bearer tokens accepted on both protocols (None: no auth).
        verify_token: a callable ``(token) -> bool`` (sync or async) deciding other tokens.
        rate_limit: per-credential limit such as ``"100 per minute"`` or ``"10/second;500/hour"``.
        redis_url: keep state, background tasks and rate-limit counters in Redis, so several
            processes share them (default: in memory).
        state_store: a custom :class:`~plati_mcp.state.StateStore` (overrides ``redis_url`` for state).
        max_body_bytes: largest request body accepted (413 beyond it).
        callback_secret: shared secret signing background-task callbacks (``X-Plati-Signature``).
        state_ttl_seconds: how long a conversation's state is kept after its last change.

    Raises:
        DefinitionError / ValueError: a setting that cannot work (e.g. an unparsable rate limit).
    """

    def __init__(
        self,
        name: str = "plati-mcp",
        *,
        version: str = "0.1.0",
        instructions: str | None = None,
        auth_tokens: Iterable[str] | None = None,
        verify_token: TokenVerifier | None = None,
        rate_limit: str | None = None,
        redis_url: str | None = None,
        state_store: StateStore | None = None,
        task_store: TaskStore | None = None,
        max_body_bytes: int = 1_048_576,
        callback_secret: str | None = None,
        state_ttl_seconds: int = 86_400,
    ) -> None:
        if max_body_bytes <= 0:
            raise DefinitionError(f"max_body_bytes must be positive, got {max_body_bytes}.")
        self.name = name
        self.version = version
        self.instructions = instructions
        self.max_body_bytes = max_body_bytes
        self._functions: dict[str, Function] = {}
        self.authenticator = Authenticator(auth_tokens, verify_token)
        self.rate_limiter = RateLimiter(rate_limit, storage_url=redis_url) if rate_limit else None
        self.state_store = state_store or state_store_from_url(redis_url, ttl_seconds=state_ttl_seconds)
        self.task_store = task_store or task_store_from_url(redis_url)
        self.runner = BackgroundRunner(self.task_store, CallbackSender(callback_secret))
        self.executor = Executor(self._functions, self.state_store, self.runner)
        self.rest = RestProtocol(self._functions, self.executor, self.task_store)
        self.mcp_protocol = McpProtocol(
            name=name,
            version=version,
            instructions=instructions,
            functions=self._functions,
            executor=self.executor,
        )
        self.mcp_http = McpHttpTransport(self.mcp_protocol)
        self._app: FunctionServerApp | None = None

    @property
    def functions(self) -> Mapping[str, Function]:
        """The registered functions by name."""
        return self._functions

    def add_function(self, function: Function) -> Function:
        """Register an explicitly built :class:`Function`.

        Raises:
            DefinitionError: a function of that name is already registered.
        """
        if function.name in self._functions:
            raise DefinitionError(
                f"A function named {function.name!r} is already registered on {self.name!r}; give one of "
                "them another name=."
            )
        self._functions[function.name] = function
        return function

    @overload
    def function(self, fn: F, /) -> F: ...

    @overload
    def function(
        self,
        fn: None = None,
        /,
        *,
        name: str | None = None,
        description: str | None = None,
        parameters: Mapping[str, Any] | None = None,
        background: bool = False,
        annotations: Mapping[str, Any] | None = None,
        title: str | None = None,
    ) -> Callable[[F], F]: ...

    def function(
        self,
        fn: F | None = None,
        /,
        *,
        name: str | None = None,
        description: str | None = None,
        parameters: Mapping[str, Any] | None = None,
        background: bool = False,
        annotations: Mapping[str, Any] | None = None,
        title: str | None = None,
    ) -> F | Callable[[F], F]:
        """Register a function, as ``@mcp.function`` or ``@mcp.function(name=..., ...)``.

        The decorated function is returned unchanged, so it stays callable from Python.

        Raises:
            DefinitionError: the definition cannot work; the message says why and the fix.
        """

        def register(target: F, localns: Mapping[str, Any] | None = None) -> F:
            self.add_function(
                Function(
                    target,
                    name=name,
                    description=description,
                    parameters=parameters,
                    background=background,
                    annotations=annotations,
                    title=title,
                    localns=localns if localns is not None else sys._getframe(1).f_locals,
                )
            )
            return target

        if fn is not None:
            if not callable(fn):
                raise DefinitionError("@mcp.function takes keyword options only, e.g. @mcp.function(name='x').")
            return register(fn, sys._getframe(1).f_locals)
        return register

    @property
    def app(self) -> FunctionServerApp:
        """The ASGI app serving both protocols; mount it anywhere."""
        if self._app is None:
            self._app = FunctionServerApp(self)
        return self._app

    def run(
        self,
        host: str = "127.0.0.1",
        port: int = 5000,
        *,
        transport: Transport = "http",
        log_level: str = "info",
        **uvicorn_options: Any,
    ) -> None:
        """Serve until interrupted: HTTP (both protocols, with uvicorn) or MCP over stdio."""
        if transport == "stdio":
            anyio.run(self.run_stdio_async)
            return
        if transport not in ("http", "streamable-http"):
            raise ValueError(f"Unknown transport {transport!r}; use 'http' or 'stdio'.")
        import uvicorn

        uvicorn.run(self.app, host=host, port=port, log_level=log_level, **uvicorn_options)

    async def run_stdio_async(self) -> None:
        """Serve MCP over this process's stdin/stdout until stdin closes."""
        from .stdio import serve_stdio

        try:
            await serve_stdio(self.mcp_protocol)
        finally:
            await self.aclose()

    def test_client(
        self, token: str | None = None, headers: Mapping[str, str] | None = None
    ) -> FunctionTestClient:
        """An in-process client for tests: ``client.call("name", {...})``."""
        from .testing import FunctionTestClient

        return FunctionTestClient(self, token=token, headers=headers)

    async def aclose(self) -> None:
        """Stop background tasks and close store connections."""
        await self.runner.aclose()
        await self.runner.sender.aclose()
        await self.state_store.aclose()
        await self.task_store.aclose()
        if self.rate_limiter is not None:
            await self.rate_limiter.aclose()
