"""Platform test fixtures: every platform test runs on a fresh SQLite file and, when
PLATI_TEST_DATABASE_URL names a PostgreSQL server, on a fresh PostgreSQL schema too."""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import pytest

from plati.store.db import Database, create_engine, run_migrations

T = TypeVar("T")

POSTGRES_URL = os.environ.get("PLATI_TEST_DATABASE_URL", "")


@dataclass(frozen=True)
class DatabaseTarget:
    """Where a test's database lives: ``url`` (async driver), ``schema`` (PostgreSQL only)."""

    url: str
    schema: str | None
    backend: str  # "sqlite" | "postgresql"


def run_sync(make: Callable[[], Awaitable[T]]) -> T:
    """Run a coroutine to completion from synchronous code, even under a running event loop."""

    async def main() -> T:
        return await make()

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, main()).result()


async def _postgres_execute(url: str, statement: str) -> None:
    from sqlalchemy import text

    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            await connection.execute(text("SET lock_timeout = '10s'"))
            await connection.execute(text(statement))
            await connection.commit()
    finally:
        await engine.dispose()


@pytest.fixture(
    params=[
        "sqlite",
        pytest.param(
            "postgresql",
            marks=pytest.mark.skipif(not POSTGRES_URL, reason="set PLATI_TEST_DATABASE_URL to test on PostgreSQL"),
        ),
    ]
)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[DatabaseTarget]:
    """A fresh, empty database: a new SQLite file, or a new PostgreSQL schema dropped afterwards."""
    if request.param == "sqlite":
        yield DatabaseTarget(f"sqlite+aiosqlite:///{tmp_path / 'plati.db'}", None, "sqlite")
        return
    from plati.settings import normalize_database_url

    url = normalize_database_url(POSTGRES_URL)
    schema = f"t_{secrets.token_hex(6)}"
    run_sync(lambda: _postgres_execute(url, f'CREATE SCHEMA "{schema}"'))
    try:
        yield DatabaseTarget(url, schema, "postgresql")
    finally:
        run_sync(lambda: _postgres_execute(url, f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))


@pytest.fixture
async def database(database_url: DatabaseTarget) -> AsyncIterator[Database]:
    """A migrated :class:`Database` on ``database_url``; closed afterwards."""
    await run_migrations(database_url.url, schema=database_url.schema)
    db = Database(database_url.url, schema=database_url.schema)
    try:
        yield db
    finally:
        await db.aclose()
