"""Background work: task stores (memory and Redis), signed callbacks to a real loopback receiver,
retries, and the runner's recording of every outcome."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
from redis.asyncio import Redis

from plati_mcp.tasks import (
    SIGNATURE_HEADER,
    BackgroundRunner,
    CallbackSender,
    MemoryTaskStore,
    RedisTaskStore,
    TaskRecord,
    TaskResult,
    TaskStore,
    TaskStoreUnavailable,
    sign_body,
    task_store_from_url,
    verify_signature,
)
from tests.conftest import REDIS_URL, requires_redis

SECRET = "callback-secret-42"
TIMEOUT = 10


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes


@dataclass
class CallbackReceiver:
    """A raw HTTP/1.1 server on a loopback port that answers POSTs with scripted statuses."""

    statuses: list[int] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    url: str = ""

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        headers = {}
        for line in lines[1:]:
            if ":" in line:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
        body = await reader.readexactly(int(headers.get("content-length", "0")))
        self.received.append(Received(headers, body))
        status = self.statuses.pop(0) if self.statuses else 200
        writer.write(f"HTTP/1.1 {status} Scripted\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".encode())
        await writer.drain()
        writer.close()
        await writer.wait_closed()
        self.arrived.set()


@pytest.fixture
async def receiver() -> AsyncIterator[CallbackReceiver]:
    recv = CallbackReceiver()
    server = await asyncio.start_server(recv.handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    recv.url = f"http://127.0.0.1:{port}/callback?token=url-token"
    async with server:
        yield recv


@pytest.fixture
async def sender() -> AsyncIterator[CallbackSender]:
    callback_sender = CallbackSender(SECRET, backoff=0, timeout=TIMEOUT)
    yield callback_sender
    await callback_sender.aclose()


@pytest.fixture(params=["memory", pytest.param("redis", marks=requires_redis)])
async def store(request: pytest.FixtureRequest, redis_prefix: str) -> AsyncIterator[TaskStore]:
    task_store: TaskStore = (
        MemoryTaskStore() if request.param == "memory" else RedisTaskStore(REDIS_URL, key_prefix=redis_prefix)
    )
    yield task_store
    await task_store.aclose()


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/callback"


# Records and signatures


def test_the_wire_document_has_the_result_or_error_by_status() -> None:
    common = {"task_id": "task_1", "function": "f", "created_at": 1.0, "updated_at": 2.0}
    assert TaskRecord(**common, status="pending").to_wire() == {"task_id": "task_1", "status": "pending"}
    assert TaskRecord(**common, status="running").to_wire() == {"task_id": "task_1", "status": "running"}
    assert TaskRecord(**common, status="succeeded", result={"n": 1}).to_wire() == {
        "task_id": "task_1",
        "status": "succeeded",
        "result": {"n": 1},
    }
    assert TaskRecord(**common, status="failed", error="boom").to_wire() == {
        "task_id": "task_1",
        "status": "failed",
        "error": "boom",
    }


def test_signatures_are_hmac_sha256_of_the_exact_body() -> None:
    body = b'{"task_id":"task_1","status":"succeeded","result":1}'
    header = sign_body(body, SECRET)
    assert header.startswith("sha256=")
    assert len(header) == len("sha256=") + 64
    assert verify_signature(body, SECRET, header)
    assert verify_signature(body, SECRET, f"  {header} ")


@pytest.mark.parametrize(
    ("body", "secret", "header"),
    [
        (b"tampered", SECRET, sign_body(b"original", SECRET)),
        (b"original", "other-secret", sign_body(b"original", SECRET)),
        (b"original", SECRET, None),
        (b"original", SECRET, ""),
        (b"original", SECRET, "sha256=nothex"),
        (b"original", SECRET, "sha256=é"),
    ],
)
def test_bad_signatures_are_rejected(body: bytes, secret: str, header: str | None) -> None:
    assert not verify_signature(body, secret, header)


# Stores


async def test_a_task_goes_from_pending_to_succeeded(store: TaskStore) -> None:
    record = await store.create("export_report")
    assert record.task_id.startswith("task_")
    assert len(record.task_id) == len("task_") + 32
    assert record.status == "pending"
    assert record.function == "export_report"
    assert (await store.get(record.task_id)) == record

    running = await store.update(record.task_id, status="running")
    assert running is not None
    assert running.status == "running"
    done = await store.update(record.task_id, status="succeeded", result={"rows": [1, 2]})
    assert done is not None
    assert done.updated_at >= record.created_at
    fetched = await store.get(record.task_id)
    assert fetched is not None
    assert fetched.to_wire() == {"task_id": record.task_id, "status": "succeeded", "result": {"rows": [1, 2]}}


async def test_unknown_tasks_are_none(store: TaskStore) -> None:
    assert await store.get("task_missing") is None
    assert await store.update("task_missing", status="failed", error="x") is None
    assert await store.get("task_missing") is None


async def test_records_from_the_store_are_copies(store: TaskStore) -> None:
    record = await store.create("f")
    await store.update(record.task_id, status="succeeded", result={"items": [1]})
    fetched = await store.get(record.task_id)
    assert fetched is not None
    fetched.result["items"].append(2)
    fetched.status = "failed"
    again = await store.get(record.task_id)
    assert again is not None
    assert again.status == "succeeded"
    assert again.result == {"items": [1]}


async def test_memory_finished_tasks_expire_but_running_ones_do_not() -> None:
    clock = FakeClock()
    store = MemoryTaskStore(ttl_seconds=60, clock=clock)
    finished = await store.create("f")
    running = await store.create("f")
    await store.update(finished.task_id, status="succeeded", result=1)
    await store.update(running.task_id, status="running")
    clock.now += 59
    assert await store.get(finished.task_id) is not None
    clock.now += 1
    assert await store.get(finished.task_id) is None
    assert await store.get(running.task_id) is not None
    clock.now += 10**6
    assert await store.get(running.task_id) is not None


async def test_memory_store_evicts_the_oldest_finished_task_first() -> None:
    store = MemoryTaskStore(max_tasks=3)
    unfinished = await store.create("f")
    old = await store.create("f")
    recent = await store.create("f")
    await store.update(old.task_id, status="failed", error="x")
    await store.update(recent.task_id, status="succeeded")
    newest = await store.create("f")
    assert await store.get(old.task_id) is None
    assert await store.get(recent.task_id) is not None
    assert await store.get(unfinished.task_id) is not None
    assert await store.get(newest.task_id) is not None


async def test_memory_store_keeps_unfinished_tasks_beyond_the_bound() -> None:
    store = MemoryTaskStore(max_tasks=1)
    records = [await store.create("f") for _ in range(3)]
    assert all([await store.get(record.task_id) is not None for record in records])


@requires_redis
async def test_redis_records_expire_after_the_ttl_of_their_status(redis_prefix: str) -> None:
    store = RedisTaskStore(REDIS_URL, ttl_seconds=50, running_ttl_seconds=500, key_prefix=redis_prefix)
    client = Redis.from_url(REDIS_URL, decode_responses=True)
    try:
        record = await store.create("f")
        key = redis_prefix + record.task_id
        assert 50 < await client.ttl(key) <= 500
        await store.update(record.task_id, status="succeeded", result=[1])
        assert 0 < await client.ttl(key) <= 50
        assert json.loads(await client.get(key))["result"] == [1]
    finally:
        await client.aclose()
        await store.aclose()


async def test_unreachable_redis_raises_task_store_unavailable_without_the_password() -> None:
    store = RedisTaskStore("redis://:hunter2@127.0.0.1:1/0")
    try:
        with pytest.raises(TaskStoreUnavailable) as exc_info:
            await store.create("f")
        assert "hunter2" not in str(exc_info.value)
    finally:
        await store.aclose()


def test_task_store_from_url_picks_the_store_by_scheme() -> None:
    assert isinstance(task_store_from_url(None), MemoryTaskStore)
    assert isinstance(task_store_from_url("memory://"), MemoryTaskStore)
    assert isinstance(task_store_from_url(REDIS_URL), RedisTaskStore)
    with pytest.raises(ValueError, match="sqlite"):
        task_store_from_url("sqlite:///tasks.db")


# Callbacks


async def test_callbacks_are_signed_json(receiver: CallbackReceiver, sender: CallbackSender) -> None:
    document = {"task_id": "task_1", "status": "succeeded", "result": {"name": "Zoë", "n": 1}}
    assert await sender.send(receiver.url, document)
    [request] = receiver.received
    assert request.headers["content-type"] == "application/json"
    assert verify_signature(request.body, SECRET, request.headers[SIGNATURE_HEADER.lower()])
    assert json.loads(request.body) == document


async def test_callbacks_without_a_secret_are_not_signed(receiver: CallbackReceiver) -> None:
    sender = CallbackSender(None)
    try:
        assert await sender.send(receiver.url, {"task_id": "task_1", "status": "failed", "error": "x"})
    finally:
        await sender.aclose()
    [request] = receiver.received
    assert SIGNATURE_HEADER.lower() not in request.headers


async def test_callbacks_are_retried_after_a_server_error(receiver: CallbackReceiver, sender: CallbackSender) -> None:
    receiver.statuses = [500, 503, 200]
    assert await sender.send(receiver.url, {"task_id": "task_1", "status": "running"})
    assert len(receiver.received) == 3
    assert len({request.body for request in receiver.received}) == 1


async def test_callbacks_give_up_after_the_last_attempt(
    receiver: CallbackReceiver, sender: CallbackSender, caplog: pytest.LogCaptureFixture
) -> None:
    receiver.statuses = [500, 500, 500, 500]
    with caplog.at_level(logging.INFO, logger="plati_mcp.tasks"):
        assert not await sender.send(receiver.url, {"task_id": "task_1", "status": "running"})
    assert len(receiver.received) == 3
    assert "HTTP 500" in caplog.text
    assert SECRET not in caplog.text
    assert "url-token" not in caplog.text


async def test_callbacks_are_not_retried_after_a_client_error(
    receiver: CallbackReceiver, sender: CallbackSender
) -> None:
    receiver.statuses = [400]
    assert not await sender.send(receiver.url, {"task_id": "task_1", "status": "running"})
    assert len(receiver.received) == 1


async def test_callbacks_to_a_closed_port_are_retried_then_abandoned(caplog: pytest.LogCaptureFixture) -> None:
    sender = CallbackSender(SECRET, attempts=2, backoff=0)
    try:
        with caplog.at_level(logging.INFO, logger="plati_mcp.tasks"):
            assert not await sender.send(closed_port_url(), {"task_id": "task_1", "status": "running"})
    finally:
        await sender.aclose()
    assert "ConnectError" in caplog.text
    assert SECRET not in caplog.text


@pytest.mark.parametrize("url", ["ftp://127.0.0.1/callback", "file:///etc/passwd", "not a url", "http://[::1"])
async def test_callbacks_only_go_to_http_urls(url: str, sender: CallbackSender) -> None:
    assert not await sender.send(url, {"task_id": "task_1", "status": "running"})


def test_sender_refuses_bad_retry_settings() -> None:
    with pytest.raises(ValueError, match="attempts"):
        CallbackSender(None, attempts=0)


# Runner


async def test_the_runner_records_success_and_posts_the_signed_record(
    store: TaskStore, receiver: CallbackReceiver, sender: CallbackSender
) -> None:
    runner = BackgroundRunner(store, sender)

    async def work() -> TaskResult:
        return TaskResult(success=True, data={"report": "ready"})

    record = await runner.start("export_report", work, receiver.url)
    assert record.status == "pending"
    await asyncio.wait_for(receiver.arrived.wait(), TIMEOUT)
    final = await asyncio.wait_for(runner.wait(record.task_id), TIMEOUT)
    expected = {"task_id": record.task_id, "status": "succeeded", "result": {"report": "ready"}}
    assert final is not None
    assert final.to_wire() == expected
    [request] = receiver.received
    assert verify_signature(request.body, SECRET, request.headers[SIGNATURE_HEADER.lower()])
    assert json.loads(request.body) == expected
    await runner.aclose()


async def test_the_runner_marks_work_running_while_it_runs(store: TaskStore, sender: CallbackSender) -> None:
    runner = BackgroundRunner(store, sender, max_concurrent=1)
    started = asyncio.Event()
    release = asyncio.Event()

    async def blocking() -> TaskResult:
        started.set()
        await release.wait()
        return TaskResult(success=True, data=1)

    async def quick() -> TaskResult:
        return TaskResult(success=True, data=2)

    first = await runner.start("slow", blocking, None)
    second = await runner.start("quick", quick, None)
    await asyncio.wait_for(started.wait(), TIMEOUT)
    running = await store.get(first.task_id)
    waiting = await store.get(second.task_id)
    assert running is not None
    assert running.status == "running"
    assert waiting is not None
    assert waiting.status == "pending"  # only one slot

    release.set()
    done = await asyncio.wait_for(runner.wait(second.task_id), TIMEOUT)
    assert done is not None
    assert done.to_wire()["result"] == 2
    await runner.aclose()


async def test_the_runner_records_a_reported_failure(store: TaskStore, sender: CallbackSender) -> None:
    runner = BackgroundRunner(store, sender)

    async def work() -> TaskResult:
        return TaskResult(success=False, error="Order ORD-9 not found")

    record = await runner.start("f", work, None)
    final = await asyncio.wait_for(runner.wait(record.task_id), TIMEOUT)
    assert final is not None
    assert final.to_wire() == {"task_id": record.task_id, "status": "failed", "error": "Order ORD-9 not found"}
    await runner.aclose()


async def test_an_exception_in_the_work_is_logged_and_recorded_as_an_internal_error(
    store: TaskStore, receiver: CallbackReceiver, sender: CallbackSender, caplog: pytest.LogCaptureFixture
) -> None:
    runner = BackgroundRunner(store, sender)

    async def work() -> TaskResult:
        raise RuntimeError("database password is hunter2")

    with caplog.at_level(logging.ERROR, logger="plati_mcp.tasks"):
        record = await runner.start("f", work, receiver.url)
        final = await asyncio.wait_for(runner.wait(record.task_id), TIMEOUT)
    assert final is not None
    assert final.status == "failed"
    assert final.error is not None
    error_id = final.error.removeprefix("Internal error (id ").removesuffix(")")
    assert len(error_id) == 8
    [logged] = [r for r in caplog.records if r.exc_info]
    assert error_id in logged.getMessage()
    assert json.loads(receiver.received[0].body) == final.to_wire()
    assert "hunter2" not in receiver.received[0].body.decode()
    await runner.aclose()


async def test_results_that_are_not_json_become_internal_errors(store: TaskStore, sender: CallbackSender) -> None:
    runner = BackgroundRunner(store, sender)

    async def work() -> TaskResult:
        return TaskResult(success=True, data=object())

    record = await runner.start("f", work, None)
    final = await asyncio.wait_for(runner.wait(record.task_id), TIMEOUT)
    assert final is not None
    assert final.status == "failed"
    assert final.error is not None
    assert final.error.startswith("Internal error (id ")
    await runner.aclose()


async def test_closing_the_runner_cancels_unfinished_work(store: TaskStore, sender: CallbackSender) -> None:
    runner = BackgroundRunner(store, sender)
    started = asyncio.Event()

    async def forever() -> TaskResult:
        started.set()
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    record = await runner.start("f", forever, None)
    await asyncio.wait_for(started.wait(), TIMEOUT)
    await asyncio.wait_for(runner.aclose(), TIMEOUT)
    final = await store.get(record.task_id)
    assert final is not None
    assert final.status == "failed"
