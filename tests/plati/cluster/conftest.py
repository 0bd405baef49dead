"""Real ``plati serve`` processes on one database: a fresh PostgreSQL database per test (from
PLATI_TEST_DATABASE_URL; the tests skip without it), a workspace and its key, and function servers
on loopback whose calls can be held open (a turn caught mid-call)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.engine import make_url

from plati.cli.demo import GUIDE_PROMPT
from plati_mcp import MCP
from tests.conftest import serve_app
from tests.plati.api.conftest import Tenant, _create_tenant
from tests.plati.conftest import POSTGRES_URL

requires_postgres = pytest.mark.skipif(
    not POSTGRES_URL.startswith("postgresql"),
    reason="several API processes need PostgreSQL: set PLATI_TEST_DATABASE_URL (.ci/run does)",
)
START_SECONDS = 60.0
ROOT = Path(__file__).resolve().parents[3]


async def _admin(url: str, statement: str) -> None:
    import asyncpg

    target = make_url(url).set(drivername="postgresql")
    connection = await asyncpg.connect(target.render_as_string(hide_password=False))
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


@pytest.fixture
def cluster_database() -> Iterator[str]:
    """A fresh PostgreSQL database (dropped afterwards); yields its URL."""
    name = f"plati_cluster_{secrets.token_hex(4)}"
    asyncio.run(_admin(POSTGRES_URL, f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        asyncio.run(_admin(POSTGRES_URL, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Served:
    """One ``plati serve`` process."""

    process: subprocess.Popen[bytes]
    url: str
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_ready(self) -> None:
        deadline = time.monotonic() + START_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"plati serve exited with {self.process.returncode}:\n{self.output()}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return
            time.sleep(0.1)
        raise AssertionError(f"plati serve did not start within {START_SECONDS:g} s:\n{self.output()}")

    def kill(self) -> None:
        """``kill -9``: no shutdown of any kind."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)


def start_serve(env: dict[str, str], log: Path, *args: str) -> Served:
    """Start ``plati serve`` on a free loopback port (not waiting for it)."""
    port = free_port()
    handle = log.open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "plati.cli.main", "serve", "--port", str(port), *args],
        env={**os.environ, **env},
        cwd=ROOT,
        stdout=handle,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # Ctrl-C in the terminal reaches pytest, which stops them
    )
    handle.close()
    return Served(process, f"http://127.0.0.1:{port}", log)


@dataclass
class Cluster:
    processes: list[Served]
    database_url: str
    tenant: Tenant
    env: dict[str, str]
    tmp_path: Path

    def client(self, index: int, timeout: float = 60) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.tenant.api_key}"}
        return httpx.Client(base_url=self.processes[index].url, headers=headers, timeout=timeout)

    def async_client(self, index: int, timeout: float = 60) -> httpx.AsyncClient:
        headers = {"Authorization": f"Bearer {self.tenant.api_key}"}
        return httpx.AsyncClient(base_url=self.processes[index].url, headers=headers, timeout=timeout)

    def channel(self, shop: str, *, multitask_strategy: str = "enqueue") -> str:
        """Register ``shop``, attach it to an assistant with the guide's prompt, open a channel."""
        with self.client(0) as http:
            mcp = http.post("/workspace/mcps", json={"name": "Order Management System", "url": shop})
            assert mcp.status_code == 201, mcp.text
            assistant = http.post("/assistant", json={"name": "Support", "instructions": GUIDE_PROMPT})
            assistant_id = assistant.json()["data"]["id"]
            assert http.put(f"/assistant/{assistant_id}/mcp/{mcp.json()['data']['id']}").status_code == 200
            channel = http.post(
                "/channels",
                json={"name": "web", "assistant_id": assistant_id, "multitask_strategy": multitask_strategy},
            )
            assert channel.status_code == 201, channel.text
            return str(channel.json()["data"]["id"])


@contextlib.contextmanager
def serve_cluster(tmp_path: Path, database_url: str, count: int, **env: str) -> Iterator[Cluster]:
    """``count`` processes on ``database_url``, each with its own data dir, one secret key."""
    values = {
        "PLATI_DATABASE_URL": database_url,
        "PLATI_SECRET_KEY": secrets.token_urlsafe(32),
        "PLATI_RATE_LIMIT": "off",
        **env,
    }
    processes: list[Served] = []
    try:
        for index in range(count):
            own = {**values, "PLATI_DATA_DIR": str(tmp_path / f"data{index}")}
            processes.append(start_serve(own, tmp_path / f"serve{index}.log"))
        for served in processes:
            served.wait_ready()
        tenant = asyncio.run(_create_tenant(database_url, None, "main"))
        yield Cluster(processes, database_url, tenant, values, tmp_path)
    finally:
        for served in processes:
            served.stop()


@dataclass
class HeldShop:
    """A function server whose ``check_order_status`` holds the call open for the orders in
    ``hold`` until released (or for ``hold_seconds``), and records every call it gets."""

    url: str = ""
    calls: list[str] = field(default_factory=list)
    hold: set[str] = field(default_factory=set)
    hold_seconds: float = 60.0
    started: dict[str, threading.Event] = field(default_factory=dict)

    def arrived(self, order_id: str) -> threading.Event:
        return self.started.setdefault(order_id, threading.Event())


def held_shop_server(shop: HeldShop) -> Any:
    mcp = MCP(name="Order Management")

    @mcp.function
    async def check_order_status(order_id: str) -> dict[str, Any]:
        """Check the status of a customer order."""
        shop.calls.append(order_id)
        shop.arrived(order_id).set()
        if order_id in shop.hold:
            await asyncio.sleep(shop.hold_seconds)
        return {"order_id": order_id, "status": "shipped", "tracking_number": "1Z999AA1234567890"}

    return mcp.app


@pytest.fixture
def held_shop() -> Iterator[HeldShop]:
    shop = HeldShop()
    with serve_app(held_shop_server(shop)) as url:
        shop.url = url
        yield shop
