"""Abuse limits over HTTP: requests per API key, failed authentications per client address (in
memory, and shared through Redis by two platform instances), and the per-workspace cap on turns
running at once."""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from plati.app import create_app
from plati.engine.messages import UserText
from plati.engine.providers import ModelReply, ModelRequest
from plati.engine.providers.scripted import ScriptedProvider, reply
from plati.ids import new_id, utcnow
from plati.security.keys import generate_api_key, hash_api_key, key_prefix
from plati.store.db import Database
from plati.store.models import ApiKey
from tests.conftest import REDIS_URL, requires_redis, serve_app
from tests.plati.conftest import DatabaseTarget
from tests.plati_mcp.redis_support import delete_keys

from .conftest import Platform, Tenant, _create_tenant, make_settings

_addresses = itertools.count()


def limits(**env: str) -> pytest.MarkDecorator:
    """Run a test against a platform with these PLATI_* settings."""
    return pytest.mark.parametrize("platform_env", [env], ids=["limits"])


def client_from(url: str, key: str | None, address: str) -> httpx.Client:
    """A client whose connections come from ``address`` (a loopback address of its own)."""
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return httpx.Client(base_url=url, headers=headers, timeout=30, transport=httpx.HTTPTransport(local_address=address))


def fresh_address() -> str:
    """A loopback address no other test of this run has used (the whole of 127/8 is loopback)."""
    number = next(_addresses)
    return f"127.0.{number // 250}.{number % 250 + 2}"


def assert_refused(response: httpx.Response, status: int, code: str) -> int:
    """The response is ``status`` with ``code`` in the error envelope; returns its Retry-After."""
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"]["code"] == code
    assert body["message"]
    return int(response.headers["retry-after"])


def add_key(platform: Platform, workspace_id: str, *, revoked: bool) -> tuple[str, str]:
    """A new read-write key of the workspace, revoked at once if asked: ``(key_id, key)``."""

    async def add() -> tuple[str, str]:
        key, key_id = generate_api_key(), new_id("key")
        db = Database(platform.database_url, schema=platform.schema)
        try:
            async with db.sessionmaker() as session, session.begin():
                session.add(
                    ApiKey(
                        id=key_id,
                        workspace_id=workspace_id,
                        name="extra",
                        access="read-write",
                        key_hash=hash_api_key(key),
                        prefix=key_prefix(key),
                        created_at=utcnow(),
                        revoked_at=utcnow() if revoked else None,
                    )
                )
        finally:
            await db.aclose()
        return key_id, key

    return asyncio.run(add())


def last_used(platform: Platform, key_id: str) -> Any:
    async def read() -> Any:
        db = Database(platform.database_url, schema=platform.schema)
        try:
            async with db.sessionmaker() as session:
                return await session.scalar(sa.select(ApiKey.last_used_at).where(ApiKey.id == key_id))
        finally:
            await db.aclose()

    return asyncio.run(read())


def make_channel(http: httpx.Client) -> str:
    assistant_id = http.post("/assistant", json={"name": "Support"}).json()["data"]["id"]
    return str(http.post("/channels", json={"name": "web", "assistant_id": assistant_id}).json()["data"]["id"])


# -- requests per API key ---------------------------------------------------------------------------


@limits(PLATI_RATE_LIMIT="5/minute")
def test_a_key_over_its_rate_limit_gets_429_with_retry_after_and_other_keys_do_not(platform: Platform) -> None:
    with platform.client() as http:
        # Every authenticated request counts: writes, reads, and the chat route.
        channel_id = make_channel(http)
        assert http.post(f"/conversation/someone/chat/{channel_id}", json={"text": "Hello"}).status_code == 200
        assert http.get("/assistants").status_code == 200
        assert http.get("/channels").status_code == 200
        refused = [
            http.get("/assistants"),
            http.post(f"/conversation/someone/chat/{channel_id}", json={"text": "Hello"}),
        ]
    for response in refused:
        assert 1 <= assert_refused(response, 429, "rate_limited") <= 60
        assert response.json()["error"]["details"]["limit"] == "5 per 1 minute"
    with platform.client(platform.tenant.read_only_key) as same_workspace:
        assert same_workspace.get("/assistants").status_code == 200
    with platform.client(platform.other.api_key) as other_workspace:
        assert other_workspace.get("/assistants").status_code == 200


@limits(PLATI_RATE_LIMIT="off", PLATI_AUTH_FAILURE_LIMIT="1/minute")
def test_with_the_rate_limit_off_keys_are_not_counted_but_failed_authentications_still_are(
    platform: Platform,
) -> None:
    with client_from(platform.url, platform.tenant.api_key, fresh_address()) as http:
        assert [http.get("/assistants").status_code for _ in range(30)] == [200] * 30
        assert http.get("/assistants", headers={"Authorization": "Bearer plati_unknown"}).status_code == 401
        assert_refused(http.get("/assistants"), 429, "too_many_auth_failures")


# -- failed authentications per client address -------------------------------------------------------


@limits(PLATI_AUTH_FAILURE_LIMIT="3/minute")
def test_an_address_that_used_up_its_failed_authentications_is_refused_before_any_key_lookup(
    platform: Platform,
) -> None:
    """Documented behaviour: once an address is refused, even a valid key from it gets 429 until
    the window moves on (the key is not looked up at all); other addresses are unaffected."""
    _revoked_id, revoked = add_key(platform, platform.tenant.workspace_id, revoked=True)
    valid_id, valid = add_key(platform, platform.tenant.workspace_id, revoked=False)
    attacker = fresh_address()
    with client_from(platform.url, None, attacker) as http:
        failures = [
            http.get("/assistants"),  # no key
            http.get("/assistants", headers={"Authorization": "Bearer plati_unknown"}),
            http.get("/assistants", headers={"Authorization": f"Bearer {revoked}"}),
        ]
        assert [(r.status_code, r.json()["error"]["code"]) for r in failures] == [(401, "unauthorized")] * 3
        blocked = [
            http.get("/assistants", headers={"Authorization": "Bearer plati_unknown"}),
            http.get("/assistants", headers={"Authorization": f"Bearer {valid}"}),
            http.post("/conversation/x/chat/y", json={"text": "Hi"}, headers={"Authorization": f"Bearer {valid}"}),
            # Only a trusted proxy (uvicorn's --forwarded-allow-ips) may name the client address.
            http.get("/assistants", headers={"Authorization": f"Bearer {valid}", "X-Forwarded-For": "127.0.0.99"}),
        ]
    for response in blocked:
        assert 1 <= assert_refused(response, 429, "too_many_auth_failures") <= 60
    assert last_used(platform, valid_id) is None
    with client_from(platform.url, valid, fresh_address()) as elsewhere:
        assert elsewhere.get("/assistants").status_code == 200
    assert last_used(platform, valid_id) is not None


@limits(PLATI_AUTH_FAILURE_LIMIT="2/minute")
def test_valid_keys_do_not_count_as_failed_authentications(platform: Platform) -> None:
    bad = {"Authorization": "Bearer plati_unknown"}
    with client_from(platform.url, platform.tenant.api_key, fresh_address()) as http:
        assert [http.get("/assistants").status_code for _ in range(5)] == [200] * 5
        assert http.get("/assistants", headers=bad).status_code == 401
        assert [http.get("/assistants").status_code for _ in range(5)] == [200] * 5
        assert http.get("/assistants", headers=bad).status_code == 401
        assert_refused(http.get("/assistants"), 429, "too_many_auth_failures")


# -- Redis ------------------------------------------------------------------------------------------


@limits(PLATI_REDIS_URL="redis://127.0.0.1:1/0")
def test_an_unreachable_rate_limit_store_answers_503_not_500(platform: Platform) -> None:
    with platform.client() as http:
        answers = [http.get("/assistants"), http.get("/assistants", headers={"Authorization": "Bearer plati_x"})]
        health = http.get("/health")
    for response in answers:
        assert assert_refused(response, 503, "rate_limit_unavailable") == 5
        assert "127.0.0.1:1" not in response.text
    assert health.status_code == 200


@dataclass
class Instances:
    urls: list[str]
    tenant: Tenant


@pytest.fixture
def two_instances(tmp_path: Path, database_url: DatabaseTarget) -> Iterator[Instances]:
    """Two platform instances on one database and one Redis (a key prefix of their own)."""
    prefix = f"plati_test:{uuid.uuid4().hex}"
    settings = make_settings(
        tmp_path,
        database_url.url,
        PLATI_REDIS_URL=REDIS_URL,
        PLATI_RATE_LIMIT="4/minute",
        PLATI_AUTH_FAILURE_LIMIT="2/minute",
    )

    def app() -> Any:
        return create_app(settings, database_schema=database_url.schema, redis_prefix=prefix)

    try:
        with serve_app(app()) as first, serve_app(app()) as second:
            tenant = asyncio.run(_create_tenant(database_url.url, database_url.schema, "main"))
            yield Instances([first, second], tenant)
    finally:
        asyncio.run(delete_keys(prefix))


@requires_redis
def test_with_redis_two_platform_instances_share_the_counts(two_instances: Instances) -> None:
    first, second = two_instances.urls
    key = two_instances.tenant.api_key
    address = fresh_address()
    with client_from(first, key, address) as one, client_from(second, key, address) as two:
        assert [client.get("/assistants").status_code for client in (one, two, one, two)] == [200] * 4
        assert_refused(one.get("/assistants"), 429, "rate_limited")
        assert_refused(two.get("/assistants"), 429, "rate_limited")
        bad = {"Authorization": "Bearer plati_unknown"}
        assert [client.get("/assistants", headers=bad).status_code for client in (one, two)] == [401, 401]
        assert_refused(two.get("/assistants", headers=bad), 429, "too_many_auth_failures")
        assert_refused(one.get("/assistants", headers=bad), 429, "too_many_auth_failures")


# -- turns running at once per workspace -------------------------------------------------------------


class HeldModel(ScriptedProvider):
    """A scripted model that keeps every turn whose message starts with "hold" waiting until the
    test calls :meth:`release` (and answers the others at once)."""

    def __init__(self) -> None:
        super().__init__(self._answer)
        self.entered = threading.Semaphore(0)
        self._gate: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._released = threading.Event()

    async def _answer(self, request: ModelRequest) -> ModelReply:
        last = request.history[-1]
        if isinstance(last, UserText) and last.text.startswith("hold") and not self._released.is_set():
            if self._gate is None:
                self._loop, self._gate = asyncio.get_running_loop(), asyncio.Event()
            self.entered.release()
            await asyncio.wait_for(self._gate.wait(), 20)
        return reply("Done.")

    def wait_until_holding(self, turns: int) -> None:
        for _ in range(turns):
            assert self.entered.acquire(timeout=10), "a held turn never reached the model"

    def release(self) -> None:
        self._released.set()
        if self._loop is not None and self._gate is not None:
            self._loop.call_soon_threadsafe(self._gate.set)


@pytest.fixture
def model() -> HeldModel:
    return HeldModel()


def events_of(response: httpx.Response) -> list[dict[str, Any]]:
    return [json.loads(line[6:]) for line in response.iter_lines() if line.startswith("data: ")]


@limits(PLATI_MAX_CONCURRENT_TURNS="2")
def test_turns_beyond_the_workspace_cap_get_429_until_one_ends_and_other_workspaces_are_unaffected(
    platform: Platform, model: HeldModel
) -> None:
    with platform.client() as http, platform.client() as streaming, ThreadPoolExecutor(1) as pool:
        channel_id = make_channel(http)
        chat = f"/conversation/{{}}/chat/{channel_id}"
        try:
            # Two turns held open: one streamed (GET), one JSON (POST, waiting in a thread).
            with streaming.stream(
                "GET", "/conversation/held-1/streaming", params={"channel_id": channel_id, "text": "hold on"}
            ) as held_stream:
                held_json = pool.submit(http.post, chat.format("held-2"), json={"text": "hold on"})
                model.wait_until_holding(2)
                refused = [
                    http.post(chat.format("late"), json={"text": "Hello"}),
                    http.post(chat.format("late"), json={"text": "Hello"}, headers={"Accept": "text/event-stream"}),
                    http.get("/conversation/late/streaming", params={"channel_id": channel_id, "text": "Hello"}),
                ]
                for response in refused:
                    assert assert_refused(response, 429, "too_many_turns") == 1
                assert http.get("/conversations", params={"identity_id": "late"}).json()["data"]["conversations"] == []
                with platform.client(platform.other.api_key) as other:
                    other_channel = make_channel(other)
                    assert other.post(f"/conversation/x/chat/{other_channel}", json={"text": "Hi"}).status_code == 200
                model.release()
                assert events_of(held_stream)[-1]["type"] == "complete"
            assert held_json.result(timeout=20).status_code == 200
        finally:
            model.release()
        # Turns that fail before they run give their slot back too.
        assert [http.post(f"/conversation/late/chat/nope-{n}", json={"text": "Hi"}).status_code for n in range(3)] == [
            404
        ] * 3
        assert [http.post(chat.format(f"late-{n}"), json={"text": "Hello"}).status_code for n in range(3)] == [200] * 3


@limits(PLATI_MAX_CONCURRENT_TURNS="1")
def test_a_streamed_turn_keeps_its_slot_after_its_client_disconnects_until_the_turn_ends(
    platform: Platform, model: HeldModel
) -> None:
    with platform.client() as http:
        channel_id = make_channel(http)
        try:
            with http.stream(
                "POST",
                f"/conversation/gone/chat/{channel_id}",
                json={"text": "hold on"},
                headers={"Accept": "text/event-stream"},
            ) as response:
                assert response.status_code == 200
                model.wait_until_holding(1)
            # The client is gone; the turn runs on and holds the workspace's only slot.
            assert_refused(
                http.post(f"/conversation/next/chat/{channel_id}", json={"text": "Hi"}), 429, "too_many_turns"
            )
        finally:
            model.release()
        deadline = time.monotonic() + 10
        while (answer := http.post(f"/conversation/next/chat/{channel_id}", json={"text": "Hi"})).status_code != 200:
            assert_refused(answer, 429, "too_many_turns")
            assert time.monotonic() < deadline, "the slot of the finished turn was never given back"
            time.sleep(0.05)  # polling for the detached turn to end, not timing a behaviour
        messages = http.get("/conversations", params={"identity_id": "gone"}).json()["data"]["conversations"]
        assert len(messages) == 1
