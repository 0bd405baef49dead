"""Alembic environment: configured in code by ``plati.store.db.alembic_config`` (no alembic.ini)."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.pool import NullPool

from plati.store.db import create_engine
from plati.store.models import Base

config = context.config
url: str = config.attributes.get("url") or config.get_main_option("sqlalchemy.url") or ""
schema: str | None = config.attributes.get("schema")
target_metadata = Base.metadata

# Serialises concurrent upgrades (several workers starting at once) on PostgreSQL.
_PG_LOCK_ID = 0x706C617469  # "plati"


def _configure(connection: Connection | None = None) -> None:
    is_sqlite = url.startswith("sqlite")
    context.configure(
        connection=connection,
        url=None if connection is not None else url,
        target_metadata=target_metadata,
        version_table_schema=None if is_sqlite else schema,
        render_as_batch=is_sqlite,  # SQLite alters tables by copying them
        compare_type=True,
        literal_binds=connection is None,
    )


def _run_sync(connection: Connection) -> None:
    _configure(connection)
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _PG_LOCK_ID})
        context.run_migrations()


async def _run_online() -> None:
    engine = create_engine(url, schema=schema, poolclass=NullPool)
    try:
        async with engine.connect() as connection:
            if schema is not None and connection.dialect.name == "postgresql":
                await connection.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
                await connection.commit()
            await connection.run_sync(_run_sync)
    finally:
        await engine.dispose()


if context.is_offline_mode():
    _configure()
    with context.begin_transaction():
        context.run_migrations()
else:
    asyncio.run(_run_online())
