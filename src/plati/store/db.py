"""The database: an async engine and session factory from a URL, and the schema migrations.

Transactions are composed by the caller::

    async with db.session() as session, session.begin():
        ...

Helpers take a session and never commit.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry

from ..settings import normalize_database_url

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"
_SCHEMA_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")


def _check_schema(schema: str | None) -> str | None:
    if schema is not None and not _SCHEMA_RE.fullmatch(schema):
        raise ValueError(f"invalid schema name {schema!r}: use letters, digits and underscores")
    return schema


def create_engine(url: str, *, echo: bool = False, schema: str | None = None, **kwargs: Any) -> AsyncEngine:
    """An async engine for ``url`` (normalised to the async driver) with Plati's connection setup.

    SQLite: foreign keys are enforced (``PRAGMA foreign_keys=ON`` on every connection) and the
    file uses WAL so readers do not block the writer. PostgreSQL: ``schema`` becomes the
    connection's ``search_path``, so every table (and Alembic's version table) lives there.
    """
    url = normalize_database_url(url)
    schema = _check_schema(schema)
    backend = make_url(url).get_backend_name()
    connect_args: dict[str, Any] = dict(kwargs.pop("connect_args", {}))
    if backend == "postgresql" and schema is not None:
        server_settings = dict(connect_args.get("server_settings", {}))
        server_settings["search_path"] = schema
        connect_args["server_settings"] = server_settings
    engine = create_async_engine(url, echo=echo, connect_args=connect_args, **kwargs)
    if backend == "sqlite":
        in_memory = make_url(url).database in (None, "", ":memory:")

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_on_connect(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
            cursor = dbapi_connection.cursor()
            try:
                cursor.execute("PRAGMA foreign_keys=ON")
                if not in_memory:
                    cursor.execute("PRAGMA journal_mode=WAL")
            finally:
                cursor.close()

    return engine


class Database:
    """An async engine and session factory; create one per process and close it with :meth:`aclose`."""

    def __init__(self, url: str, *, echo: bool = False, schema: str | None = None) -> None:
        self.url = normalize_database_url(url)
        self.schema = schema
        self.engine: AsyncEngine = create_engine(self.url, echo=echo, schema=schema)
        self.sessionmaker: async_sessionmaker[AsyncSession] = async_sessionmaker(self.engine, expire_on_commit=False)

    @property
    def dialect(self) -> str:
        """``"sqlite"`` or ``"postgresql"``."""
        return self.engine.dialect.name

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A new session; the caller opens the transaction (``async with session.begin()``)."""
        async with self.sessionmaker() as session:
            yield session

    async def aclose(self) -> None:
        """Close every pooled connection."""
        await self.engine.dispose()


def alembic_config(url: str, *, schema: str | None = None) -> Config:
    """An Alembic configuration for ``url`` built in code (no alembic.ini needed)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR).replace("%", "%%"))
    config.attributes["url"] = normalize_database_url(url)
    config.attributes["schema"] = _check_schema(schema)
    return config


async def run_migrations(url: str, *, schema: str | None = None, revision: str = "head") -> None:
    """Apply the migrations up to ``revision`` (default: the newest), each once.

    Runs Alembic in a worker thread (it drives its own event loop there), so it can be awaited
    from inside a running event loop. With ``schema`` (PostgreSQL), the schema is created if
    missing and holds the tables and the version table.
    """
    config = alembic_config(url, schema=schema)
    await asyncio.to_thread(command.upgrade, config, revision)


async def downgrade_migrations(url: str, *, schema: str | None = None, revision: str = "base") -> None:
    """Revert the migrations down to ``revision`` (default: an empty database)."""
    config = alembic_config(url, schema=schema)
    await asyncio.to_thread(command.downgrade, config, revision)


__all__ = ["MIGRATIONS_DIR", "Database", "alembic_config", "create_engine", "downgrade_migrations", "run_migrations"]
