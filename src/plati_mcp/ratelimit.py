"""Per-credential rate limits (``rate_limit="100/minute"``), on the ``limits`` library.

Counting uses the moving-window strategy by default: a limit of 100 per minute never lets more than
100 calls through in any 60-second span (it keeps one timestamp per call in the window, so a
check costs more as the limit grows). ``strategy="sliding-window-counter"`` keeps two counters
per window instead (constant cost, the previous window's count weighted by how much of it still
overlaps: a close approximation), for high limits. Credentials are hashed before they reach the
storage, so bearer tokens never end up in Redis keys.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import time
from dataclasses import dataclass
from typing import Literal

from limits import RateLimitItem, parse_many
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.storage.redis.redispy import RedispyBridge
from limits.aio.strategies import MovingWindowRateLimiter, SlidingWindowCounterRateLimiter
from limits.errors import StorageError

from plati_mcp._redis import REDIS_SCHEMES, redact_url, url_scheme
from plati_mcp.errors import PlatiMCPError

__all__ = ["RateLimitDecision", "RateLimitUnavailable", "RateLimiter", "hash_credential"]

_EXAMPLE = "'100/minute' or '100 per minute' (several separated by ';', e.g. '10/second; 100/minute')"


class RateLimitUnavailable(PlatiMCPError):
    """The rate-limit storage cannot be reached; the message names its URL (without the password)."""

    def __init__(self, url: str, reason: str) -> None:
        self.url = redact_url(url)
        super().__init__(f"Rate limit storage at {self.url} is unavailable: {reason}")


@dataclass(frozen=True)
class RateLimitDecision:
    """The outcome of one :meth:`RateLimiter.hit` (or :meth:`RateLimiter.test`).

    ``limit`` and ``remaining`` refer to the tightest limit (the one that refused the call, or the
    one with the fewest calls left). ``retry_after`` is the whole number of seconds until a call
    would be allowed again: at least 1 when refused, 0 when allowed.
    """

    allowed: bool
    limit: int
    remaining: int
    retry_after: int


def hash_credential(credential: str) -> str:
    """The storage key for a credential: the first 32 hex digits of its SHA-256."""
    return hashlib.sha256(credential.encode()).hexdigest()[:32]


def _parse(limit: str) -> list[RateLimitItem]:
    try:
        items = parse_many(limit) if isinstance(limit, str) and limit.strip() else []
    except ValueError:
        items = []
    if not items:
        raise ValueError(f"Cannot parse rate limit {limit!r}; use a form like {_EXAMPLE}.")
    for item in items:
        if item.amount < 1:
            raise ValueError(f"Rate limit {limit!r} allows no calls at all; use a form like {_EXAMPLE}.")
    return items


class RateLimiter:
    """Counts calls per credential against one or more limits.

    ``limit`` is e.g. ``"100/minute"``, ``"100 per minute"`` or ``"10/second; 1000/day"``. Counts are
    kept in memory by default, or in Redis (shared by every process) when ``storage_url`` is a
    ``redis://`` or ``rediss://`` URL. ``strategy`` is ``"moving-window"`` (exact) or
    ``"sliding-window-counter"`` (constant cost; see the module docstring).

    Raises:
        ValueError: at construction, when ``limit`` cannot be parsed, ``storage_url`` has an
            unsupported scheme or ``strategy`` is unknown.
    """

    def __init__(
        self,
        limit: str,
        *,
        storage_url: str | None = None,
        key_prefix: str = "plati_mcp",
        strategy: Literal["moving-window", "sliding-window-counter"] = "moving-window",
    ) -> None:
        self._items = _parse(limit)
        self.limit = limit
        self.key_prefix = key_prefix
        self._storage_url = storage_url
        self._storage: Storage
        if storage_url is None or url_scheme(storage_url) == "memory":
            self._storage = MemoryStorage()
        elif url_scheme(storage_url) in REDIS_SCHEMES:
            self._storage = RedisStorage(
                "async+" + storage_url, implementation="redispy", key_prefix=key_prefix, wrap_exceptions=True
            )
        else:
            raise ValueError(
                f"Unsupported rate limit storage scheme {url_scheme(storage_url)!r} in "
                f"{redact_url(storage_url)!r}; use memory:// or redis://host:port/db."
            )
        self._strategy: MovingWindowRateLimiter | SlidingWindowCounterRateLimiter
        if strategy == "moving-window":
            self._strategy = MovingWindowRateLimiter(self._storage)
        elif strategy == "sliding-window-counter":
            self._strategy = SlidingWindowCounterRateLimiter(self._storage)
        else:
            raise ValueError(
                f"Unknown rate limit strategy {strategy!r}; use 'moving-window' or 'sliding-window-counter'."
            )

    def describe(self) -> str:
        """The limits in words, e.g. ``"100 per 1 minute"``."""
        return "; ".join(repr(item) for item in self._items)

    async def hit(self, key: str) -> RateLimitDecision:
        """Count one call for the credential ``key`` and say whether it is allowed.

        A refused call is not counted. With several limits, a call is counted against all of them
        only when all allow it.

        Raises:
            RateLimitUnavailable: when the Redis storage cannot be reached.
        """
        try:
            return await self._hit(hash_credential(key))
        except StorageError as exc:
            raise RateLimitUnavailable(self._storage_url or "memory://", str(exc.storage_error)) from exc

    async def test(self, key: str) -> RateLimitDecision:
        """Say whether a call for the credential ``key`` would be allowed now, without counting it.

        For a check ahead of the work that decides whether a call counts: e.g. refusing an
        address that has used up its failed logins before its key is even looked up, while only
        the failures are counted (with :meth:`hit`).

        Raises:
            RateLimitUnavailable: when the Redis storage cannot be reached.
        """
        digest = hash_credential(key)
        try:
            # One read per limit: the window's count says both "allowed" and how long to wait.
            stats = [(item, await self._strategy.get_window_stats(item, digest)) for item in self._items]
        except StorageError as exc:
            raise RateLimitUnavailable(self._storage_url or "memory://", str(exc.storage_error)) from exc
        now = time.time()
        waits = [(max(1, math.ceil(window.reset_time - now)), item) for item, window in stats if window.remaining < 1]
        if waits:
            retry_after, item = max(waits, key=lambda pair: pair[0])
            return RateLimitDecision(allowed=False, limit=item.amount, remaining=0, retry_after=retry_after)
        remaining, item = min(((window.remaining, item) for item, window in stats), key=lambda pair: pair[0])
        return RateLimitDecision(allowed=True, limit=item.amount, remaining=remaining, retry_after=0)

    async def _hit(self, digest: str) -> RateLimitDecision:
        refused: list[RateLimitItem] = []
        if len(self._items) > 1:
            # Test first so a call refused by one limit does not use up the others.
            refused = [item for item in self._items if not await self._strategy.test(item, digest)]
        if not refused:
            refused = [item for item in self._items if not await self._strategy.hit(item, digest)]

        now = time.time()
        if refused:
            waits = []
            for item in refused:
                stats = await self._strategy.get_window_stats(item, digest)
                waits.append((max(1, math.ceil(stats.reset_time - now)), item))
            retry_after, item = max(waits, key=lambda pair: pair[0])
            return RateLimitDecision(allowed=False, limit=item.amount, remaining=0, retry_after=retry_after)

        tightest: tuple[int, RateLimitItem] | None = None
        for item in self._items:
            remaining = (await self._strategy.get_window_stats(item, digest)).remaining
            if tightest is None or remaining < tightest[0]:
                tightest = (remaining, item)
        assert tightest is not None  # _parse guarantees at least one limit
        remaining, item = tightest
        return RateLimitDecision(allowed=True, limit=item.amount, remaining=max(0, remaining), retry_after=0)

    async def reset(self, key: str) -> None:
        """Forget the counts of the credential ``key`` (e.g. after rotating it)."""
        digest = hash_credential(key)
        for item in self._items:
            await self._strategy.clear(item, digest)

    async def aclose(self) -> None:
        """Release the storage: close the Redis connections, stop the memory expiry task."""
        if isinstance(self._storage, RedisStorage) and isinstance(self._storage.bridge, RedispyBridge):
            await self._storage.bridge.storage.aclose()
        elif isinstance(self._storage, MemoryStorage):
            timer = self._storage.timer
            if timer is not None and not timer.done():
                timer.cancel()
                # A timer started under another event loop (e.g. a sync test client's) cannot be awaited here.
                if timer.get_loop() is asyncio.get_running_loop():
                    await asyncio.gather(timer, return_exceptions=True)
