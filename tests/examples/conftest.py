"""Fixtures shared by the example tests: a fresh shop database per test."""

from __future__ import annotations

from pathlib import Path

import pytest
from examples.ecommerce.db import create_database


@pytest.fixture
def shop_db(tmp_path: Path) -> Path:
    """A new SQLite file with the shop's schema and sample data."""
    path = tmp_path / "orders.db"
    create_database(path)
    return path
