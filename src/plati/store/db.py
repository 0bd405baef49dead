"""The database: an async engine and session factory from a URL, and the schema migrations.

Transactions are composed by the caller::

    async with db.session() as session, session.begin():
        ...

Helpers take a session and never commit.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import event
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry

from ..settings import normalize_database_url

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"
_SCHEMA_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")


def _check_schema(schema: str | None) -> str | None:
    if schema is not None and not _SCHEMA_RE.fullmatch(schema):
        raise ValueError(f"invalid schema name {schema!r}: use letters, digits and underscores")
    return schema


def create_engine(
    url: str,
    *,
    echo: bool = False,
    schema: str | None = None,
    sqlite_synchronous: str = "normal",
    **kwargs: Any,
) -> AsyncEngine:
    """An async engine for ``url`` (normalised to the async driver) with Plati's connection setup.

    SQLite: foreign keys are enforced (``PRAGMA foreign_keys=ON`` on every connection), the file
    uses WAL so readers do not block the writer, and ``sqlite_synchronous`` (``normal`` or
    ``full``) is the connections' ``PRAGMA synchronous``: with WAL, ``normal`` loses nothing
    when the process crashes and may lose the last commits to an OS crash or power cut; ``full``
    survives those too at an fsync per commit. PostgreSQL: ``schema`` becomes the connection's
    ``search_path``, so every table (and Alembic's version table) lives there.
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
        synchronous = sqlite_pragma_synchronous(sqlite_synchronous)

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_on_connect(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
            cursor = dbapi_connection.cursor()
            try:
                cursor.execute("PRAGMA foreign_keys=ON")
                if not in_memory:
                    cursor.execute("PRAGMA journal_mode=WAL")
                    cursor.execute(f"PRAGMA synchronous={synchronous}")
            finally:
                cursor.close()

    return engine


# Tables whose rows make up a channel's configuration (its assistant, functions and servers,
# the workspace's settings): a committed write to one of them moves ``config_generation``.
CONFIG_TABLES = frozenset({"workspaces", "assistants", "assistant_mcps", "channels", "mcp_servers", "mcp_tools"})
_WRITTEN = "plati_config_written"
_COMMITTED = "plati_config_committed"


class Database:
    """An async engine and session factory; create one per process and close it with :meth:`aclose`.

    ``config_generation`` counts committed writes to :data:`CONFIG_TABLES` made through this
    engine, so in-process caches of configuration know when to reload. It moves when the
    connection that committed goes back to the pool, which is after the commit and before the
    request that made it answers: a cache entry loaded before it moved is never used after.
    """

    def __init__(
        self, url: str, *, echo: bool = False, schema: str | None = None, sqlite_synchronous: str = "normal"
    ) -> None:
        self.url = normalize_database_url(url)
        self.schema = schema
        self.sqlite_synchronous = sqlite_synchronous
        self.engine: AsyncEngine = create_engine(
            self.url, echo=echo, schema=schema, sqlite_synchronous=sqlite_synchronous
        )
        self.sessionmaker: async_sessionmaker[AsyncSession] = async_sessionmaker(self.engine, expire_on_commit=False)
        self.config_generation = 0
        # Called (on the event loop) after a configuration write through this engine: the
        # platform announces it to the other processes (plati.cluster.bus).
        self.on_config_written: Callable[[], None] | None = None
        self._watch_config_writes()

    def config_changed_elsewhere(self) -> None:
        """Another process wrote the configuration: every cached configuration is stale."""
        self.config_generation += 1

    def _watch_config_writes(self) -> None:
        engine = self.engine.sync_engine

        @event.listens_for(engine, "after_cursor_execute")
        def _executed(conn: Connection, _cursor: Any, statement: str, _params: Any, context: Any, _many: bool) -> None:
            if _writes_config(statement, context):
                conn.info[_WRITTEN] = True

        @event.listens_for(engine, "commit")
        def _commit(conn: Connection) -> None:
            if conn.info.pop(_WRITTEN, False):
                conn.info[_COMMITTED] = True

        @event.listens_for(engine, "rollback")
        def _rollback(conn: Connection) -> None:
            conn.info.pop(_WRITTEN, None)

        @event.listens_for(engine, "checkin")
        def _checkin(_dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
            # A write never committed nor rolled back through the Connection (the pool's reset
            # rolls it back) counts too: a spare reload costs less than a stale configuration.
            committed = record.info.pop(_COMMITTED, False)
            written = record.info.pop(_WRITTEN, False)
            if committed or written:
                self.config_generation += 1
                if self.on_config_written is not None:
                    self.on_config_written()

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


def sqlite_pragma_synchronous(mode: str) -> str:
    """The ``PRAGMA synchronous`` value for a ``sqlite_synchronous`` setting.

    Raises:
        ValueError: not ``normal`` or ``full``.
    """
    if mode.lower() not in ("normal", "full"):
        raise ValueError(f"sqlite_synchronous must be normal or full, not {mode!r}")
    return mode.upper()


def _writes_config(statement: str, context: Any) -> bool:
    """Whether an executed statement may have changed a configuration table (when unsure: yes)."""
    compiled = getattr(context, "compiled", None)
    table = getattr(getattr(compiled, "statement", None), "table", None)
    if table is not None and (context.isinsert or context.isupdate or context.isdelete):
        return table.name in CONFIG_TABLES
    return statement.lstrip()[:6].upper() in ("INSERT", "UPDATE", "DELETE", "REPLAC")


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


__all__ = [
    "CONFIG_TABLES",
    "MIGRATIONS_DIR",
    "Database",
    "alembic_config",
    "create_engine",
    "downgrade_migrations",
    "run_migrations",
]
