"""The CLI driven for real: ``plati`` runs in process through Typer's ``CliRunner`` against the
platform served by uvicorn on a loopback port (``--url``), with a fresh SQLite data dir, and the
SDK's e-commerce example as the function server to register."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from examples.ecommerce.db import create_database
from examples.ecommerce.server import create_server

from plati.admin import create_workspace
from plati.app import create_app
from plati.settings import Settings
from tests.conftest import serve_app
from tests.plati.cli.support import CliPlatform


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No PLATI_* variable of the developer's shell (or colour/width setting) reaches the CLI."""
    for name in list(os.environ):
        if name.startswith("PLATI_") or name in ("COLUMNS", "FORCE_COLOR", "NO_COLOR"):
            monkeypatch.delenv(name)


@pytest.fixture
def platform(tmp_path: Path) -> Iterator[CliPlatform]:
    data_dir = tmp_path / "data"
    settings = Settings.load(env={"PLATI_DATA_DIR": str(data_dir)})
    with serve_app(create_app(settings)) as url:
        workspace_id, api_key = asyncio.run(create_workspace(settings, "main"))
        yield CliPlatform(url, data_dir, workspace_id, api_key)


@pytest.fixture
def shop(tmp_path: Path) -> Iterator[str]:
    """The SDK's e-commerce example server on loopback; yields its base URL."""
    db_path = tmp_path / "shop.db"
    create_database(db_path)
    with serve_app(create_server(db_path).app) as url:
        yield url
