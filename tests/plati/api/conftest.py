"""The platform served for real on loopback, with a fresh database (SQLite, and PostgreSQL when
PLATI_TEST_DATABASE_URL is set), a workspace and API keys, and real function servers to register."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from examples.ecommerce.db import create_database
from examples.ecommerce.server import create_server

from plati.app import create_app
from plati.ids import new_id, utcnow
from plati.security.keys import generate_api_key, hash_api_key, key_prefix
from plati.settings import Settings
from plati.store.db import Database
from plati.store.models import ApiKey, Workspace
from tests.conftest import serve_app


@dataclass
class Tenant:
    workspace_id: str
    api_key: str
    read_only_key: str


@dataclass
class Platform:
    url: str
    settings: Settings
    database_url: str
    schema: str | None
    tenant: Tenant
    other: Tenant

    def client(self, key: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {key or self.tenant.api_key}"}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)

    def add_tenant(self, name: str) -> Tenant:
        return asyncio.run(_create_tenant(self.database_url, self.schema, name))


async def _create_tenant(url: str, schema: str | None, name: str) -> Tenant:
    db = Database(url, schema=schema)
    try:
        keys = {access: generate_api_key() for access in ("read-write", "read-only")}
        workspace_id = new_id("ws")
        async with db.sessionmaker() as session, session.begin():
            session.add(Workspace(id=workspace_id, name=name, created_at=utcnow()))
            await session.flush()
            for access, key in keys.items():
                session.add(
                    ApiKey(
                        id=new_id("key"),
                        workspace_id=workspace_id,
                        name=access,
                        access=access,
                        key_hash=hash_api_key(key),
                        prefix=key_prefix(key),
                        created_at=utcnow(),
                    )
                )
        return Tenant(workspace_id, keys["read-write"], keys["read-only"])
    finally:
        await db.aclose()


def make_settings(tmp_path: Path, database_url: str, **env: str) -> Settings:
    values = {"PLATI_DATA_DIR": str(tmp_path / "data"), "PLATI_DATABASE_URL": database_url}
    values.update(env)
    return Settings.load(env=values)


@pytest.fixture
def platform_env() -> dict[str, str]:
    """Extra PLATI_* settings for the platform under test; override in a test module."""
    return {}


@pytest.fixture
def model() -> Any:
    """The provider answering for every assistant (None: each assistant's own, OFFLINE by default)."""
    return None


@pytest.fixture
def resolver() -> Any:
    """The network policy's name resolution (None: the system's); see tests.plati.security.support."""
    return None


@pytest.fixture
def platform(
    tmp_path: Path, database_url: Any, platform_env: dict[str, str], model: Any, resolver: Any
) -> Iterator[Platform]:
    settings = make_settings(tmp_path, database_url.url, **platform_env)
    app = create_app(settings, database_schema=database_url.schema, provider_override=model, resolver=resolver)
    with serve_app(app) as url:
        tenant = asyncio.run(_create_tenant(database_url.url, database_url.schema, "main"))
        other = asyncio.run(_create_tenant(database_url.url, database_url.schema, "other"))
        yield Platform(url, settings, database_url.url, database_url.schema, tenant, other)


@contextlib.contextmanager
def another_process(platform: Platform, resolver: Any = None, model: Any = None, **env: str) -> Iterator[Platform]:
    """A second platform app on the same database and secret key, with other settings (``env``,
    the name ``resolver`` of the network policy, the ``model`` answering for every assistant):
    what an operator gets by restarting with a changed configuration."""
    values = {"PLATI_SECRET_KEY": platform.settings.secret_key, **env}
    settings = make_settings(platform.settings.data_dir.parent, platform.database_url, **values)
    app = create_app(settings, database_schema=platform.schema, provider_override=model, resolver=resolver)
    with serve_app(app) as url:
        yield Platform(url, settings, platform.database_url, platform.schema, platform.tenant, platform.other)


@pytest.fixture
def shop(tmp_path: Path) -> Iterator[str]:
    """The SDK's e-commerce example server on loopback; yields its base URL."""
    db_path = tmp_path / "shop.db"
    create_database(db_path)
    with serve_app(create_server(db_path).app) as url:
        yield url


class RequestCounter:
    """An ASGI wrapper around a function server that records every request it receives."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.requests: list[tuple[str, str]] = []  # (method, path)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            self.requests.append((scope["method"], scope["path"]))
        await self.app(scope, receive, send)

    @property
    def calls(self) -> int:
        """How many ``POST …/call`` (simple-protocol function calls) it received."""
        return sum(1 for method, path in self.requests if method == "POST" and path.endswith("/call"))


@pytest.fixture
def counted_shop(tmp_path: Path) -> Iterator[tuple[RequestCounter, str]]:
    """The e-commerce example server on loopback, recording its requests; yields it and its URL."""
    db_path = tmp_path / "counted-shop.db"
    create_database(db_path)
    counter = RequestCounter(create_server(db_path).app)
    with serve_app(counter) as url:
        yield counter, url


@pytest.fixture
def guide_flask(tmp_path: Path) -> Iterator[str]:
    """A server written exactly in the guide's Flask style, served by werkzeug on loopback."""
    import threading

    from examples.guide_flask.ecommerce_flask import create_app as create_flask_app
    from werkzeug.serving import make_server

    db_path = tmp_path / "flask-shop.db"
    create_database(db_path)
    server = make_server("127.0.0.1", 0, create_flask_app(db_path), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()


TOOLS = {
    "tools": [
        {
            "name": "f",
            "description": "A function",
            "input_schema": {"type": "object", "properties": {"x": {"type": "integer"}}, "required": ["x"]},
        }
    ]
}


class Misbehaving:
    """Function servers that fail in every way a real one can, under one Starlette app:
    ``/slow``, ``/big``, ``/html``, ``/boom``, ``/locked`` (needs a token), ``/gone`` (404 calls)."""

    TOKEN = "s3cr3t-token-1234567890"

    def __init__(self) -> None:
        from starlette.applications import Starlette
        from starlette.requests import Request
        from starlette.responses import JSONResponse, Response
        from starlette.routing import Route

        self.release = asyncio.Event()
        self.seen_headers: list[dict[str, str]] = []

        async def tools(request: Request) -> Response:
            self.seen_headers.append(dict(request.headers))
            if (
                request.path_params["kind"] == "locked"
                and request.headers.get("authorization") != f"Bearer {self.TOKEN}"
            ):
                return JSONResponse({"error": "Unauthorized"}, status_code=401)
            return JSONResponse(TOOLS)

        async def call(request: Request) -> Response:
            self.seen_headers.append(dict(request.headers))
            kind = request.path_params["kind"]
            if kind == "slow":
                try:
                    await asyncio.wait_for(self.release.wait(), 2)
                except TimeoutError:
                    pass
                return JSONResponse({"success": True, "data": "late"})
            if kind == "big":
                return JSONResponse({"success": True, "data": "x" * 2_000_000})
            if kind == "html":
                return Response("<html>Service Unavailable</html>", media_type="text/html")
            if kind == "boom":
                return JSONResponse({"success": False, "error": "Internal error (id 1234abcd)"}, status_code=500)
            if kind == "gone":
                return JSONResponse({"error": "Function not found"}, status_code=404)
            if kind == "locked" and request.headers.get("authorization") != f"Bearer {self.TOKEN}":
                return JSONResponse({"error": "Unauthorized"}, status_code=401)
            body = await request.json()
            return JSONResponse({"success": True, "data": {"x": body["arguments"]["x"]}})

        self.app = Starlette(routes=[Route("/{kind}/tools", tools), Route("/{kind}/call", call, methods=["POST"])])


@pytest.fixture
def misbehaving() -> Iterator[tuple[Misbehaving, str]]:
    servers = Misbehaving()
    with serve_app(servers.app) as url:
        yield servers, url
