"""Per-conversation state: change tracking, per-key saves, expiry and eviction, memory and Redis."""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from plati_mcp._redis import redact_url
from plati_mcp.state import (
    MemoryStateStore,
    RedisStateStore,
    State,
    StateStore,
    StateStoreUnavailable,
    load_state,
    save_state,
    state_store_from_url,
)
from tests.conftest import REDIS_URL, requires_redis


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(params=["memory", pytest.param("redis", marks=requires_redis)])
async def store(request: pytest.FixtureRequest, redis_prefix: str) -> AsyncIterator[StateStore]:
    if request.param == "memory":
        memory = MemoryStateStore()
        yield memory
        await memory.aclose()
    else:
        redis = RedisStateStore(REDIS_URL, key_prefix=redis_prefix)
        yield redis
        await redis.aclose()


def test_a_new_state_has_nothing_to_save() -> None:
    state = State({"a": 1}, scope="conv")
    assert dict(state) == {"a": 1}
    assert state.scope == "conv"
    assert not state.dirty
    assert state.changed == {}
    assert state.deleted == set()


def test_setting_and_deleting_keys_is_tracked() -> None:
    state = State({"a": 1, "b": 2})
    state["c"] = [1, 2]
    del state["a"]
    assert state.changed == {"c": [1, 2]}
    assert state.deleted == {"a"}
    assert state.dirty


def test_setting_a_deleted_key_again_undoes_the_deletion() -> None:
    state = State({"a": 1})
    del state["a"]
    state["a"] = 2
    assert state.changed == {"a": 2}
    assert state.deleted == set()


def test_values_changed_in_place_are_found() -> None:
    state = State({"cart": ["apple"]})
    state["cart"].append("pear")
    assert state.changed == {"cart": ["apple", "pear"]}


def test_mark_saved_forgets_the_changes() -> None:
    state = State({"a": 1})
    state["b"] = 2
    del state["a"]
    state.mark_saved()
    assert not state.dirty


@pytest.mark.parametrize("value", [object(), {1, 2}, b"bytes", float("nan"), {"nested": object()}])
def test_values_that_are_not_json_are_refused(value: object) -> None:
    state = State()
    with pytest.raises(TypeError) as exc_info:
        state["bad"] = value
    assert "'bad'" in str(exc_info.value)
    assert "bad" not in state
    assert not state.dirty


def test_keys_that_are_not_strings_are_refused() -> None:
    state = State()
    with pytest.raises(TypeError):
        state[1] = "x"  # type: ignore[index]


async def test_saved_keys_come_back_on_load(store: StateStore) -> None:
    await store.save("conv", {"last_query": "orders", "orders": ["A", "B"], "n": 3, "none": None}, ())
    assert await store.load("conv") == {"last_query": "orders", "orders": ["A", "B"], "n": 3, "none": None}
    assert await store.load("other") == {}


async def test_save_leaves_keys_it_does_not_mention_untouched(store: StateStore) -> None:
    await store.save("conv", {"a": 1, "b": 2, "c": 3}, ())
    await store.save("conv", {"b": 20}, ["c"])
    assert await store.load("conv") == {"a": 1, "b": 20}


async def test_a_key_both_changed_and_deleted_is_set(store: StateStore) -> None:
    await store.save("conv", {"a": 1}, ["a"])
    assert await store.load("conv") == {"a": 1}


async def test_concurrent_calls_writing_different_keys_keep_both(store: StateStore) -> None:
    await store.save("conv", {"shared": 0}, ())
    first = await load_state(store, "conv")
    second = await load_state(store, "conv")
    first["from_first"] = 1
    second["from_second"] = 2
    del second["shared"]
    await asyncio.gather(save_state(store, first), save_state(store, second))
    assert await store.load("conv") == {"from_first": 1, "from_second": 2}


async def test_loaded_values_do_not_share_objects_with_the_store(store: StateStore) -> None:
    await store.save("conv", {"items": [1]}, ())
    loaded = await store.load("conv")
    loaded["items"].append(2)
    assert await store.load("conv") == {"items": [1]}


async def test_clear_forgets_a_scope(store: StateStore) -> None:
    await store.save("conv", {"a": 1}, ())
    await store.save("other", {"a": 2}, ())
    await store.clear("conv")
    assert await store.load("conv") == {}
    assert await store.load("other") == {"a": 2}


async def test_save_refuses_values_that_are_not_json(store: StateStore) -> None:
    with pytest.raises(TypeError):
        await store.save("conv", {"bad": object()}, ())
    assert await store.load("conv") == {}


async def test_state_without_a_scope_is_not_saved(store: StateStore) -> None:
    state = await load_state(store, None)
    state["a"] = 1
    await save_state(store, state)
    assert state.dirty  # nothing was written, so the changes are still pending


async def test_save_state_writes_only_the_changes_and_marks_them_saved(store: StateStore) -> None:
    await store.save("conv", {"a": 1, "b": 2}, ())
    state = await load_state(store, "conv")
    state["b"] = 3
    await store.save("conv", {"a": 100}, ())  # another call changes "a" meanwhile
    await save_state(store, state)
    assert not state.dirty
    assert await store.load("conv") == {"a": 100, "b": 3}


async def test_memory_state_expires_ttl_after_the_last_save() -> None:
    clock = FakeClock()
    store = MemoryStateStore(ttl_seconds=10, clock=clock)
    await store.save("conv", {"a": 1}, ())
    clock.now += 9
    await store.save("conv", {"b": 2}, ())
    clock.now += 9
    assert await store.load("conv") == {"a": 1, "b": 2}
    clock.now += 1
    assert await store.load("conv") == {}


async def test_memory_state_without_ttl_never_expires() -> None:
    clock = FakeClock()
    store = MemoryStateStore(ttl_seconds=None, clock=clock)
    await store.save("conv", {"a": 1}, ())
    clock.now = math.inf
    assert await store.load("conv") == {"a": 1}


async def test_memory_store_evicts_the_least_recently_used_scope() -> None:
    store = MemoryStateStore(max_scopes=2)
    await store.save("a", {"v": 1}, ())
    await store.save("b", {"v": 2}, ())
    await store.load("a")
    await store.save("c", {"v": 3}, ())
    assert await store.load("a") == {"v": 1}
    assert await store.load("b") == {}
    assert await store.load("c") == {"v": 3}


@pytest.mark.parametrize("options", [{"ttl_seconds": 0}, {"max_scopes": 0}])
def test_memory_store_refuses_bad_bounds(options: dict[str, int]) -> None:
    with pytest.raises(ValueError, match=r"ttl_seconds|max_scopes"):
        MemoryStateStore(**options)  # type: ignore[arg-type]


@requires_redis
async def test_redis_state_is_one_hash_per_scope_with_a_refreshed_expiry(redis_prefix: str) -> None:
    store = RedisStateStore(REDIS_URL, ttl_seconds=100, key_prefix=redis_prefix)
    client = Redis.from_url(REDIS_URL, decode_responses=True)
    try:
        await store.save("conv", {"a": {"x": [1, "two"]}}, ())
        key = f"{redis_prefix}conv"
        assert await client.hgetall(key) == {"a": '{"x":[1,"two"]}'}
        await client.expire(key, 5)
        await store.save("conv", {"b": True}, ())
        assert 5 < await client.ttl(key) <= 100
    finally:
        await client.aclose()
        await store.aclose()


@requires_redis
async def test_redis_values_that_are_not_json_are_skipped_on_load(redis_prefix: str) -> None:
    store = RedisStateStore(REDIS_URL, key_prefix=redis_prefix)
    client = Redis.from_url(REDIS_URL, decode_responses=True)
    try:
        await client.hset(f"{redis_prefix}conv", mapping={"good": "1", "bad": "not json"})
        assert await store.load("conv") == {"good": 1}
    finally:
        await client.aclose()
        await store.aclose()


async def test_unreachable_redis_raises_state_store_unavailable_without_the_password() -> None:
    store = RedisStateStore("redis://:hunter2@127.0.0.1:1/0")
    try:
        with pytest.raises(StateStoreUnavailable) as exc_info:
            await store.load("conv")
        assert "127.0.0.1:1" in str(exc_info.value)
        assert "hunter2" not in str(exc_info.value)
        with pytest.raises(StateStoreUnavailable):
            await store.save("conv", {"a": 1}, ())
    finally:
        await store.aclose()


def test_store_from_url_picks_the_store_by_scheme() -> None:
    assert isinstance(state_store_from_url(None), MemoryStateStore)
    assert isinstance(state_store_from_url("memory://"), MemoryStateStore)
    assert isinstance(state_store_from_url("redis://localhost:6379/0", ttl_seconds=5), RedisStateStore)
    assert isinstance(state_store_from_url("rediss://localhost:6380/0"), RedisStateStore)


def test_store_from_url_refuses_other_schemes() -> None:
    with pytest.raises(ValueError, match="postgres"):
        state_store_from_url("postgres://user:secret@localhost/db")


def test_both_stores_satisfy_the_protocol() -> None:
    assert isinstance(MemoryStateStore(), StateStore)
    assert isinstance(RedisStateStore(REDIS_URL), StateStore)


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://:hunter2@localhost:6379/0", "redis://:***@localhost:6379/0"),
        ("redis://user:hunter2@localhost/0", "redis://user:***@localhost/0"),
        ("redis://hunter2@localhost", "redis://***@localhost"),
        ("redis://localhost:6379/0?password=hunter2", "redis://localhost:6379/0?***"),
        ("redis://localhost:6379/0", "redis://localhost:6379/0"),
        ("redis://[::1", "<unparsable URL>"),
    ],
)
def test_urls_in_messages_never_show_the_password(url: str, shown: str) -> None:
    assert redact_url(url) == shown
