"""The composition root of the platform service: ``create_app(settings)``.

Settings are read once (by the caller: ``plati serve`` does ``Settings.load()``); the lifespan
applies migrations, opens the database and the connector pool, and closes them at shutdown.
"""

from __future__ import annotations

import gc
import logging
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from . import __version__
from .api import assistants, channels, conversations, keys, mcps, openapi, workspace
from .api.deps import Services
from .api.inputs import RefuseNulParameters
from .api.wire import ok
from .cluster.bus import Bus
from .cluster.sqlite_lock import SqliteServeLock
from .connectors import Connector, ConnectorConfig, ConnectorManager, open_connector
from .console import mount_console
from .engine.factory import ProviderFactory
from .engine.providers import Provider
from .engine.runner import TurnRunner, process_owner
from .errors import PlatiError, ServiceUnavailable, TooManyRequests
from .registry import Registry
from .security.limits import RequestLimits, turn_slots
from .security.network import NetworkPolicy, Resolver
from .security.processes import ProcessPolicy
from .security.secrets import SecretBox
from .settings import ConfigError, Settings
from .store.db import Database, run_migrations
from .store.hot import HotStore

logger = logging.getLogger("plati")


def error_body(message: str, code: str, details: Any = None) -> dict[str, Any]:
    """The error envelope of SPEC section 5."""
    return {"message": message, "error": {"code": code, "details": details}}


_HTTP_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed"}


def create_app(
    settings: Settings,
    *,
    database_schema: str | None = None,
    provider_override: Provider | None = None,
    freeze_gc: bool = False,
    resolver: Resolver | None = None,
    redis_prefix: str = "plati",
) -> FastAPI:
    """Build the API app.

    ``database_schema`` (PostgreSQL) isolates test databases; ``provider_override`` answers for
    every assistant (a scripted model in tests and benchmarks); ``resolver`` replaces the system's
    name resolution in the network policy (tests). ``freeze_gc`` (for a process
    that serves only this app: ``plati serve``) moves everything that exists once the app has
    started out of the garbage collector's reach (``gc.freeze()``): the models, routes, schemas
    and tables then never have to be walked again, and full collections under load shrink from
    ~150-250 ms pauses of the event loop to ~30-40 ms. ``redis_prefix`` starts the keys the
    rate limits keep in Redis (``settings.redis_url``), so that deployments or tests sharing one
    Redis database keep their counts apart.
    """

    try:
        network = NetworkPolicy(
            block_private=settings.block_private_networks, allowed_hosts=settings.allowed_hosts, resolver=resolver
        )
    except ValueError as exc:
        raise ConfigError(f"Invalid PLATI_ALLOWED_HOSTS: {exc}.") from None
    processes = ProcessPolicy(allow=settings.allow_stdio, commands=settings.stdio_commands)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # SQLite has one serving process: a second one stops here, before touching anything.
        serve_lock = SqliteServeLock(settings.database_url)
        serve_lock.acquire()
        try:
            async with _services() as services:
                app.state.services = services
                if freeze_gc:
                    gc.collect()
                    gc.freeze()
                yield
        finally:
            serve_lock.release()

    @asynccontextmanager
    async def _services() -> AsyncIterator[Services]:
        await run_migrations(settings.database_url, schema=database_schema)
        db = Database(settings.database_url, schema=database_schema, sqlite_synchronous=settings.sqlite_synchronous)
        box = SecretBox(settings.secret_key)

        async def opener(mcp_id: str, config: ConnectorConfig) -> Connector:
            # A server announcing a new tool list (MCP list_changed) expires the cached one.
            async def tools_changed() -> None:
                await registry.mark_stale(mcp_id)

            return await open_connector(config, on_tools_changed=tools_changed, network=network, processes=processes)

        connectors = ConnectorManager(opener)
        registry = Registry(settings, db.sessionmaker, box, connectors)
        providers = ProviderFactory(settings, provider_override, network=network)
        hot = await HotStore.open(db)
        owner = process_owner()
        bus = Bus(db.engine, owner=owner, schema=database_schema, on_config=db.config_changed_elsewhere)
        await bus.start()
        db.on_config_written = bus.config_changed
        runner = TurnRunner(settings, db, hot, registry, providers, bus=bus, owner=owner)
        limits = RequestLimits(settings, redis_prefix=redis_prefix)
        slots = turn_slots(settings, redis_prefix=redis_prefix)
        recovered = await runner.start()
        if recovered:
            logger.warning("Marked %d turn(s) left running by a stopped process as failed", recovered)
        services = Services(
            settings=settings,
            db=db,
            hot=hot,
            box=box,
            connectors=connectors,
            registry=registry,
            providers=providers,
            runner=runner,
            network=network,
            processes=processes,
            limits=limits,
            turn_slots=slots,
        )
        try:
            yield services
        finally:
            await runner.aclose()
            db.on_config_written = None
            await bus.aclose()
            await limits.aclose()
            await slots.aclose()
            await providers.aclose()
            await connectors.aclose()
            await hot.aclose()
            await db.aclose()

    app = FastAPI(
        title="Plati",
        version=__version__,
        description="Self-hosted assistant platform: function servers (MCPs), assistants, channels.",
        lifespan=lifespan,
        docs_url=None,  # served from the package by plati.api.openapi (no CDN)
        redoc_url=None,
    )

    @app.exception_handler(PlatiError)
    async def plati_error(request: Request, exc: PlatiError) -> JSONResponse:
        retry_after = exc.retry_after if isinstance(exc, TooManyRequests | ServiceUnavailable) else None
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
        body = error_body(exc.message, exc.code, exc.details)
        return JSONResponse(body, status_code=exc.status_code, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        details = []
        for item in exc.errors():
            loc = [str(part) for part in item.get("loc", ()) if part != "body"]
            details.append({"field": ".".join(loc), "message": item.get("msg", "invalid")})
        if any(item.get("type") == "json_invalid" for item in exc.errors()):
            return JSONResponse(error_body("Request body is not valid JSON", "bad_request", details), status_code=400)
        summary = "; ".join(f"{d['field'] or '(body)'}: {d['message']}" for d in details)
        return JSONResponse(error_body(f"Invalid request: {summary}", "validation_error", details), status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _HTTP_CODES.get(exc.status_code, "http_error")
        message = "Not found" if exc.status_code == 404 else str(exc.detail)
        return JSONResponse(error_body(message, code), status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(Exception)
    async def unexpected_error(request: Request, exc: Exception) -> JSONResponse:
        error_id = secrets.token_hex(4)
        logger.error("Unhandled error %s on %s %s", error_id, request.method, request.url.path, exc_info=exc)
        return JSONResponse(error_body(f"Internal error (id {error_id})", "internal_error"), status_code=500)

    @app.get("/health", tags=["Health"], summary="Liveness (no auth)")
    async def health() -> dict[str, Any]:
        return ok("ok", {"status": "ok", "version": __version__})

    # Conversations first: routes are matched in order, and chat is the busiest.
    app.include_router(conversations.router)
    app.include_router(mcps.router)
    app.include_router(assistants.router)
    app.include_router(channels.router)
    app.include_router(workspace.router)
    app.include_router(keys.router)
    openapi.install(app)
    # Last: the console takes only ``/`` and ``/console/...``, after every API route.
    mount_console(app)
    app.add_middleware(BodyLimit, max_bytes=settings.max_request_bytes)
    app.add_middleware(RefuseNulParameters, paths=lambda: app.openapi().get("paths", {}))
    return app


def app_from_environment() -> FastAPI:
    """The app of one ``plati serve --workers N`` process: settings from the environment."""
    return create_app(Settings.load(), freeze_gc=True)


class BodyLimit:
    """Refuse request bodies over ``max_bytes`` with 413 before they reach a handler."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(scope, receive, send)
            return
        seen = 0

        async def limited_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise _TooLarge()
            return message

        try:
            await self.app(scope, limited_receive, send)
        except _TooLarge:
            await self._refuse(scope, receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = JSONResponse(
            error_body(f"Request body larger than {self.max_bytes} bytes", "payload_too_large"), status_code=413
        )
        await response(scope, receive, send)


class _TooLarge(Exception):
    pass
