"""Per-credential rate limits: parsing, refusal with retry_after, isolation, hashing; memory and Redis."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest

from plati_mcp.ratelimit import RateLimitDecision, RateLimiter, RateLimitUnavailable, hash_credential
from tests.conftest import REDIS_URL, requires_redis
from tests.plati_mcp.redis_support import redis_keys

MakeLimiter = Callable[[str], RateLimiter]


@pytest.fixture(params=["memory", pytest.param("redis", marks=requires_redis)])
async def make_limiter(request: pytest.FixtureRequest, redis_prefix: str) -> AsyncIterator[MakeLimiter]:
    made: list[RateLimiter] = []

    def make(limit: str) -> RateLimiter:
        storage_url = None if request.param == "memory" else REDIS_URL
        limiter = RateLimiter(limit, storage_url=storage_url, key_prefix=redis_prefix.rstrip(":"))
        made.append(limiter)
        return limiter

    yield make
    for limiter in made:
        await limiter.aclose()


@pytest.mark.parametrize(
    ("limit", "described"),
    [
        ("100 per minute", "100 per 1 minute"),
        ("100/minute", "100 per 1 minute"),
        ("5/10 seconds", "5 per 10 second"),
        ("10/second; 1000/day", "10 per 1 second; 1000 per 1 day"),
    ],
)
def test_limits_are_parsed_in_the_guides_forms(limit: str, described: str) -> None:
    assert RateLimiter(limit).describe() == described


@pytest.mark.parametrize("limit", ["", "   ", "lots", "100 per fortnight", "per minute", "0/minute", "100/minute;"])
def test_unparsable_limits_are_refused_at_construction(limit: str) -> None:
    with pytest.raises(ValueError, match="100/minute") as exc_info:
        RateLimiter(limit)
    assert repr(limit) in str(exc_info.value)


def test_unsupported_storage_schemes_are_refused() -> None:
    with pytest.raises(ValueError, match="memcached"):
        RateLimiter("1/minute", storage_url="memcached://localhost:11211")


async def test_calls_beyond_the_limit_are_refused_with_retry_after(make_limiter: MakeLimiter) -> None:
    limiter = make_limiter("3/minute")
    decisions = [await limiter.hit("token-a") for _ in range(3)]
    assert decisions == [
        RateLimitDecision(allowed=True, limit=3, remaining=2, retry_after=0),
        RateLimitDecision(allowed=True, limit=3, remaining=1, retry_after=0),
        RateLimitDecision(allowed=True, limit=3, remaining=0, retry_after=0),
    ]
    refused = await limiter.hit("token-a")
    assert not refused.allowed
    assert refused.limit == 3
    assert refused.remaining == 0
    assert 1 <= refused.retry_after <= 60


async def test_test_says_whether_a_call_would_be_allowed_without_counting_it(make_limiter: MakeLimiter) -> None:
    limiter = make_limiter("2/minute")
    assert await limiter.test("token-a") == RateLimitDecision(allowed=True, limit=2, remaining=2, retry_after=0)
    assert await limiter.test("token-a") == RateLimitDecision(allowed=True, limit=2, remaining=2, retry_after=0)
    assert (await limiter.hit("token-a")).remaining == 1
    assert (await limiter.test("token-a")).remaining == 1
    assert (await limiter.hit("token-a")).remaining == 0
    refused = await limiter.test("token-a")
    assert not refused.allowed
    assert (refused.limit, refused.remaining) == (2, 0)
    assert 1 <= refused.retry_after <= 60
    assert (await limiter.test("token-b")).allowed


async def test_test_with_several_limits_reports_the_one_that_refuses(make_limiter: MakeLimiter) -> None:
    limiter = make_limiter("5/hour; 1/minute")
    assert await limiter.test("token-a") == RateLimitDecision(allowed=True, limit=1, remaining=1, retry_after=0)
    await limiter.hit("token-a")
    refused = await limiter.test("token-a")
    assert not refused.allowed
    assert refused.limit == 1
    assert 1 <= refused.retry_after <= 60


async def test_each_credential_has_its_own_count(make_limiter: MakeLimiter) -> None:
    limiter = make_limiter("1/minute")
    assert (await limiter.hit("token-a")).allowed
    assert not (await limiter.hit("token-a")).allowed
    assert (await limiter.hit("token-b")).allowed


async def test_reset_forgets_a_credentials_count(make_limiter: MakeLimiter) -> None:
    limiter = make_limiter("1/minute")
    await limiter.hit("token-a")
    await limiter.reset("token-a")
    assert (await limiter.hit("token-a")).allowed


async def test_with_several_limits_the_tightest_decides(make_limiter: MakeLimiter) -> None:
    limiter = make_limiter("1/minute; 5/hour")
    first = await limiter.hit("token-a")
    assert first == RateLimitDecision(allowed=True, limit=1, remaining=0, retry_after=0)
    refused = await limiter.hit("token-a")
    assert not refused.allowed
    assert refused.limit == 1
    assert 1 <= refused.retry_after <= 60


@requires_redis
async def test_a_refused_call_does_not_use_up_the_other_limits(redis_prefix: str) -> None:
    prefix = redis_prefix.rstrip(":")
    both = RateLimiter("1/minute; 5/hour", storage_url=REDIS_URL, key_prefix=prefix)
    hourly = RateLimiter("5/hour", storage_url=REDIS_URL, key_prefix=prefix)
    try:
        assert (await both.hit("token-a")).allowed
        assert not (await both.hit("token-a")).allowed
        assert not (await both.hit("token-a")).allowed
        # Same storage key as the hourly limit of `both`: only the one allowed call was counted.
        assert (await hourly.hit("token-a")).remaining == 3
    finally:
        await both.aclose()
        await hourly.aclose()


@requires_redis
async def test_redis_counts_are_shared_between_limiters(redis_prefix: str) -> None:
    prefix = redis_prefix.rstrip(":")
    first = RateLimiter("2/minute", storage_url=REDIS_URL, key_prefix=prefix)
    second = RateLimiter("2/minute", storage_url=REDIS_URL, key_prefix=prefix)
    try:
        await first.hit("token-a")
        await second.hit("token-a")
        assert not (await first.hit("token-a")).allowed
    finally:
        await first.aclose()
        await second.aclose()


@requires_redis
async def test_credentials_are_hashed_before_they_reach_redis(redis_prefix: str) -> None:
    token = "sk-live-very-secret-token-123"
    limiter = RateLimiter("10/minute", storage_url=REDIS_URL, key_prefix=redis_prefix.rstrip(":"))
    try:
        await limiter.hit(token)
    finally:
        await limiter.aclose()
    keys = await redis_keys(redis_prefix)
    assert keys
    assert all(token not in key for key in keys)
    assert any(hash_credential(token) in key for key in keys)


def test_credential_hashes_are_32_hex_digits_of_sha256() -> None:
    digest = hash_credential("token")
    assert digest == "3c469e9d6c5875d37a43f353d4f88e61"
    assert len(digest) == 32


async def test_unreachable_redis_raises_rate_limit_unavailable_without_the_password() -> None:
    limiter = RateLimiter("1/minute", storage_url="redis://:hunter2@127.0.0.1:1/0")
    try:
        with pytest.raises(RateLimitUnavailable) as exc_info:
            await limiter.hit("token-a")
        assert "127.0.0.1:1" in str(exc_info.value)
        assert "hunter2" not in str(exc_info.value)
    finally:
        await limiter.aclose()


async def test_test_on_unreachable_redis_raises_rate_limit_unavailable() -> None:
    limiter = RateLimiter("1/minute", storage_url="redis://:hunter2@127.0.0.1:1/0")
    try:
        with pytest.raises(RateLimitUnavailable) as exc_info:
            await limiter.test("token-a")
        assert "hunter2" not in str(exc_info.value)
    finally:
        await limiter.aclose()


@pytest.mark.parametrize("storage", ["memory", pytest.param("redis", marks=requires_redis)])
async def test_the_sliding_window_counter_strategy_refuses_beyond_the_limit_at_constant_cost(
    storage: str, redis_prefix: str
) -> None:
    limiter = RateLimiter(
        "3/minute",
        storage_url=None if storage == "memory" else REDIS_URL,
        key_prefix=redis_prefix.rstrip(":"),
        strategy="sliding-window-counter",
    )
    try:
        allowed = [(await limiter.hit("token-a")).allowed for _ in range(4)]
        refused = await limiter.test("token-a")
        other = await limiter.hit("token-b")
    finally:
        await limiter.aclose()
    assert allowed == [True, True, True, False]
    assert (refused.allowed, other.allowed) == (False, True)
    assert refused.retry_after >= 1


def test_unknown_strategies_are_refused_at_construction() -> None:
    with pytest.raises(ValueError, match="sliding-window-counter"):
        RateLimiter("1/minute", strategy="token-bucket")  # type: ignore[arg-type]
