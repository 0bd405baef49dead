"""What API processes sharing one database tell each other, over PostgreSQL LISTEN/NOTIFY.

- **turn done**: a conversation's running turn ended (completed, failed, interrupted, or marked
  failed after its process stopped); a message waiting for it in any process tries again.
- **config changed**: a configuration table was written (an assistant, its functions, a channel,
  a function server, the workspace's settings); every process drops its cached configuration
  at once, instead of after the cache's expiry.
- **interrupt**: a newer message asks the process running a turn to cancel it (channel policy
  ``interrupt``).

PostgreSQL is the one engine every deployment of several processes already runs, and LISTEN/NOTIFY
delivers in a few milliseconds without polling: no Redis needed for this. Notifications are sent
after the commit they describe, on one connection the bus holds, batched (what is announced while
a send is under way goes in the next), and are at most a hint: a process that missed some (its
connection dropped) treats every waiting message and cached configuration as stale when it
reconnects, and waiting messages try again every second anyway.

On SQLite there is one process (:mod:`.sqlite_lock`): the same calls act in-process only.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

logger = logging.getLogger("plati.cluster")

MAX_PAYLOAD = 7900  # PostgreSQL's limit is 8000 bytes
RECONNECT_SECONDS = (0.2, 0.5, 1.0, 2.0, 5.0)

_TURN_DONE = "t"
_CONFIG = "c"
_INTERRUPT = "i"


def channel_name(schema: str | None) -> str:
    """The NOTIFY channel of a database schema: deployments (or tests) sharing one PostgreSQL
    database in different schemas do not hear each other."""
    digest = hashlib.sha256((schema or "").encode()).hexdigest()[:12]
    return f"plati_{digest}"


class Bus:
    """Announcements between the processes of one database. Open with :meth:`start`, close with
    :meth:`aclose`.

    ``owner`` names this process (its own config announcements are not acted on twice);
    ``on_config`` is called when another process changed the configuration (or when
    announcements may have been missed); ``on_interrupt`` with a turn id that a newer message
    wants interrupted.
    """

    def __init__(
        self,
        engine: AsyncEngine | None,
        *,
        owner: str,
        schema: str | None = None,
        on_config: Callable[[], None] | None = None,
        on_interrupt: Callable[[str], None] | None = None,
    ) -> None:
        self.engine = engine if engine is not None and engine.dialect.name == "postgresql" else None
        self.owner = owner
        self.channel = channel_name(schema)
        self.on_config = on_config
        self.on_interrupt = on_interrupt
        self._borrowed: AsyncConnection | None = None
        self._connection: Any = None  # asyncpg's, listening on ``channel``
        self._send_lock = asyncio.Lock()
        self._pending: dict[str, set[str]] = {}
        self._sender: asyncio.Task[None] | None = None
        self._keeper: asyncio.Task[None] | None = None
        self._waiters: dict[str, set[asyncio.Future[None]]] = {}
        self._closed = False

    @property
    def shared(self) -> bool:
        """Whether announcements reach other processes (PostgreSQL), or this one only."""
        return self.engine is not None

    async def start(self) -> None:
        """Start listening (PostgreSQL).

        Raises:
            Exception: the database cannot be reached (the process should not start).
        """
        if self.engine is not None:
            await self._connect()

    async def aclose(self) -> None:
        self._closed = True
        for task in (self._keeper, self._sender):
            if task is not None:
                task.cancel()
                with contextlib.suppress(BaseException):
                    await task
        await self._disconnect()
        for waiters in self._waiters.values():
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_result(None)

    # -- announcing ------------------------------------------------------------------------------

    def turn_done(self, conversation_id: str) -> None:
        """The running turn of ``conversation_id`` ended: wake who waits for it, here and elsewhere."""
        self._wake(conversation_id)
        self._announce(_TURN_DONE, conversation_id)

    def config_changed(self) -> None:
        """A configuration table was written through this process: tell the others."""
        self._announce(_CONFIG, self.owner)

    def interrupt(self, turn_id: str) -> None:
        """Ask the process running ``turn_id`` to interrupt it (this one included)."""
        if self.on_interrupt is not None:
            self.on_interrupt(turn_id)
        self._announce(_INTERRUPT, turn_id)

    async def wait_turn_done(self, conversation_id: str, seconds: float) -> None:
        """Return when a turn of ``conversation_id`` is announced done, or after ``seconds``
        (the caller checks again either way)."""
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        waiters = self._waiters.setdefault(conversation_id, set())
        waiters.add(waiter)
        try:
            await asyncio.wait_for(waiter, seconds)
        except TimeoutError:
            pass
        finally:
            waiters.discard(waiter)
            if not waiters:
                self._waiters.pop(conversation_id, None)

    # -- sending ---------------------------------------------------------------------------------

    def _announce(self, kind: str, value: str) -> None:
        if self.engine is None or self._closed:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # not on the event loop (a pool checkin at exit): nobody to tell
            return
        self._pending.setdefault(kind, set()).add(value)
        if self._sender is None:
            self._sender = loop.create_task(self._send())

    async def _send(self) -> None:
        try:
            while self._pending:
                pending, self._pending = self._pending, {}
                for kind, values in pending.items():
                    for payload in _payloads(kind, sorted(values)):
                        await self._notify(payload)
        finally:
            self._sender = None

    async def _notify(self, payload: str) -> None:
        async with self._send_lock:
            connection = self._connection
            if connection is None or connection.is_closed():
                return  # the keeper reconnects; listeners treat the gap as missed announcements
            try:
                await connection.execute("SELECT pg_notify($1, $2)", self.channel, payload)
            except Exception as exc:  # the connection dropped: its termination listener reconnects
                logger.warning("Could not announce to the other processes: %s", exc)

    # -- listening -------------------------------------------------------------------------------

    def _received(self, _connection: Any, _pid: int, _channel: str, payload: str) -> None:
        kind, _, body = payload.partition(":")
        values = body.split(",") if body else []
        if kind == _TURN_DONE:
            for conversation_id in values:
                self._wake(conversation_id)
        elif kind == _CONFIG:
            if any(value != self.owner for value in values) and self.on_config is not None:
                self.on_config()
        elif kind == _INTERRUPT and self.on_interrupt is not None:
            for turn_id in values:
                self.on_interrupt(turn_id)

    def _wake(self, conversation_id: str) -> None:
        for waiter in self._waiters.get(conversation_id, ()):
            if not waiter.done():
                waiter.set_result(None)

    def _wake_all(self) -> None:
        for conversation_id in list(self._waiters):
            self._wake(conversation_id)

    async def _connect(self) -> None:
        assert self.engine is not None
        borrowed = await self.engine.connect()
        try:
            raw = await borrowed.get_raw_connection()
            connection: Any = raw.driver_connection
            await connection.add_listener(self.channel, self._received)
            connection.add_termination_listener(self._lost)
        except BaseException:
            with contextlib.suppress(Exception):
                await borrowed.invalidate()
            await borrowed.close()
            raise
        self._borrowed, self._connection = borrowed, connection

    async def _disconnect(self) -> None:
        borrowed, connection = self._borrowed, self._connection
        self._borrowed, self._connection = None, None
        if connection is not None and not connection.is_closed():
            with contextlib.suppress(Exception):
                await connection.remove_listener(self.channel, self._received)
        if borrowed is not None:
            with contextlib.suppress(Exception):
                if connection is None or connection.is_closed():
                    await borrowed.invalidate()
                await borrowed.close()

    def _lost(self, _connection: Any) -> None:
        if self._closed or self._keeper is not None:
            return
        logger.warning("Lost the connection that hears the other processes; reconnecting")
        self._keeper = asyncio.get_running_loop().create_task(self._reconnect())

    async def _reconnect(self) -> None:
        try:
            attempt = 0
            while not self._closed:
                await asyncio.sleep(RECONNECT_SECONDS[min(attempt, len(RECONNECT_SECONDS) - 1)])
                attempt += 1
                await self._disconnect()
                try:
                    await self._connect()
                except Exception as exc:
                    logger.warning("Could not reconnect to hear the other processes: %s", exc)
                    continue
                # Announcements sent meanwhile are lost: act as if all had been received.
                if self.on_config is not None:
                    self.on_config()
                self._wake_all()
                return
        finally:
            self._keeper = None


def _payloads(kind: str, values: list[str]) -> list[str]:
    """``kind:v1,v2,...`` strings within PostgreSQL's payload limit."""
    payloads: list[str] = []
    current: list[str] = []
    size = len(kind) + 1
    for value in values:
        if current and size + len(value) + 1 > MAX_PAYLOAD:
            payloads.append(f"{kind}:{','.join(current)}")
            current, size = [], len(kind) + 1
        current.append(value)
        size += len(value) + 1
    if current:
        payloads.append(f"{kind}:{','.join(current)}")
    return payloads


__all__ = ["Bus", "channel_name"]
