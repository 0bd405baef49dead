"""Process-level options of the app factory."""

from __future__ import annotations

import gc
from pathlib import Path
from typing import Any

from starlette.testclient import TestClient

from plati.app import create_app

from .conftest import make_settings


def test_freeze_gc_puts_what_exists_after_startup_out_of_the_collectors_reach(
    tmp_path: Path, database_url: Any
) -> None:
    settings = make_settings(tmp_path, database_url.url)
    gc.unfreeze()
    try:
        with TestClient(create_app(settings, database_schema=database_url.schema)) as client:
            assert client.get("/health").status_code == 200
            assert gc.get_freeze_count() == 0  # the default: tests and embedders keep their GC
        with TestClient(create_app(settings, database_schema=database_url.schema, freeze_gc=True)) as client:
            assert client.get("/health").status_code == 200
            assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
