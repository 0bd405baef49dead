"""Running turns are leased: a process starting, or checking as it runs, marks failed only the
turns whose owner stopped renewing, never those of a live process; SQLite refuses a second
serving process, and ``plati serve --workers`` needs PostgreSQL."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from plati.app import create_app
from plati.ids import new_id, utcnow
from plati.store.db import Database, run_migrations
from plati.store.models import Channel, Conversation, Identity, Turn, Workspace
from tests.plati.api.conftest import make_settings

from .conftest import ROOT, requires_postgres, start_serve


async def seed_running_turns(url: str, schema: str | None, leases: dict[str, timedelta]) -> dict[str, str]:
    """One conversation per name, each with a running turn of another process whose lease ends
    after the given time from now (negative: already over); the turn ids by name."""
    await run_migrations(url, schema=schema)
    db = Database(url, schema=schema)
    try:
        now = utcnow()
        workspace, channel = new_id("ws"), new_id("chn")
        turns: dict[str, str] = {}
        async with db.sessionmaker() as session, session.begin():
            session.add(Workspace(id=workspace, name="w", created_at=now))
            await session.flush()
            session.add(Channel(id=channel, workspace_id=workspace, name="c", created_at=now, updated_at=now))
            for name, lease in leases.items():
                identity, conversation = new_id("idn"), new_id("conv")
                session.add(Identity(id=identity, workspace_id=workspace, external_id=name, created_at=now))
                await session.flush()
                session.add(
                    Conversation(
                        id=conversation,
                        workspace_id=workspace,
                        channel_id=channel,
                        identity_id=identity,
                        created_at=now,
                        updated_at=now,
                    )
                )
                await session.flush()
                turns[name] = new_id("turn")
                session.add(
                    Turn(
                        id=turns[name],
                        conversation_id=conversation,
                        status="running",
                        usage={},
                        started_at=now,
                        owner=f"elsewhere:{name}",
                        lease_expires_at=now + lease,
                    )
                )
        return turns
    finally:
        await db.aclose()


async def statuses(url: str, schema: str | None, turn_ids: dict[str, str]) -> dict[str, str]:
    db = Database(url, schema=schema)
    try:
        async with db.sessionmaker() as session:
            return {name: (await session.get_one(Turn, turn_id)).status for name, turn_id in turn_ids.items()}
    finally:
        await db.aclose()


def test_only_turns_whose_owner_stopped_renewing_are_marked_failed(tmp_path: Path, database_url: Any) -> None:
    if database_url.backend != "postgresql":
        pytest.skip("leases matter where several processes share the database: PostgreSQL")
    turns = asyncio.run(
        seed_running_turns(
            database_url.url,
            database_url.schema,
            {"stopped": timedelta(seconds=-30), "alive": timedelta(seconds=3)},
        )
    )
    settings = make_settings(tmp_path, database_url.url, PLATI_TURN_LEASE_SECONDS="0.6")
    with TestClient(create_app(settings, database_schema=database_url.schema)):
        # Starting marks only the turn whose lease is over.
        started = asyncio.run(statuses(database_url.url, database_url.schema, turns))
        assert started == {"stopped": "failed", "alive": "running"}
        # The other owner never renews: its turn is marked once its lease runs out, not before.
        seen_running = time.monotonic()
        while asyncio.run(statuses(database_url.url, database_url.schema, turns))["alive"] == "running":
            assert time.monotonic() - seen_running < 10
            time.sleep(0.1)
        waited = time.monotonic() - seen_running
    assert 1.5 < waited < 4.5  # ~3 s of lease left, then at most one check period (0.2 s)


def test_on_sqlite_every_turn_left_running_is_marked_at_start(tmp_path: Path, database_url: Any) -> None:
    if database_url.backend != "sqlite":
        pytest.skip("SQLite only: it has one serving process")
    turns = asyncio.run(seed_running_turns(database_url.url, database_url.schema, {"old": timedelta(minutes=5)}))
    settings = make_settings(tmp_path, database_url.url)
    with TestClient(create_app(settings, database_schema=database_url.schema)):
        assert asyncio.run(statuses(database_url.url, database_url.schema, turns)) == {"old": "failed"}


def test_a_second_process_on_one_sqlite_file_is_refused(tmp_path: Path) -> None:
    env = {
        "PLATI_DATABASE_URL": f"sqlite:///{tmp_path / 'plati.db'}",
        "PLATI_DATA_DIR": str(tmp_path / "data"),
        "PLATI_SECRET_KEY": "k" * 32,
    }
    first = start_serve(env, tmp_path / "first.log")
    try:
        first.wait_ready()
        second = start_serve(env, tmp_path / "second.log")
        try:
            code = second.process.wait(60)
        finally:
            second.stop()
        assert code != 0
        output = second.output()
        assert f"Another process (pid {first.process.pid}) is serving the SQLite database plati.db" in output
        assert "use PostgreSQL" in output
        first.wait_ready()  # the first one serves on, untouched
    finally:
        first.stop()
    # Once the first has stopped, the file can be served again.
    again = start_serve(env, tmp_path / "again.log")
    try:
        again.wait_ready()
    finally:
        again.stop()


def test_several_workers_need_postgresql(tmp_path: Path) -> None:
    env = {"PLATI_DATABASE_URL": f"sqlite:///{tmp_path / 'plati.db'}", "PLATI_DATA_DIR": str(tmp_path / "data")}
    done = subprocess.run(
        [sys.executable, "-m", "plati.cli.main", "serve", "--workers", "2"],
        env={**__import__("os").environ, **env},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "several workers need PostgreSQL" in done.stderr


@requires_postgres
def test_serve_with_workers_runs_several_processes_on_postgresql(tmp_path: Path, cluster_database: str) -> None:
    env = {
        "PLATI_DATABASE_URL": cluster_database,
        "PLATI_DATA_DIR": str(tmp_path / "data"),
        "PLATI_SECRET_KEY": "k" * 32,
        "PLATI_RATE_LIMIT": "off",
    }
    served = start_serve(env, tmp_path / "workers.log", "--workers", "2")
    try:
        served.wait_ready()
        deadline = time.monotonic() + 30
        while served.output().count("Application startup complete") < 2:
            assert time.monotonic() < deadline, served.output()
            time.sleep(0.1)
        children = subprocess.run(
            ["pgrep", "-P", str(served.process.pid)], capture_output=True, text=True, check=False
        ).stdout.split()
        assert len(children) >= 2
    finally:
        served.stop()
