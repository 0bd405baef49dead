"""Helpers for the example tests."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any


def query(db_path: Path, sql: str, *params: Any) -> list[dict[str, Any]]:
    """Rows of a read-only query, as dicts (to check what a function stored)."""
    conn = sqlite3.connect(db_path)
    conn.row_factory = sqlite3.Row
    try:
        return [dict(row) for row in conn.execute(sql, params)]
    finally:
        conn.close()
