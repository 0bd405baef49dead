"""Background work: ``@mcp.function(background=True)`` (SPEC section 2).

The server replies at once with a ``task_id``; :class:`BackgroundRunner` runs the work, records its
progress in a :class:`TaskStore` (served at ``GET /tasks/{task_id}``) and, when the call carried
``X-Plati-Callback-Url``, POSTs the finished record there, signed with
``X-Plati-Signature: sha256=<hex HMAC-SHA256 of the body>``. :func:`verify_signature` is the
receiving side's check.
"""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import hashlib
import hmac
import json
import logging
import time
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable
from urllib.parse import urlsplit, urlunsplit

import httpx
from pydantic_core import to_jsonable_python

from plati_mcp._redis import REDIS_SCHEMES, LazyRedis, redact_url, url_scheme
from plati_mcp.errors import PlatiMCPError

if TYPE_CHECKING:
    from redis.asyncio import Redis

__all__ = [
    "SIGNATURE_HEADER",
    "BackgroundRunner",
    "CallbackSender",
    "MemoryTaskStore",
    "RedisTaskStore",
    "TaskRecord",
    "TaskResult",
    "TaskStatus",
    "TaskStore",
    "TaskStoreUnavailable",
    "sign_body",
    "task_store_from_url",
    "verify_signature",
]

logger = logging.getLogger("plati_mcp.tasks")

SIGNATURE_HEADER = "X-Plati-Signature"

TaskStatus = Literal["pending", "running", "succeeded", "failed"]
_FINISHED: frozenset[str] = frozenset({"succeeded", "failed"})


class TaskStoreUnavailable(PlatiMCPError):
    """The task store cannot be reached; the message names its URL (without the password)."""

    def __init__(self, url: str, reason: str) -> None:
        self.url = redact_url(url)
        super().__init__(f"Task store at {self.url} is unavailable: {reason}")


@dataclass(kw_only=True)
class TaskRecord:
    """One background task as the store keeps it. Timestamps are the store clock's (``time.time``)."""

    task_id: str
    function: str
    status: TaskStatus
    result: Any = None
    error: str | None = None
    created_at: float
    updated_at: float

    @property
    def finished(self) -> bool:
        return self.status in _FINISHED

    def to_wire(self) -> dict[str, Any]:
        """The ``GET /tasks/{task_id}`` and callback document."""
        wire: dict[str, Any] = {"task_id": self.task_id, "status": self.status}
        if self.status == "succeeded":
            wire["result"] = self.result
        elif self.status == "failed":
            wire["error"] = self.error
        return wire

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), separators=(",", ":"), ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> TaskRecord:
        return cls(**json.loads(text))


@dataclass(frozen=True)
class TaskResult:
    """What background work returns: ``data`` on success, an ``error`` message the caller sees otherwise."""

    success: bool
    data: Any = None
    error: str | None = None


def new_task_id() -> str:
    return "task_" + uuid.uuid4().hex


@runtime_checkable
class TaskStore(Protocol):
    """Where task records live while the work runs and for a while after it ends."""

    async def create(self, function: str) -> TaskRecord:
        """Record a new pending task with a fresh id."""
        ...

    async def update(
        self, task_id: str, *, status: TaskStatus, result: Any = None, error: str | None = None
    ) -> TaskRecord | None:
        """Set the status (and result or error); ``None`` when the task is unknown or expired."""
        ...

    async def get(self, task_id: str) -> TaskRecord | None: ...

    async def aclose(self) -> None: ...


class MemoryTaskStore:
    """Task records kept in this process.

    Finished tasks expire ``ttl_seconds`` after they end; beyond ``max_tasks`` records the oldest
    finished ones are dropped first. Unfinished records are never dropped: their number is bounded
    by the work actually scheduled.

    Raises:
        ValueError: when ``ttl_seconds`` or ``max_tasks`` is not positive.
    """

    def __init__(
        self,
        ttl_seconds: float = 3600,
        max_tasks: int = 10_000,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if ttl_seconds <= 0:
            raise ValueError(f"ttl_seconds must be positive, got {ttl_seconds!r}.")
        if max_tasks < 1:
            raise ValueError(f"max_tasks must be at least 1, got {max_tasks!r}.")
        self.ttl_seconds = ttl_seconds
        self.max_tasks = max_tasks
        self._clock = clock
        self._records: dict[str, TaskRecord] = {}
        # Finished task ids in the order they finished, i.e. in expiry order.
        self._finished: OrderedDict[str, float] = OrderedDict()

    def _sweep(self) -> None:
        now = self._clock()
        while self._finished:
            task_id, finished_at = next(iter(self._finished.items()))
            if finished_at + self.ttl_seconds > now and len(self._records) <= self.max_tasks:
                break
            del self._finished[task_id]
            self._records.pop(task_id, None)

    async def create(self, function: str) -> TaskRecord:
        now = self._clock()
        record = TaskRecord(task_id=new_task_id(), function=function, status="pending", created_at=now, updated_at=now)
        self._records[record.task_id] = record
        self._sweep()
        return dataclasses.replace(record)

    async def update(
        self, task_id: str, *, status: TaskStatus, result: Any = None, error: str | None = None
    ) -> TaskRecord | None:
        self._sweep()
        record = self._records.get(task_id)
        if record is None:
            return None
        record.status, record.result, record.error = status, copy.deepcopy(result), error
        record.updated_at = self._clock()
        if record.finished:
            self._finished[task_id] = record.updated_at
            self._finished.move_to_end(task_id)
        return copy.deepcopy(record)

    async def get(self, task_id: str) -> TaskRecord | None:
        self._sweep()
        record = self._records.get(task_id)
        return None if record is None else copy.deepcopy(record)

    async def aclose(self) -> None:
        self._records.clear()
        self._finished.clear()


class RedisTaskStore:
    """Task records in Redis, one JSON string per task, so any process can answer ``GET /tasks/{id}``.

    Finished records expire after ``ttl_seconds``; unfinished ones after ``running_ttl_seconds``, so
    records of work lost in a crashed process do not stay forever.

    Raises:
        ValueError: at construction, when ``url`` is not a ``redis://`` or ``rediss://`` URL.
        TaskStoreUnavailable: from any operation, when Redis cannot be reached.
    """

    def __init__(
        self,
        url: str,
        *,
        ttl_seconds: int = 3600,
        running_ttl_seconds: int = 86400,
        key_prefix: str = "plati_mcp:task:",
    ) -> None:
        if url_scheme(url) not in REDIS_SCHEMES:
            raise ValueError(f"RedisTaskStore needs a redis:// or rediss:// URL, got {redact_url(url)!r}.")
        if ttl_seconds <= 0 or running_ttl_seconds <= 0:
            raise ValueError(
                f"ttl_seconds and running_ttl_seconds must be positive, got {ttl_seconds!r} "
                f"and {running_ttl_seconds!r}."
            )
        self.url = url
        self.ttl_seconds = ttl_seconds
        self.running_ttl_seconds = running_ttl_seconds
        self.key_prefix = key_prefix
        self._lazy = LazyRedis(url, "RedisTaskStore")

    def _redis(self) -> Redis:
        return self._lazy.get()

    def _ttl(self, record: TaskRecord) -> int:
        return self.ttl_seconds if record.finished else self.running_ttl_seconds

    async def create(self, function: str) -> TaskRecord:
        from redis.exceptions import ConnectionError, TimeoutError

        now = time.time()
        record = TaskRecord(task_id=new_task_id(), function=function, status="pending", created_at=now, updated_at=now)
        try:
            await self._redis().set(self.key_prefix + record.task_id, record.to_json(), ex=self._ttl(record), nx=True)
        except (ConnectionError, TimeoutError) as exc:
            raise TaskStoreUnavailable(self.url, str(exc)) from exc
        return record

    async def update(
        self, task_id: str, *, status: TaskStatus, result: Any = None, error: str | None = None
    ) -> TaskRecord | None:
        from redis.exceptions import ConnectionError, TimeoutError

        # Only the runner that owns a task updates it, so read-modify-write needs no lock;
        # xx=True keeps an expired record from being recreated half-empty.
        record = await self.get(task_id)
        if record is None:
            return None
        record.status, record.result, record.error = status, result, error
        record.updated_at = time.time()
        try:
            written = await self._redis().set(
                self.key_prefix + task_id, record.to_json(), ex=self._ttl(record), xx=True
            )
        except (ConnectionError, TimeoutError) as exc:
            raise TaskStoreUnavailable(self.url, str(exc)) from exc
        return record if written else None

    async def get(self, task_id: str) -> TaskRecord | None:
        from redis.exceptions import ConnectionError, TimeoutError

        try:
            text: str | None = await self._redis().get(self.key_prefix + task_id)  # type: ignore[assignment]
        except (ConnectionError, TimeoutError) as exc:
            raise TaskStoreUnavailable(self.url, str(exc)) from exc
        return None if text is None else TaskRecord.from_json(text)

    async def aclose(self) -> None:
        await self._lazy.aclose()


def task_store_from_url(url: str | None, **kwargs: Any) -> TaskStore:
    """A task store for ``url``: ``None`` or ``memory://`` → in memory, ``redis://``/``rediss://`` → Redis.

    Raises:
        ValueError: for any other scheme.
    """
    if url is None or url_scheme(url) == "memory":
        return MemoryTaskStore(**kwargs)
    scheme = url_scheme(url)
    if scheme in REDIS_SCHEMES:
        return RedisTaskStore(url, **kwargs)
    raise ValueError(
        f"Unsupported task store scheme {scheme!r} in {redact_url(url)!r}; use memory:// or redis://host:port/db."
    )


def sign_body(body: bytes, secret: str) -> str:
    """The ``X-Plati-Signature`` value for ``body``: ``"sha256=<hex HMAC-SHA256>"``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify_signature(body: bytes, secret: str, header: str | None) -> bool:
    """Whether ``header`` (the received ``X-Plati-Signature``) signs ``body`` with ``secret``.

    Pass the raw request body, before any JSON parsing. The comparison takes constant time.
    """
    if not header:
        return False
    return hmac.compare_digest(sign_body(body, secret).encode(), header.strip().encode())


def _for_log(url: str) -> str:
    # Callback URLs may carry a token in the query or user part; logs get neither.
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparsable URL>"
    return urlunsplit((parts.scheme, parts.netloc.rpartition("@")[2], parts.path, "", ""))


class CallbackSender:
    """POSTs finished-task documents to callback URLs, signed when a secret is set.

    Connection errors and 5xx replies are retried ``attempts`` times in all, waiting ``backoff``,
    then twice that, and so on; 4xx replies are not retried. Failures are logged, never raised.

    Raises:
        ValueError: at construction, when ``attempts`` < 1 or ``timeout``/``backoff`` is negative.
    """

    def __init__(
        self,
        secret: str | None,
        *,
        timeout: float = 10.0,
        attempts: int = 3,
        backoff: float = 0.5,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        if attempts < 1:
            raise ValueError(f"attempts must be at least 1, got {attempts!r}.")
        if timeout <= 0 or backoff < 0:
            raise ValueError(f"timeout must be positive and backoff non-negative, got {timeout!r} and {backoff!r}.")
        self._secret = secret
        self.timeout = timeout
        self.attempts = attempts
        self.backoff = backoff
        self._client = client
        self._owns_client = client is None

    def __repr__(self) -> str:
        return f"CallbackSender(signed={self._secret is not None}, attempts={self.attempts})"

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self.timeout)
        return self._client

    async def send(self, url: str, document: dict[str, Any]) -> bool:
        """POST ``document`` as JSON to ``url``; whether a 2xx reply came back."""
        try:
            scheme = httpx.URL(url).scheme
        except httpx.InvalidURL:
            scheme = ""
        if scheme not in ("http", "https"):
            logger.warning("Not sending task callback: %r is not an http(s) URL", _for_log(url))
            return False
        body = json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()
        headers = {"Content-Type": "application/json"}
        if self._secret is not None:
            headers[SIGNATURE_HEADER] = sign_body(body, self._secret)

        where = _for_log(url)
        for attempt in range(1, self.attempts + 1):
            try:
                response = await self._http().post(url, content=body, headers=headers, timeout=self.timeout)
            except httpx.TransportError as exc:
                problem = f"{type(exc).__name__}: {exc}"
            else:
                if response.is_success:
                    return True
                if response.status_code < 500:
                    logger.warning(
                        "Task callback to %s refused with HTTP %d; not retrying", where, response.status_code
                    )
                    return False
                problem = f"HTTP {response.status_code}"
            if attempt < self.attempts:
                logger.info("Task callback to %s failed (%s); retry %d/%d", where, problem, attempt, self.attempts)
                await asyncio.sleep(self.backoff * 2 ** (attempt - 1))
            else:
                logger.warning("Task callback to %s failed after %d attempts: %s", where, self.attempts, problem)
        return False

    async def aclose(self) -> None:
        """Close the HTTP client if this sender created it."""
        if self._owns_client and self._client is not None:
            client, self._client = self._client, None
            await client.aclose()


class BackgroundRunner:
    """Runs background work as asyncio tasks, records its outcome and sends the callback.

    At most ``max_concurrent`` pieces of work run at once; the rest stay ``pending`` until a slot
    frees. Close it on shutdown with :meth:`aclose` (which cancels unfinished work); the store and
    the sender are closed by whoever created them.
    """

    def __init__(self, store: TaskStore, sender: CallbackSender, *, max_concurrent: int = 100) -> None:
        if max_concurrent < 1:
            raise ValueError(f"max_concurrent must be at least 1, got {max_concurrent!r}.")
        self.store = store
        self.sender = sender
        self._slots = asyncio.Semaphore(max_concurrent)
        # Strong references: the event loop only keeps weak ones to running tasks.
        self._running: dict[str, asyncio.Task[None]] = {}

    async def start(
        self, function: str, work: Callable[[], Awaitable[TaskResult]], callback_url: str | None
    ) -> TaskRecord:
        """Record a pending task, schedule ``work`` and return the record at once.

        Raises:
            TaskStoreUnavailable: when the task cannot be recorded (the work is then not started).
        """
        record = await self.store.create(function)
        task = asyncio.create_task(self._run(record, work, callback_url), name=f"plati_mcp {function} {record.task_id}")
        self._running[record.task_id] = task
        task.add_done_callback(lambda _: self._running.pop(record.task_id, None))
        return record

    async def _run(
        self, record: TaskRecord, work: Callable[[], Awaitable[TaskResult]], callback_url: str | None
    ) -> None:
        finished = False
        try:
            async with self._slots:
                await self.store.update(record.task_id, status="running")
                outcome = await self._outcome(record, work)
            final = await self.store.update(record.task_id, **outcome)
            finished = True
            if callback_url is not None:
                if final is None:  # expired or evicted meanwhile; the caller still gets the outcome
                    final = dataclasses.replace(record, **outcome, updated_at=time.time())
                await self.sender.send(callback_url, final.to_wire())
        except asyncio.CancelledError:
            if not finished:
                await self._record_cancelled(record)
            raise
        except Exception:
            # Nobody awaits this task: log here or the failure is only reported at garbage collection.
            logger.exception("Could not complete task %s (%s)", record.task_id, record.function)

    async def _outcome(self, record: TaskRecord, work: Callable[[], Awaitable[TaskResult]]) -> dict[str, Any]:
        try:
            result = await work()
            if not isinstance(result, TaskResult):
                raise TypeError(f"background work must return a TaskResult, got {type(result).__name__}")
            if not result.success:
                return {"status": "failed", "error": result.error or "The function failed."}
            return {"status": "succeeded", "result": to_jsonable_python(result.data)}
        except Exception:
            error_id = uuid.uuid4().hex[:8]
            logger.exception("Background task %s (%s) failed; error id %s", record.task_id, record.function, error_id)
            return {"status": "failed", "error": f"Internal error (id {error_id})"}

    async def _record_cancelled(self, record: TaskRecord) -> None:
        try:
            await self.store.update(record.task_id, status="failed", error="Cancelled: the server shut down.")
        except PlatiMCPError:
            logger.warning("Could not record the cancellation of task %s", record.task_id)

    async def wait(self, task_id: str) -> TaskRecord | None:
        """Wait until the task ``task_id`` ends (if it runs here) and return its record."""
        task = self._running.get(task_id)
        if task is not None:
            await asyncio.wait([task])
        return await self.store.get(task_id)

    async def aclose(self) -> None:
        """Cancel unfinished work and wait for it to stop."""
        tasks = list(self._running.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
