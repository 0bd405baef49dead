"""Statements compiled once by SQLAlchemy and executed straight on the database driver.

The ORM costs about 1.4 ms of event-loop CPU per statement (session, unit of work, greenlet
switch, pool checkout and reset), Core on a pooled connection about 0.8 ms, the same statement
on the driver 0.07-0.15 ms (``docs/benchmarks.md``). Every API request checks its key and every
turn stores its parts as it runs, so those few statements go through here; everything else
keeps the ORM.

SQLAlchemy still writes the SQL and converts the values: a :class:`Statement` is a Core
statement compiled for the engine's dialect, with the bind and result processors of its column
types, so rows written here read back through the ORM exactly as if the ORM had written them.

- SQLite: a stdlib ``sqlite3`` connection on a thread of its own; a whole transaction is one
  hop to that thread.
- PostgreSQL: an asyncpg connection borrowed from the engine's pool for the life of the
  process, so it carries the pool's setup (``search_path``, JSON codecs).

:class:`GroupCommit` batches writes: those that arrive while a transaction is running are
committed together in the next one, so throughput grows with concurrency while a lone writer
pays one transaction per write.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import Awaitable, Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol, TypeVar

import asyncpg
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.sql.expression import Delete, Insert, Select, Update

T = TypeVar("T")
Row = tuple[Any, ...]
Processor = Callable[[Any], Any]
SQLITE_BUSY_TIMEOUT_SECONDS = 30.0
# SQLSTATE classes of errors about a statement, after which the connection is still fine: data
# exception, integrity constraint violation, transaction rollback, syntax error or access rule.
_STATEMENT_ERROR_CLASSES = frozenset({"22", "23", "40", "42"})


class Statement:
    """One Core statement, compiled once for ``dialect``.

    ``rank`` orders statements inside a group commit (a turn's row before its messages).
    """

    def __init__(
        self,
        statement: Insert | Update | Delete | Select[Any],
        dialect: Dialect,
        *,
        keys: Sequence[str] = (),
        rank: int = 0,
    ) -> None:
        compiled = statement.compile(dialect=dialect, column_keys=list(keys) or None)
        if compiled.positiontup is None:
            raise ValueError(f"{dialect.name} does not use positional parameters")
        self.sql = compiled.string
        self.rank = rank
        self.names: tuple[str, ...] = tuple(compiled.positiontup)
        self._binds: tuple[tuple[str, Processor | None], ...] = tuple(
            (name, compiled.binds[name].type.dialect_impl(dialect).bind_processor(dialect)) for name in self.names
        )
        if "POSTCOMPILE" in self.sql:
            raise ValueError("statements with literal_execute parameters cannot be compiled once")
        # Parameters the statement fixes itself (e.g. SQLite's OFFSET 0 after a LIMIT).
        self._fixed = {
            name: compiled.binds[name].value
            for name in self.names
            if not compiled.binds[name].required and compiled.binds[name].value is not None
        }
        # A SELECT's columns, or what an INSERT, UPDATE or DELETE returns (RETURNING).
        columns = statement.selected_columns if isinstance(statement, Select) else statement.exported_columns
        self._results: tuple[Processor | None, ...] = tuple(
            column.type.dialect_impl(dialect).result_processor(dialect, None) for column in columns
        )

    def params(self, values: Mapping[str, Any]) -> Row:
        """The driver's positional parameters for ``values`` (keyed by bind name).

        Raises:
            KeyError: a parameter is missing.
        """
        if self._fixed:
            values = {**self._fixed, **values}
        return tuple(values[name] if process is None else process(values[name]) for name, process in self._binds)

    def result(self, row: Sequence[Any]) -> Row:
        """A driver row with the column types' conversions applied."""
        return tuple(
            value if process is None else process(value) for value, process in zip(row, self._results, strict=True)
        )


Write = tuple[Statement, Row]


class Driver(Protocol):
    async def fetchone(self, statement: Statement, params: Row) -> Row | None: ...

    async def fetchall(self, statement: Statement, params: Row) -> list[Row]: ...

    async def transaction(self, work: Sequence[tuple[Statement, Sequence[Row]]]) -> None: ...

    async def aclose(self) -> None: ...


class SqliteDriver:
    """A stdlib ``sqlite3`` connection used from one thread of its own."""

    def __init__(self, path: str, *, synchronous: str = "NORMAL") -> None:
        self.path = path
        self.synchronous = synchronous
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="plati-sqlite")
        self._connection: sqlite3.Connection | None = None

    async def open(self) -> None:
        await self._run(self._connect)

    def _connect(self) -> None:
        # Autocommit mode (isolation_level=None): transactions are opened explicitly below.
        connection = sqlite3.connect(
            self.path, timeout=SQLITE_BUSY_TIMEOUT_SECONDS, isolation_level=None, check_same_thread=False
        )
        connection.execute("PRAGMA foreign_keys=ON")
        connection.execute(f"PRAGMA synchronous={self.synchronous}")
        self._connection = connection

    async def _run(self, function: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._thread, function, *args)

    def _conn(self) -> sqlite3.Connection:
        if self._connection is None:
            raise RuntimeError("The SQLite driver is closed")
        return self._connection

    async def fetchone(self, statement: Statement, params: Row) -> Row | None:
        def fetch() -> Row | None:
            row = self._conn().execute(statement.sql, params).fetchone()
            return None if row is None else statement.result(row)

        result: Row | None = await self._run(fetch)
        return result

    async def fetchall(self, statement: Statement, params: Row) -> list[Row]:
        def fetch() -> list[Row]:
            return [statement.result(row) for row in self._conn().execute(statement.sql, params).fetchall()]

        result: list[Row] = await self._run(fetch)
        return result

    async def transaction(self, work: Sequence[tuple[Statement, Sequence[Row]]]) -> None:
        def run() -> None:
            connection = self._conn()
            # IMMEDIATE takes the write lock first (waiting up to the busy timeout), so the
            # transaction cannot fail half-way on a lock upgrade.
            connection.execute("BEGIN IMMEDIATE")
            try:
                for statement, rows in work:
                    if len(rows) == 1:
                        connection.execute(statement.sql, rows[0])
                    else:
                        connection.executemany(statement.sql, rows)
                connection.execute("COMMIT")
            except BaseException:
                if connection.in_transaction:
                    connection.execute("ROLLBACK")
                raise

        await self._run(run)

    async def aclose(self) -> None:
        if self._connection is not None:
            connection, self._connection = self._connection, None
            await self._run(connection.close)
        self._thread.shutdown(wait=True)


class PostgresDriver:
    """An asyncpg connection borrowed from the engine's pool until :meth:`aclose`.

    One operation runs at a time on it; a connection that broke (a server restart) is dropped
    from the pool and replaced at the next use.
    """

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._borrowed: AsyncConnection | None = None
        self._driver: Any = None
        self._lock = asyncio.Lock()

    async def open(self) -> None:
        borrowed = await self.engine.connect()
        try:
            raw = await borrowed.get_raw_connection()
            self._driver = raw.driver_connection
        except BaseException:
            await borrowed.close()
            raise
        self._borrowed = borrowed

    async def _connection(self) -> Any:
        if self._driver is None or self._driver.is_closed():
            await self._drop()
            await self.open()
        return self._driver

    async def _drop(self) -> None:
        borrowed, driver = self._borrowed, self._driver
        self._borrowed, self._driver = None, None
        if driver is not None:
            driver.terminate()  # closes the socket now, whatever the protocol's state
        if borrowed is not None:
            # It is already broken: keep the caller's error, not the pool's trouble closing it.
            with contextlib.suppress(Exception):
                await borrowed.invalidate()
            with contextlib.suppress(Exception):
                await borrowed.close()

    async def _use(self, operation: Callable[[Any], Awaitable[T]]) -> T:
        """Run ``operation`` on the connection, alone. Anything but an error the server reported
        about the statement itself (data, a constraint, SQL, a serialization conflict) leaves the
        connection in an unknown state (a broken socket, a server shutting down, an operation cut
        short): it is dropped, and the next use reconnects."""
        async with self._lock:
            connection = await self._connection()
            try:
                return await operation(connection)
            except BaseException as exc:
                sqlstate = getattr(exc, "sqlstate", None) if isinstance(exc, asyncpg.PostgresError) else None
                if not sqlstate or sqlstate[:2] not in _STATEMENT_ERROR_CLASSES or connection.is_closed():
                    await self._drop()
                raise

    async def fetchone(self, statement: Statement, params: Row) -> Row | None:
        row = await self._use(lambda connection: connection.fetchrow(statement.sql, *params))
        return None if row is None else statement.result(tuple(row))

    async def fetchall(self, statement: Statement, params: Row) -> list[Row]:
        rows = await self._use(lambda connection: connection.fetch(statement.sql, *params))
        return [statement.result(tuple(row)) for row in rows]

    async def transaction(self, work: Sequence[tuple[Statement, Sequence[Row]]]) -> None:
        async def run(connection: Any) -> None:
            if len(work) == 1:
                # One statement is atomic by itself (asyncpg's executemany too): no BEGIN and
                # COMMIT round trips.
                await self._execute(connection, *work[0])
                return
            async with connection.transaction():
                for statement, rows in work:
                    await self._execute(connection, statement, rows)

        await self._use(run)

    @staticmethod
    async def _execute(connection: Any, statement: Statement, rows: Sequence[Row]) -> None:
        if len(rows) == 1:
            await connection.execute(statement.sql, *rows[0])
        else:
            await connection.executemany(statement.sql, rows)

    async def aclose(self) -> None:
        async with self._lock:
            borrowed, self._borrowed, self._driver = self._borrowed, None, None
            if borrowed is not None:
                await borrowed.close()


async def open_driver(engine: AsyncEngine, *, sqlite_synchronous: str = "NORMAL") -> Driver:
    """A driver connection to the database of ``engine`` (SQLite file or PostgreSQL);
    ``sqlite_synchronous`` is SQLite's ``PRAGMA synchronous`` (the engine's own connections set it
    too, see :func:`plati.store.db.create_engine`).

    Raises:
        ValueError: another backend, or an in-memory SQLite database (it would be a second,
            empty database).
    """
    backend = engine.dialect.name
    driver: SqliteDriver | PostgresDriver
    if backend == "sqlite":
        path = make_url(str(engine.url)).database
        if not path or path == ":memory:" or path.startswith("file:"):
            raise ValueError("The platform needs a SQLite file, not an in-memory database")
        driver = SqliteDriver(path, synchronous=sqlite_synchronous)
    elif backend == "postgresql":
        driver = PostgresDriver(engine)
    else:
        raise ValueError(f"Unsupported database backend {backend!r}: use SQLite or PostgreSQL")
    await driver.open()
    return driver


class GroupCommit:
    """Commits writes on one driver connection, in the order they were submitted, batching those
    that arrive together.

    :meth:`submit` queues writes and returns a future that resolves once they are committed.
    Writes submitted while a transaction runs wait for the next one, which commits all of them;
    a batch that fails is retried one submission at a time, so only the submission at fault sees
    the error. Whoever submits must await the future (or the error goes unretrieved).
    """

    def __init__(self, driver: Driver) -> None:
        self.driver = driver
        self._queue: list[tuple[Sequence[Write], asyncio.Future[None]]] = []
        self._drainer: asyncio.Task[None] | None = None

    def submit(self, writes: Sequence[Write]) -> asyncio.Future[None]:
        """Queue ``writes`` (committed together, possibly with other submissions); the future
        fails with the driver's error when they could not be committed."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if not writes:
            future.set_result(None)
            return future
        self._queue.append((writes, future))
        if self._drainer is None:
            self._drainer = asyncio.create_task(self._drain())
        return future

    async def write(self, writes: Sequence[Write]) -> None:
        """Submit ``writes`` and wait until they are committed.

        Raises:
            Exception: the driver's error when they could not be committed.
        """
        # Shielded: a writer that is cancelled does not cancel the commit (of it or of others).
        await asyncio.shield(self.submit(writes))

    async def _drain(self) -> None:
        try:
            while self._queue:
                batch, self._queue = self._queue, []
                await self._commit(batch)
        finally:
            self._drainer = None

    async def _commit(self, batch: list[tuple[Sequence[Write], asyncio.Future[None]]]) -> None:
        try:
            await self.driver.transaction(_grouped(writes for writes, _ in batch))
        except Exception as exc:
            if len(batch) == 1:
                _settle(batch[0][1], exc)
                return
            for writes, future in batch:
                try:
                    await self.driver.transaction(_grouped([writes]))
                except Exception as single:
                    _settle(future, single)
                else:
                    _settle(future, None)
            return
        for _, future in batch:
            _settle(future, None)

    async def aclose(self) -> None:
        """Wait for the writes under way."""
        if self._drainer is not None:
            await asyncio.shield(self._drainer)


def _grouped(batches: Any) -> list[tuple[Statement, list[Row]]]:
    """Every write, grouped by statement in rank order (one executemany per statement)."""
    groups: dict[int, tuple[Statement, list[Row]]] = {}
    for writes in batches:
        for statement, params in writes:
            group = groups.get(id(statement))
            if group is None:
                groups[id(statement)] = group = (statement, [])
            group[1].append(params)
    return sorted(groups.values(), key=lambda group: group[0].rank)


def _settle(future: asyncio.Future[None], error: Exception | None) -> None:
    if future.done():
        return
    if error is None:
        future.set_result(None)
    else:
        future.set_exception(error)


__all__ = ["Driver", "GroupCommit", "PostgresDriver", "Row", "SqliteDriver", "Statement", "Write", "open_driver"]
