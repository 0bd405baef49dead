"""The migrations build exactly the schema the models describe, on SQLite and PostgreSQL, and are
applied once."""

from __future__ import annotations

from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection

from plati.store.db import Database, downgrade_migrations, run_migrations
from plati.store.models import Base
from tests.plati.conftest import DatabaseTarget

TABLES = {
    "workspaces",
    "api_keys",
    "mcp_servers",
    "mcp_tools",
    "assistants",
    "assistant_mcps",
    "channels",
    "identities",
    "conversations",
    "turns",
    "messages",
}


def _diff(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(connection, opts={"compare_type": True, "compare_server_default": True})
    return list(compare_metadata(context, Base.metadata))


def _tables(connection: Connection) -> set[str]:
    return set(inspect(connection).get_table_names())


async def test_the_migrated_schema_matches_the_models(database: Database) -> None:
    async with database.engine.connect() as connection:
        assert await connection.run_sync(_diff) == []
        assert await connection.run_sync(_tables) >= TABLES


HEAD = "0005"


async def test_migrations_run_from_inside_a_running_loop_once(database_url: DatabaseTarget) -> None:
    await run_migrations(database_url.url, schema=database_url.schema)
    await run_migrations(database_url.url, schema=database_url.schema)
    db = Database(database_url.url, schema=database_url.schema)
    try:
        async with db.engine.connect() as connection:
            versions = (await connection.execute(text("SELECT version_num FROM alembic_version"))).scalars().all()
        assert versions == [HEAD]
    finally:
        await db.aclose()


async def test_downgrade_removes_every_table(database_url: DatabaseTarget) -> None:
    await run_migrations(database_url.url, schema=database_url.schema)
    await downgrade_migrations(database_url.url, schema=database_url.schema)
    db = Database(database_url.url, schema=database_url.schema)
    try:
        async with db.engine.connect() as connection:
            assert await connection.run_sync(_tables) == {"alembic_version"}
    finally:
        await db.aclose()
    await run_migrations(database_url.url, schema=database_url.schema)


async def test_postgres_tables_live_in_the_test_schema_only(database: Database, database_url: DatabaseTarget) -> None:
    if database_url.schema is None:
        pytest.skip("PostgreSQL only")
    async with database.engine.connect() as connection:
        rows = await connection.execute(
            text("SELECT table_schema, table_name FROM information_schema.tables WHERE table_name = ANY(:names)"),
            {"names": [*TABLES, "alembic_version"]},
        )
        assert {schema for schema, _ in rows} == {database_url.schema}
