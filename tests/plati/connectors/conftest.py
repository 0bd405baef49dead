"""Real function servers on loopback for the connector tests: the guide's Flask server (werkzeug),
the SDK's servers (uvicorn), the official ``mcp`` MCPServer, stub servers that misbehave on
purpose, and the npm ``server-everything`` peer."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, MutableMapping
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from examples.ecommerce.db import create_database
from examples.ecommerce.server import create_server
from examples.guide_flask.ecommerce_flask import create_app as create_flask_app
from werkzeug.serving import make_server

from plati.connectors import Connector, ConnectorConfig, open_connector
from plati_mcp import MCP, Context
from tests.conftest import serve_app

REPO = Path(__file__).resolve().parents[3]
PEERS = REPO / "tests" / "peers"
EVERYTHING = PEERS / "node_modules" / "@modelcontextprotocol" / "server-everything" / "dist" / "index.js"

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


@pytest.fixture
def shop_db(tmp_path: Path) -> Path:
    path = tmp_path / "orders.db"
    create_database(path)
    return path


@contextmanager
def serve_wsgi(app: Any) -> Iterator[str]:
    """Serve a WSGI app (Flask) with werkzeug on a free loopback port in a thread."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), name="werkzeug", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()


@pytest.fixture
def flask_url(shop_db: Path) -> Iterator[str]:
    """The guide's hand-written Flask e-commerce server."""
    with serve_wsgi(create_flask_app(shop_db)) as url:
        yield url


@pytest.fixture
def shop_url(shop_db: Path) -> Iterator[str]:
    """The SDK's e-commerce example server (simple protocol at base, MCP at base/mcp)."""
    with serve_app(create_server(shop_db).app) as url:
        yield url


def context_server(**options: Any) -> MCP:
    """An SDK server whose functions report what the caller sent, and misbehave on request."""
    mcp = MCP(name="Context", version="3.1.0", **options)
    release = threading.Event()
    mcp.release = release  # type: ignore[attr-defined]

    @mcp.function
    def whoami(ctx: Context) -> dict[str, Any]:
        """Report the caller metadata the function sees."""
        return {
            "workspace": ctx.workspace_id,
            "assistant": ctx.assistant_id,
            "conversation": ctx.conversation_id,
            "identity": ctx.identity_id,
            "request": ctx.request_id,
            "idempotency_key": ctx.idempotency_key,
        }

    @mcp.function
    def big(size: int) -> str:
        """Return a string of ``size`` characters."""
        return "x" * size

    @mcp.function
    async def wait_for_release() -> str:
        """Block until the test releases it (at most 10 s)."""
        await asyncio.get_running_loop().run_in_executor(None, release.wait, 10)
        return "released"

    return mcp


@dataclass
class Recorded:
    """One request a :class:`Recorder` saw."""

    method: str
    path: str
    headers: dict[str, str]
    client: tuple[str, int] | None
    rpc_method: str | None = None


@dataclass
class Recorder:
    """ASGI middleware that records every request (headers, client address, JSON-RPC method)."""

    app: ASGIApp
    requests: list[Recorded] = field(default_factory=list)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {key.decode("latin-1").lower(): value.decode("latin-1") for key, value in scope["headers"]}
        client = (scope["client"][0], scope["client"][1]) if scope.get("client") else None
        entry = Recorded(scope["method"], scope["path"], headers, client)
        self.requests.append(entry)
        body = b""
        messages: list[MutableMapping[str, Any]] = []
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        try:
            parsed = json.loads(body) if body else None
        except ValueError:
            parsed = None
        if isinstance(parsed, dict):
            entry.rpc_method = parsed.get("method")

        async def replay() -> MutableMapping[str, Any]:
            if messages:
                return messages.pop(0)
            return await receive()

        await self.app(scope, replay, send)

    def rpc_methods(self) -> list[str]:
        return [r.rpc_method for r in self.requests if r.rpc_method]


@pytest.fixture
def context_mcp() -> Iterator[MCP]:
    mcp = context_server()
    yield mcp
    mcp.release.set()  # type: ignore[attr-defined]


@pytest.fixture
def recorder(context_mcp: MCP) -> Recorder:
    return Recorder(context_mcp.app)


@pytest.fixture
def context_url(recorder: Recorder) -> Iterator[str]:
    """The context server behind a recorder (``recorder.requests``)."""
    with serve_app(recorder) as url:
        yield url


@asynccontextmanager
async def connected(config: ConnectorConfig) -> AsyncIterator[Connector]:
    """``open_connector(config)``, closed on exit."""
    connector = await open_connector(config)
    try:
        yield connector
    finally:
        await connector.aclose()


@dataclass
class Stub:
    """A server that answers every request with one canned reply, or holds it until released.

    ``chunks`` > 1 streams the body that many times over (no Content-Length), for size caps.
    """

    status: int = 200
    body: bytes = b'{"tools": []}'
    content_type: str = "application/json"
    chunks: int = 1
    hold: threading.Event | None = None
    headers_seen: list[dict[str, str]] = field(default_factory=list)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        self.headers_seen.append({k.decode().lower(): v.decode() for k, v in scope["headers"]})
        while (await receive()).get("more_body"):
            pass
        if self.hold is not None:
            await asyncio.get_running_loop().run_in_executor(None, self.hold.wait, 10)
        headers = [(b"content-type", self.content_type.encode())]
        if self.chunks == 1:
            headers.append((b"content-length", str(len(self.body)).encode()))
        await send({"type": "http.response.start", "status": self.status, "headers": headers})
        for index in range(self.chunks):
            await send({"type": "http.response.body", "body": self.body, "more_body": index < self.chunks - 1})


@contextmanager
def serve_stub(stub: Stub) -> Iterator[str]:
    with serve_app(stub) as url:
        try:
            yield url
        finally:
            if stub.hold is not None:
                stub.hold.set()  # before the server stops: it waits for the held request


def closed_port_url() -> str:
    """A loopback URL nothing listens on."""
    return f"http://127.0.0.1:{free_port()}"


# -- the npm peer: @modelcontextprotocol/server-everything ------------------------------------


@pytest.fixture(scope="session")
def everything_js() -> Path:
    """The entry point of the npm ``server-everything`` peer; skips when it cannot run here."""
    if shutil.which("node") is None:
        pytest.skip("node is not installed, so the npm MCP peer (server-everything) cannot run")
    if not EVERYTHING.exists():
        pytest.skip("tests/peers/node_modules is missing: run `npm ci` in tests/peers (scripts/peers.py does)")
    return EVERYTHING


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@contextmanager
def run_everything_http(everything_js: Path, port: int) -> Iterator[str]:
    """server-everything serving Streamable HTTP on ``port``; yields its /mcp URL."""
    process = subprocess.Popen(
        ["node", str(everything_js), "streamableHttp"],
        env={"PATH": os.environ.get("PATH", ""), "PORT": str(port)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            if process.poll() is not None:
                raise AssertionError(f"server-everything exited with {process.returncode}")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise AssertionError("server-everything did not listen within 20 s") from None
                time.sleep(0.05)  # polling for the port to open, not timing a behaviour
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@pytest.fixture
def everything_http(everything_js: Path) -> Iterator[str]:
    """server-everything serving Streamable HTTP on a free port; yields its /mcp URL."""
    with run_everything_http(everything_js, free_port()) as url:
        yield url
