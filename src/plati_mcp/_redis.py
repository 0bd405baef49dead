"""Helpers shared by the Redis-backed stores: URL checks and a loop-bound lazy client."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

if TYPE_CHECKING:
    from redis.asyncio import Redis

REDIS_SCHEMES = frozenset({"redis", "rediss"})


def url_scheme(url: str) -> str:
    """The lower-cased scheme of ``url`` (``""`` when it has none or cannot be parsed)."""
    try:
        return urlsplit(url).scheme.lower()
    except ValueError:
        return ""


def redact_url(url: str) -> str:
    """``url`` with any password replaced by ``***``, safe to put in logs and error messages."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparsable URL>"
    # redis-py also accepts ?password=...; hide the whole query rather than parse every option.
    if "password" in parts.query.lower():
        parts = parts._replace(query="***")
    if "@" not in parts.netloc:
        return urlunsplit(parts)
    userinfo, _, hostport = parts.netloc.rpartition("@")
    username, has_password, _ = userinfo.partition(":")
    # A URL like redis://secret@host carries the password in the user part, so it is hidden too.
    netloc = f"{username}:***@{hostport}" if has_password else f"***@{hostport}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


class LazyRedis:
    """A ``redis.asyncio`` client created on first use and tied to the event loop it was created in.

    Raises:
        RuntimeError: when used from a second event loop: the client's connections belong to the first
            one, which is usually closed by then (e.g. a TestClient used outside its ``with`` block).
    """

    def __init__(self, url: str, owner: str) -> None:
        self.url = url
        self.owner = owner
        self._client: Redis | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def get(self) -> Redis:
        loop = asyncio.get_running_loop()
        if self._client is None:
            # Imported here: redis.asyncio takes ~150 ms to import and most servers keep no state in Redis.
            from redis.asyncio import Redis

            self._client = Redis.from_url(self.url, decode_responses=True)
            self._loop = loop
        elif self._loop is not loop:
            raise RuntimeError(
                f"{self.owner} for {redact_url(self.url)} was first used in another event loop; use it from "
                "one event loop only (with Starlette's TestClient, use it inside a `with` block)."
            )
        return self._client

    async def aclose(self) -> None:
        client, self._client, self._loop = self._client, None, None
        if client is not None:
            await client.aclose()
