"""Running turns are leased: the process that runs a turn renews its lease, and a turn whose lease
ran out belongs to a process that stopped (killed, crashed, cut off from the database). Any live
process marks such turns failed, which frees their conversations; nobody touches a turn whose
owner still renews.

One statement renews every turn of this process (``WHERE owner = ...``) and one marks the expired
ones, each every third of the lease, on the database's clock. On SQLite (one serving process,
:mod:`.sqlite_lock`) every turn found running at start is from a stopped process: they are all
marked at start, and nothing runs afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable
from datetime import timedelta

from ..store.hot import HotStore
from .bus import Bus

logger = logging.getLogger("plati.cluster")


class TurnLeases:
    """Renews this process's turns and marks failed the turns of stopped processes.

    ``running`` gives the ids of the turns this process runs now; ``on_lost`` is called with
    those whose lease another process found expired (this process was cut off for longer than
    the lease): they are no longer this process's to finish.
    """

    def __init__(
        self,
        hot: HotStore,
        bus: Bus,
        *,
        owner: str,
        lease_seconds: float,
        running: Callable[[], set[str]],
        on_lost: Callable[[set[str]], None],
    ) -> None:
        self.hot = hot
        self.bus = bus
        self.owner = owner
        self.lease = timedelta(seconds=lease_seconds)
        self.running = running
        self.on_lost = on_lost
        self._task: asyncio.Task[None] | None = None

    @property
    def period(self) -> float:
        return self.lease.total_seconds() / 3

    async def recover(self) -> int:
        """At start: mark failed the turns left by stopped processes (on SQLite all running
        turns, on PostgreSQL those whose lease ran out); how many."""
        reaped = await self.hot.reap_turns(all_running=not self.bus.shared)
        for _turn_id, conversation_id in reaped:
            self.bus.turn_done(conversation_id)
        return len(reaped)

    def start(self) -> None:
        """Renew and reap in the background (PostgreSQL; on SQLite there is nothing to do)."""
        if self.bus.shared and self._task is None:
            self._task = asyncio.create_task(self._run())

    async def aclose(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(BaseException):
                await task

    async def _run(self) -> None:
        while True:
            # Jittered, so that processes started together do not all reap at the same instant.
            await asyncio.sleep(self.period * random.uniform(0.8, 1.0))
            try:
                await self.tick()
            except Exception as exc:  # the database is away: try again next period
                logger.warning("Could not renew or check turn leases: %s", exc)

    async def tick(self) -> None:
        """One renewal of this process's turns and one check for expired ones."""
        mine = self.running()
        if mine:
            renewed = await self.hot.renew_leases(self.owner, self.lease)
            # Only turns that were running before the renewal can have been lost by it.
            lost = (mine & self.running()) - renewed
            if lost:
                logger.error("Lost %d turn(s) whose lease ran out: another process marked them failed", len(lost))
                self.on_lost(lost)
        reaped = await self.hot.reap_turns()
        for turn_id, conversation_id in reaped:
            logger.warning("Marked turn %s failed: the process running it stopped renewing its lease", turn_id)
            self.bus.turn_done(conversation_id)


__all__ = ["TurnLeases"]
