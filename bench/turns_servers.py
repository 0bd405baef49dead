"""The two servers ``bench_turns.py`` starts, each in its own process::

    python bench/turns_servers.py shop PORT DB_PATH [HTTP LOOP]
    python bench/turns_servers.py platform PORT DATA_DIR DATABASE_URL [HTTP LOOP] [PROFILE_PATH]

``shop`` is the SDK's e-commerce example server (``examples.ecommerce``) over a fresh SQLite file.
``platform`` is ``plati.app.create_app`` with an instant scripted model answering for every
assistant (:func:`instant_model`). Both are served by uvicorn with the configuration of
``targets.py`` (httptools + uvloop when installed). With ``PROFILE_PATH`` the platform process
runs cProfile on its event-loop thread between SIGUSR1 (start) and SIGUSR2 (stop and write the
stats to ``PROFILE_PATH``), so the benchmark can profile one phase and nothing else.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # ``examples`` is not installed; it lives at the repository root
    sys.path.insert(0, str(ROOT))

from targets import default_http_loop, uvicorn_options  # noqa: E402

FUNCTION = "check_order_status"
ORDER_ID = "ORD-001"
ORDER_STATUS = "shipped"  # ORD-001's status in the example's sample data


def expected_reply(status: str = ORDER_STATUS) -> str:
    """The text the instant model answers once the function's result is in."""
    return f"Order {ORDER_ID} is {status}"


def instant_model() -> Any:
    """A model that takes no time: it calls ``check_order_status`` once, then answers from the
    result (so the reply proves the function's data came back through the platform)."""
    from plati.engine.messages import FunctionResult
    from plati.engine.providers import ModelReply, ModelRequest
    from plati.engine.providers.scripted import ScriptedProvider, call, reply

    def answer(request: ModelRequest) -> ModelReply:
        # ScriptedProvider records every request for tests; a benchmark must not grow that list.
        provider.requests.clear()
        last = request.history[-1] if request.history else None
        if isinstance(last, FunctionResult):
            if last.success and isinstance(last.result, dict) and "status" in last.result:
                return reply(expected_reply(str(last.result["status"])))
            return reply(f"The call failed: {last.error or last.result!r}")
        return reply(call(FUNCTION, order_id=ORDER_ID))

    provider = ScriptedProvider(answer)
    return provider


# Passed on from the environment: bench_turns.py switches the abuse limits out of the way with them.
LIMIT_SETTINGS = ("PLATI_RATE_LIMIT", "PLATI_MAX_CONCURRENT_TURNS", "PLATI_REDIS_URL")


def platform_settings(data_dir: str, database_url: str) -> Any:
    import os

    from plati.settings import Settings

    limits = {name: os.environ[name] for name in LIMIT_SETTINGS if name in os.environ}
    return Settings.load(env={**limits, "PLATI_DATA_DIR": data_dir, "PLATI_DATABASE_URL": database_url})


def platform_app(data_dir: str, database_url: str) -> Any:
    from plati.app import create_app

    # As `plati serve` runs it.
    return create_app(platform_settings(data_dir, database_url), provider_override=instant_model(), freeze_gc=True)


def shop_app(db_path: str) -> Any:
    from examples.ecommerce.db import create_database
    from examples.ecommerce.server import create_server

    create_database(db_path)
    return create_server(db_path).app


def _profiled(run: Any, path: str) -> None:
    """Run ``run()`` with cProfile switched on by SIGUSR1 and off (and dumped) by SIGUSR2.

    The profiler's clock is the thread's CPU time, not the wall clock: the event loop idles in
    C (epoll) and the database driver's thread does the I/O, and a wall clock would charge those
    waits to whichever Python frame happens to be on top. Every SQL statement the process sends
    is also counted (by its first 100 characters; ``[driver]`` marks the hot path's statements,
    which bypass the engine, counted per row) and written to ``path + ".sql.json"``.
    """
    import collections
    import cProfile
    import json
    import signal
    import time

    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    profiler = cProfile.Profile(time.thread_time_ns, 1e-9)
    statements: collections.Counter[str] = collections.Counter()
    recording = False

    @event.listens_for(Engine, "before_cursor_execute")
    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if recording:
            statements[" ".join(statement.split())[:100]] += 1

    @event.listens_for(Engine, "commit")
    def count_commit(_conn: Any) -> None:
        if recording:
            statements["COMMIT"] += 1

    # The hot path bypasses the engine (plati.store.direct): count its statements at the driver.
    from plati.store import direct

    def counted(cls: Any) -> None:
        transaction, fetchone = cls.transaction, cls.fetchone

        async def counted_transaction(self: Any, work: Any) -> None:
            if recording:
                for statement, rows in work:
                    statements["[driver] " + " ".join(statement.sql.split())[:91]] += len(rows)
                statements["[driver] COMMIT"] += 1
            await transaction(self, work)

        async def counted_fetchone(self: Any, statement: Any, params: Any) -> Any:
            if recording:
                statements["[driver] " + " ".join(statement.sql.split())[:91]] += 1
            return await fetchone(self, statement, params)

        cls.transaction, cls.fetchone = counted_transaction, counted_fetchone

    counted(direct.SqliteDriver)
    counted(direct.PostgresDriver)

    def start(_signum: int, _frame: Any) -> None:
        nonlocal recording
        recording = True
        profiler.enable()

    def stop(_signum: int, _frame: Any) -> None:
        nonlocal recording
        profiler.disable()
        recording = False
        Path(path + ".sql.json").write_text(json.dumps(statements.most_common()))
        profiler.dump_stats(path)

    signal.signal(signal.SIGUSR1, start)
    signal.signal(signal.SIGUSR2, stop)
    run()


def main(argv: list[str]) -> None:
    import uvicorn

    kind, port = argv[0], int(argv[1])
    if kind == "shop":
        app, rest = shop_app(argv[2]), argv[3:]
    elif kind == "platform":
        app, rest = platform_app(argv[2], argv[3]), argv[4:]
    else:
        raise SystemExit(f"unknown server {kind!r}: use shop or platform")
    rest = [*rest, "", "", ""]
    http, loop = default_http_loop(rest[0] or None, rest[1] or None)
    options = uvicorn_options(http, loop)
    if kind == "platform" and rest[2]:
        _profiled(lambda: uvicorn.run(app, host="127.0.0.1", port=port, **options), rest[2])
    else:
        uvicorn.run(app, host="127.0.0.1", port=port, **options)


if __name__ == "__main__":
    main(sys.argv[1:])
