"""The per-workspace turn cap counted in Redis: every API process shares it, and the slots of a
process that stopped free themselves."""

from __future__ import annotations

import asyncio
import secrets

import pytest

from plati.errors import ServiceUnavailable, TooManyRequests
from plati.security.limits import SharedTurnSlots, TurnSlots, turn_slots
from plati.settings import Settings
from tests.conftest import requires_redis

REDIS = "redis://127.0.0.1:6379/0"


@requires_redis
async def test_two_processes_share_one_cap_per_workspace() -> None:
    prefix = f"test-{secrets.token_hex(4)}"
    first, second = SharedTurnSlots(2, REDIS, prefix=prefix), SharedTurnSlots(2, REDIS, prefix=prefix)
    try:
        a = await first.acquire("ws_1")
        await second.acquire("ws_1")
        with pytest.raises(TooManyRequests) as refused:
            await first.acquire("ws_1")
        assert refused.value.code == "too_many_turns" and refused.value.retry_after == 1
        await second.acquire("ws_2")  # another workspace is unaffected
        first.release("ws_1", a)
        await asyncio.sleep(0.05)  # the release is sent in the background
        await second.acquire("ws_1")
    finally:
        await first.aclose()
        await second.aclose()


async def test_an_unreachable_redis_refuses_turns_with_503() -> None:
    slots = SharedTurnSlots(2, "redis://127.0.0.1:9/0")
    try:
        with pytest.raises(ServiceUnavailable) as refused:
            await slots.acquire("ws")
        assert refused.value.code == "turn_limit_unavailable"
    finally:
        await slots.aclose()


def test_the_cap_is_shared_only_with_a_redis_url(tmp_path: object) -> None:
    local = Settings.load(env={"PLATI_DATA_DIR": str(tmp_path), "PLATI_SECRET_KEY": "k" * 32})
    shared = Settings.load(
        env={"PLATI_DATA_DIR": str(tmp_path), "PLATI_SECRET_KEY": "k" * 32, "PLATI_REDIS_URL": REDIS}
    )
    assert isinstance(turn_slots(local), TurnSlots)
    assert isinstance(turn_slots(shared), SharedTurnSlots)


@requires_redis
async def test_the_slots_of_a_process_that_stopped_expire_while_live_ones_are_renewed() -> None:
    prefix = f"test-{secrets.token_hex(4)}"
    live, stopped = SharedTurnSlots(2, REDIS, prefix=prefix, ttl_seconds=0.6), SharedTurnSlots(
        2, REDIS, prefix=prefix, ttl_seconds=0.6
    )
    other = SharedTurnSlots(2, REDIS, prefix=prefix, ttl_seconds=0.6)
    try:
        await live.acquire("ws")
        await stopped.acquire("ws")
        await stopped.aclose()  # stops renewing without giving its slot back, as a killed process
        with pytest.raises(TooManyRequests):
            await other.acquire("ws")
        await asyncio.sleep(1.5)  # past the stopped slot's expiry; the live one was renewed meanwhile
        await other.acquire("ws")
        with pytest.raises(TooManyRequests):
            await other.acquire("ws")
    finally:
        await live.aclose()
        await other.aclose()
