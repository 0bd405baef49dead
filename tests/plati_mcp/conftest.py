"""Fixtures for the SDK tests."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest

from tests.conftest import redis_available
from tests.plati_mcp.redis_support import delete_keys


@pytest.fixture
async def redis_prefix() -> AsyncIterator[str]:
    """A fresh Redis key prefix; its keys are deleted after the test (when Redis is up)."""
    prefix = f"plati_test:{uuid.uuid4().hex}:"
    yield prefix
    if redis_available():
        await delete_keys(prefix)
