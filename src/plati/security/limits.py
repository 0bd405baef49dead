"""Abuse limits of the API: requests per API key, failed authentications per client address, and
turns running at once per workspace.

- **Requests per key** (``settings.rate_limit``, e.g. ``1200/minute``): every authenticated
  request counts, reads and writes alike; beyond the limit, 429 ``rate_limited``.
- **Failed authentications per address** (``settings.auth_failure_limit``): every request with a
  missing, malformed, unknown or revoked key counts against its client address
  (``request.client.host``; behind a trusted proxy, uvicorn's proxy-headers handling sets it from
  ``X-Forwarded-For``). An address that has used its failures up is answered 429
  ``too_many_auth_failures`` before its key is looked up, whatever key it carries, even a valid
  one, until the window moves on.
- **Turns at once per workspace** (``settings.max_concurrent_turns``): see :class:`TurnSlots`.

The two rate limits count with :class:`plati_mcp.ratelimit.RateLimiter` (moving windows, counted
names hashed): in memory, or in Redis when ``settings.redis_url`` is set, so that every API process
shares the counts. When Redis cannot be reached, requests are refused with 503
``rate_limit_unavailable`` (and the outage is logged): a limit that silently stopped counting would
not be a limit.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections import OrderedDict
from collections.abc import Awaitable
from typing import Any

from limits import parse_many

from plati_mcp._redis import LazyRedis, redact_url
from plati_mcp.ratelimit import RateLimitDecision, RateLimiter, RateLimitUnavailable

from ..errors import ServiceUnavailable, TooManyRequests
from ..settings import Settings

logger = logging.getLogger("plati.limits")

__all__ = ["RequestLimits", "SharedTurnSlots", "TurnSlots", "turn_slots"]

_UNAVAILABLE_RETRY_AFTER = 5


class RequestLimits:
    """The API's two rate limits, built once by the app's lifespan (a limit set to ``off`` is
    ``None`` and costs nothing).

    ``redis_prefix`` starts every Redis key, so that deployments (or tests) sharing one Redis
    database keep their counts apart.
    """

    def __init__(self, settings: Settings, *, redis_prefix: str = "plati") -> None:
        storage = settings.redis_url
        self.per_key: RateLimiter | None = None
        self.auth_failures: RateLimiter | None = None
        if settings.rate_limit is not None:
            # Every request counts here, and limits can be high: a constant-cost strategy.
            self.per_key = RateLimiter(
                settings.rate_limit,
                storage_url=storage,
                key_prefix=f"{redis_prefix}:keys",
                strategy="sliding-window-counter",
            )
        # Counted in memory, this process has seen every failure: an address it has not seen fail
        # within the longest window cannot be blocked, and is let through without asking the
        # limiter (the check runs on every request).
        self._failed: OrderedDict[str, float] | None = None
        self._window = 0.0
        if settings.auth_failure_limit is not None:
            self.auth_failures = RateLimiter(
                settings.auth_failure_limit, storage_url=storage, key_prefix=f"{redis_prefix}:auth-failures"
            )
            if storage is None:
                self._failed = OrderedDict()
                self._window = max(item.get_expiry() for item in parse_many(settings.auth_failure_limit))

    async def refuse_blocked_address(self, address: str) -> None:
        """Refuse an address that has used up its failed authentications (nothing is counted).

        Raises:
            TooManyRequests: ``too_many_auth_failures``, with ``retry_after``.
            ServiceUnavailable: ``rate_limit_unavailable`` (Redis cannot be reached).
        """
        if self.auth_failures is None:
            return
        if self._failed is not None:
            last = self._failed.get(address)
            if last is None:
                return
            if time.monotonic() - last > self._window:
                del self._failed[address]
                return
        decision = await self._ask(self.auth_failures.test(address))
        if not decision.allowed:
            raise TooManyRequests(
                f"Too many failed authentications from this address; retry in {decision.retry_after} s",
                retry_after=decision.retry_after,
                code="too_many_auth_failures",
                details={"limit": self.auth_failures.describe()},
            )

    async def count_auth_failure(self, address: str) -> None:
        """Count one failed authentication of ``address``.

        Raises:
            ServiceUnavailable: ``rate_limit_unavailable`` (Redis cannot be reached).
        """
        if self.auth_failures is not None:
            await self._ask(self.auth_failures.hit(address))
            if self._failed is not None:
                now = time.monotonic()
                self._failed[address] = now
                self._failed.move_to_end(address)
                # Oldest first: entries older than the window can no longer block anyone.
                while (oldest := next(iter(self._failed.items()))) and now - oldest[1] > self._window:
                    del self._failed[oldest[0]]

    async def count_request(self, key_id: str) -> None:
        """Count one request of the API key ``key_id``.

        Raises:
            TooManyRequests: ``rate_limited``, with ``retry_after`` (the request is not counted).
            ServiceUnavailable: ``rate_limit_unavailable`` (Redis cannot be reached).
        """
        if self.per_key is None:
            return
        decision = await self._ask(self.per_key.hit(key_id))
        if not decision.allowed:
            raise TooManyRequests(
                f"Rate limit of this API key reached ({self.per_key.describe()}); retry in {decision.retry_after} s",
                retry_after=decision.retry_after,
                code="rate_limited",
                details={"limit": self.per_key.describe()},
            )

    async def _ask(self, pending: Awaitable[RateLimitDecision]) -> RateLimitDecision:
        try:
            decision = await pending
        except RateLimitUnavailable as exc:
            # The log names the storage (its URL without the password); the caller learns to retry.
            logger.exception("Refusing a request: %s", exc)
            raise ServiceUnavailable(
                "Rate limiting is unavailable right now; retry shortly",
                retry_after=_UNAVAILABLE_RETRY_AFTER,
                code="rate_limit_unavailable",
            ) from None
        return decision

    async def aclose(self) -> None:
        """Release the storages (Redis connections, the memory expiry task)."""
        for limiter in (self.per_key, self.auth_failures):
            if limiter is not None:
                await limiter.aclose()


def _too_many(running: int, limit: int) -> TooManyRequests:
    return TooManyRequests(
        f"This workspace already has {running} turns running (the limit is {limit}); retry when one has finished",
        retry_after=1,
        code="too_many_turns",
        details={"limit": limit},
    )


class TurnSlots:
    """At most ``limit`` turns running at once per workspace; one more is 429 ``too_many_turns``
    with ``Retry-After: 1``, before anything of it is stored. Other workspaces are unaffected.

    A slot is taken before the turn is prepared and given back when the turn's task ends, however
    it ends (completed, failed, cancelled), and also when its client has gone away (turns run as
    detached tasks: :meth:`plati.engine.runner.TurnRunner.run_detached`). A turn waiting for an
    earlier turn of its conversation holds its slot while it waits.

    Counted in this process; :class:`SharedTurnSlots` counts across processes (Redis).
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._running: dict[str, int] = {}

    def running(self, workspace_id: str) -> int:
        """Turns of the workspace holding a slot now."""
        return self._running.get(workspace_id, 0)

    async def acquire(self, workspace_id: str) -> str:
        """Take a slot for a turn of ``workspace_id``; give it back with :meth:`release`.

        Raises:
            TooManyRequests: ``too_many_turns`` (the workspace's turns are all running).
        """
        running = self._running.get(workspace_id, 0)
        if running >= self.limit:
            raise _too_many(running, self.limit)
        self._running[workspace_id] = running + 1
        return workspace_id

    def release(self, workspace_id: str, _slot: str = "") -> None:
        """Give back a slot taken with :meth:`acquire`."""
        left = self._running.get(workspace_id, 0) - 1
        if left > 0:
            self._running[workspace_id] = left
        else:
            self._running.pop(workspace_id, None)

    async def aclose(self) -> None:
        return None


# KEYS[1]: the workspace's sorted set of slots (member: a slot id, score: when it expires, in ms on
# Redis's clock). Expired slots (their process stopped) are dropped first.
_ACQUIRE = """
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local running = redis.call('ZCARD', KEYS[1])
if running >= tonumber(ARGV[1]) then
  return running
end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[3])
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]))
return -1
"""
_RENEW = """
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
for i = 1, #ARGV - 1 do
  redis.call('ZADD', KEYS[i], 'XX', now + tonumber(ARGV[#ARGV]), ARGV[i])
  redis.call('PEXPIRE', KEYS[i], tonumber(ARGV[#ARGV]))
end
return 0
"""


class SharedTurnSlots:
    """:class:`TurnSlots` counted in Redis, for every API process together (``settings.redis_url``).

    Each slot is a member of the workspace's sorted set, expiring ``ttl_seconds`` after it was
    taken or last renewed (this process renews its slots every third of that): the slots of a
    process that stopped free themselves. Taking a slot is one script call, giving it back one
    ``ZREM``. When Redis cannot be reached, turns are refused with 503 ``turn_limit_unavailable``.
    """

    def __init__(self, limit: int, url: str, *, prefix: str = "plati", ttl_seconds: float = 60.0) -> None:
        self.limit = limit
        self.prefix = prefix
        self.ttl_ms = int(ttl_seconds * 1000)
        self._redis = LazyRedis(url, "The turn limit")
        self._held: dict[str, str] = {}  # slot id -> its key
        self._renewer: asyncio.Task[None] | None = None
        self._scripts: dict[str, Any] = {}

    def _key(self, workspace_id: str) -> str:
        return f"{self.prefix}:turns:{workspace_id}"

    def _script(self, name: str, source: str) -> Any:
        script = self._scripts.get(name)
        if script is None:
            script = self._scripts[name] = self._redis.get().register_script(source)
        return script

    async def acquire(self, workspace_id: str) -> str:
        """Take a slot; its id, for :meth:`release`.

        Raises:
            TooManyRequests: ``too_many_turns``.
            ServiceUnavailable: ``turn_limit_unavailable`` (Redis cannot be reached).
        """
        slot = secrets.token_hex(8)
        key = self._key(workspace_id)
        try:
            running = await self._script("acquire", _ACQUIRE)(keys=[key], args=[self.limit, self.ttl_ms, slot])
        except Exception as exc:
            logger.error("Refusing a turn: the turn limit's Redis (%s) failed: %s", redact_url(self._redis.url), exc)
            raise ServiceUnavailable(
                "The turn limit is unavailable right now; retry shortly",
                retry_after=_UNAVAILABLE_RETRY_AFTER,
                code="turn_limit_unavailable",
            ) from None
        if int(running) >= 0:
            raise _too_many(int(running), self.limit)
        self._held[slot] = key
        if self._renewer is None:
            self._renewer = asyncio.create_task(self._renew())
        return slot

    def release(self, workspace_id: str, slot: str = "") -> None:
        """Give back a slot (in the background: if Redis is away, it expires on its own)."""
        key = self._held.pop(slot, None)
        if key is not None:
            task = asyncio.ensure_future(self._remove(key, slot))
            task.add_done_callback(lambda done: done.cancelled() or done.exception())

    async def _remove(self, key: str, slot: str) -> None:
        try:
            await self._redis.get().zrem(key, slot)
        except Exception as exc:
            logger.warning("Could not give back a turn slot (it expires on its own): %s", exc)

    async def _renew(self) -> None:
        while True:
            await asyncio.sleep(self.ttl_ms / 3000)
            if not self._held:
                continue
            held = list(self._held.items())
            try:
                await self._script("renew", _RENEW)(
                    keys=[key for _, key in held], args=[slot for slot, _ in held] + [self.ttl_ms]
                )
            except Exception as exc:
                logger.warning("Could not renew the turn slots: %s", exc)

    async def aclose(self) -> None:
        renewer, self._renewer = self._renewer, None
        if renewer is not None:
            renewer.cancel()
            with contextlib.suppress(BaseException):
                await renewer
        await self._redis.aclose()


def turn_slots(settings: Settings, *, redis_prefix: str = "plati") -> TurnSlots | SharedTurnSlots:
    """The turn cap of ``settings``: shared through Redis when ``redis_url`` is set."""
    if settings.redis_url:
        return SharedTurnSlots(settings.max_concurrent_turns, settings.redis_url, prefix=redis_prefix)
    return TurnSlots(settings.max_concurrent_turns)
