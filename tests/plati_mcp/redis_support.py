"""Redis helpers for the store tests: a unique key prefix per test, and cleanup of its keys."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from tests.conftest import REDIS_URL, requires_redis

__all__ = ["REDIS_URL", "redis_keys", "redis_prefix", "requires_redis"]


async def redis_keys(prefix: str) -> list[str]:
    """Every key under ``prefix``."""
    client = Redis.from_url(REDIS_URL, decode_responses=True)
    try:
        return [key async for key in client.scan_iter(match=f"{prefix}*")]
    finally:
        await client.aclose()


@pytest.fixture
async def redis_prefix() -> AsyncIterator[str]:
    """A fresh key prefix; its keys are deleted after the test."""
    prefix = f"plati_test:{uuid.uuid4().hex}:"
    yield prefix
    client = Redis.from_url(REDIS_URL, decode_responses=True)
    try:
        keys = [key async for key in client.scan_iter(match=f"{prefix}*")]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()
