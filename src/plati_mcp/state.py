"""Per-conversation key/value state for functions (``ctx.state``).

A :class:`State` is loaded from a :class:`StateStore` before a call and the keys the call changed
are written back after it. Writes are per key, so two concurrent calls in the same conversation
that touch different keys do not overwrite each other.

Values must be JSON: they are stored as JSON (in Redis, and in memory too, so both stores behave
the same: a tuple comes back as a list, and nothing loaded shares mutable objects with the store).
"""

from __future__ import annotations

import json
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Collection, Iterator, Mapping, MutableMapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from plati_mcp._redis import REDIS_SCHEMES, LazyRedis, redact_url, url_scheme
from plati_mcp.errors import PlatiMCPError

if TYPE_CHECKING:
    from redis.asyncio import Redis
    from redis.typing import EncodableT, FieldT

__all__ = [
    "MemoryStateStore",
    "RedisStateStore",
    "State",
    "StateStore",
    "StateStoreUnavailable",
    "load_state",
    "save_state",
    "state_store_from_url",
]

logger = logging.getLogger("plati_mcp.state")


class StateStoreUnavailable(PlatiMCPError):
    """The state store cannot be reached; the message names its URL (without the password)."""

    def __init__(self, url: str, reason: str) -> None:
        self.url = redact_url(url)
        super().__init__(f"State store at {self.url} is unavailable: {reason}")


def _encode(key: str, value: Any) -> str:
    try:
        return json.dumps(value, allow_nan=False, separators=(",", ":"), ensure_ascii=False)
    except (TypeError, ValueError) as exc:
        raise TypeError(
            f"State value for key {key!r} is not JSON-serializable ({type(value).__name__}: {exc}); "
            "store only dict, list, str, int, float, bool or None."
        ) from exc


class State(MutableMapping[str, Any]):
    """A dict-like view of one conversation's state that remembers what changed since it was loaded.

    Values are checked when set; changes made in place (``state["cart"].append(item)``) are found
    by comparing against the loaded values when :attr:`changed` is read.

    Raises:
        TypeError: on setting a non-string key or a value that is not JSON-serializable.
    """

    def __init__(self, initial: Mapping[str, Any] | None = None, *, scope: str | None = None) -> None:
        self.scope = scope
        self._data: dict[str, Any] = dict(initial or {})
        self._loaded: dict[str, str] = {key: _encode(key, value) for key, value in self._data.items()}
        self._set: set[str] = set()
        self._deleted: set[str] = set()

    def __getitem__(self, key: str) -> Any:
        return self._data[key]

    def __setitem__(self, key: str, value: Any) -> None:
        if not isinstance(key, str):
            raise TypeError(f"State keys must be strings, got {type(key).__name__} {key!r}.")
        _encode(key, value)
        self._data[key] = value
        self._set.add(key)
        self._deleted.discard(key)

    def __delitem__(self, key: str) -> None:
        del self._data[key]
        self._set.discard(key)
        self._deleted.add(key)

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __repr__(self) -> str:
        return f"State({self._data!r}, scope={self.scope!r})"

    @property
    def changed(self) -> dict[str, Any]:
        """Keys set (or mutated in place) since the state was loaded or last saved, with their values.

        Raises:
            TypeError: when a value mutated in place is no longer JSON-serializable.
        """
        result: dict[str, Any] = {}
        for key, value in self._data.items():
            if key in self._set or self._loaded.get(key) != _encode(key, value):
                result[key] = value
        return result

    @property
    def deleted(self) -> set[str]:
        """Keys removed since the state was loaded or last saved."""
        return set(self._deleted)

    @property
    def dirty(self) -> bool:
        """Whether there is anything to save."""
        return bool(self._deleted) or bool(self.changed)

    def mark_saved(self) -> None:
        """Forget the changes, after they have been written to the store."""
        self._loaded = {key: _encode(key, value) for key, value in self._data.items()}
        self._set.clear()
        self._deleted.clear()


@runtime_checkable
class StateStore(Protocol):
    """Where conversation state lives between calls.

    ``save`` writes per key: keys in neither ``changed`` nor ``deleted`` are left untouched.
    A key in both is set. Values in ``changed`` must be JSON-serializable.
    """

    async def load(self, scope: str) -> dict[str, Any]: ...

    async def save(self, scope: str, changed: Mapping[str, Any], deleted: Collection[str]) -> None: ...

    async def clear(self, scope: str) -> None: ...

    async def aclose(self) -> None: ...


async def load_state(store: StateStore, scope: str | None) -> State:
    """Load the state of ``scope``; with no scope (no conversation id) the state is empty and not kept."""
    if scope is None:
        return State()
    return State(await store.load(scope), scope=scope)


async def save_state(store: StateStore, state: State) -> None:
    """Write what changed in ``state`` to ``store`` (nothing when it has no scope or no changes)."""
    if state.scope is None:
        return
    changed, deleted = state.changed, state.deleted
    if not changed and not deleted:
        return
    await store.save(state.scope, changed, deleted)
    state.mark_saved()


@dataclass
class _Scope:
    values: dict[str, str]
    expires_at: float | None


class MemoryStateStore:
    """State kept in this process: fine for one process, lost on restart.

    A scope expires ``ttl_seconds`` after its last save; beyond ``max_scopes`` the least recently
    used scope is dropped.

    Raises:
        ValueError: when ``ttl_seconds`` or ``max_scopes`` is not positive.
    """

    def __init__(
        self,
        ttl_seconds: float | None = 86400,
        max_scopes: int = 10_000,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if ttl_seconds is not None and ttl_seconds <= 0:
            raise ValueError(f"ttl_seconds must be positive or None, got {ttl_seconds!r}.")
        if max_scopes < 1:
            raise ValueError(f"max_scopes must be at least 1, got {max_scopes!r}.")
        self.ttl_seconds = ttl_seconds
        self.max_scopes = max_scopes
        self._clock = clock
        self._scopes: OrderedDict[str, _Scope] = OrderedDict()

    def _live(self, scope: str) -> _Scope | None:
        entry = self._scopes.get(scope)
        if entry is None:
            return None
        if entry.expires_at is not None and entry.expires_at <= self._clock():
            del self._scopes[scope]
            return None
        self._scopes.move_to_end(scope)
        return entry

    async def load(self, scope: str) -> dict[str, Any]:
        entry = self._live(scope)
        if entry is None:
            return {}
        return {key: json.loads(raw) for key, raw in entry.values.items()}

    async def save(self, scope: str, changed: Mapping[str, Any], deleted: Collection[str]) -> None:
        encoded = {key: _encode(key, value) for key, value in changed.items()}
        entry = self._live(scope)
        if entry is None:
            entry = self._scopes[scope] = _Scope(values={}, expires_at=None)
        for key in deleted:
            entry.values.pop(key, None)
        entry.values.update(encoded)
        if not entry.values:
            del self._scopes[scope]
            return
        entry.expires_at = None if self.ttl_seconds is None else self._clock() + self.ttl_seconds
        while len(self._scopes) > self.max_scopes:
            self._scopes.popitem(last=False)

    async def clear(self, scope: str) -> None:
        self._scopes.pop(scope, None)

    async def aclose(self) -> None:
        self._scopes.clear()


class RedisStateStore:
    """State in Redis, shared by every process of a server: one hash per scope, JSON values.

    The client is created on first use; call :meth:`aclose` on shutdown.

    Raises:
        ValueError: at construction, when ``url`` is not a ``redis://`` or ``rediss://`` URL or
            ``ttl_seconds`` is not positive.
        StateStoreUnavailable: from any operation, when Redis cannot be reached.
    """

    def __init__(self, url: str, *, ttl_seconds: int | None = 86400, key_prefix: str = "plati_mcp:state:") -> None:
        if url_scheme(url) not in REDIS_SCHEMES:
            raise ValueError(f"RedisStateStore needs a redis:// or rediss:// URL, got {redact_url(url)!r}.")
        if ttl_seconds is not None and ttl_seconds <= 0:
            raise ValueError(f"ttl_seconds must be positive seconds or None, got {ttl_seconds!r}.")
        self.url = url
        self.ttl_seconds = ttl_seconds
        self.key_prefix = key_prefix
        self._lazy = LazyRedis(url, "RedisStateStore")

    def _redis(self) -> Redis:
        return self._lazy.get()

    def _key(self, scope: str) -> str:
        return self.key_prefix + scope

    async def load(self, scope: str) -> dict[str, Any]:
        from redis.exceptions import ConnectionError, TimeoutError

        try:
            raw: Mapping[str, str] = await self._redis().hgetall(self._key(scope))  # type: ignore[assignment]
        except (ConnectionError, TimeoutError) as exc:
            raise StateStoreUnavailable(self.url, str(exc)) from exc
        values: dict[str, Any] = {}
        for key, text in raw.items():
            try:
                values[key] = json.loads(text)
            except json.JSONDecodeError:
                # Written by something other than this store; skipping it beats failing every call.
                logger.warning("Ignoring non-JSON state value %r in %s", key, self._key(scope))
        return values

    async def save(self, scope: str, changed: Mapping[str, Any], deleted: Collection[str]) -> None:
        from redis.exceptions import ConnectionError, TimeoutError

        encoded: dict[FieldT, EncodableT] = {key: _encode(key, value) for key, value in changed.items()}
        to_delete = [key for key in deleted if key not in changed]
        if not encoded and not to_delete:
            return
        key = self._key(scope)
        try:
            async with self._redis().pipeline(transaction=True) as pipe:
                if to_delete:
                    pipe.hdel(key, *to_delete)
                if encoded:
                    pipe.hset(key, mapping=encoded)
                if self.ttl_seconds is not None:
                    pipe.expire(key, self.ttl_seconds)
                await pipe.execute()
        except (ConnectionError, TimeoutError) as exc:
            raise StateStoreUnavailable(self.url, str(exc)) from exc

    async def clear(self, scope: str) -> None:
        from redis.exceptions import ConnectionError, TimeoutError

        try:
            await self._redis().delete(self._key(scope))
        except (ConnectionError, TimeoutError) as exc:
            raise StateStoreUnavailable(self.url, str(exc)) from exc

    async def aclose(self) -> None:
        await self._lazy.aclose()


def state_store_from_url(url: str | None, **kwargs: Any) -> StateStore:
    """A state store for ``url``: ``None`` or ``memory://`` → in memory, ``redis://``/``rediss://`` → Redis.

    Extra keyword arguments go to the store's constructor (e.g. ``ttl_seconds``).

    Raises:
        ValueError: for any other scheme.
    """
    if url is None or url_scheme(url) == "memory":
        return MemoryStateStore(**kwargs)
    scheme = url_scheme(url)
    if scheme in REDIS_SCHEMES:
        return RedisStateStore(url, **kwargs)
    raise ValueError(
        f"Unsupported state store scheme {scheme!r} in {redact_url(url)!r}; use memory:// or redis://host:port/db."
    )
