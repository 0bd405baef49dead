"""Redis helpers for the store tests."""

from __future__ import annotations

from redis.asyncio import Redis

from tests.conftest import REDIS_URL


async def redis_keys(prefix: str) -> list[str]:
    """Every key under ``prefix``."""
    client = Redis.from_url(REDIS_URL, decode_responses=True)
    try:
        return [key async for key in client.scan_iter(match=f"{prefix}*")]
    finally:
        await client.aclose()


async def delete_keys(prefix: str) -> None:
    """Delete every key under ``prefix``."""
    client = Redis.from_url(REDIS_URL, decode_responses=True)
    try:
        keys = [key async for key in client.scan_iter(match=f"{prefix}*")]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()
