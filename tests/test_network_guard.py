"""The suite's network guard (``loopback_only`` in ``tests/conftest.py``): no test can reach
anything but loopback, whichever client or event loop it uses."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator

import aiohttp
import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.conftest import BlockedConnection, BlockedLookup, LoopbackOnly, serve_app

# Documentation addresses and names (RFC 5737, 3849, 2606): outside loopback, yet even a broken
# guard would send nothing anyone answers.
PUBLIC_TARGETS = ["http://192.0.2.10/", "http://[2001:db8::10]/", "http://www.example.com/"]
FAST = 5.0  # seconds: a refusal is immediate; a real attempt at these would hang until a timeout


def _causes(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    todo: list[BaseException] = [exc]
    while todo:
        current = todo.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        todo.extend(item for item in (current.__cause__, current.__context__) if item is not None)
        if isinstance(current, aiohttp.ClientConnectorError):
            todo.append(current.os_error)


def _refused_by_guard(exc: BaseException) -> bool:
    return any(isinstance(item, BlockedConnection | BlockedLookup) for item in _causes(exc))


@pytest.mark.parametrize("url", PUBLIC_TARGETS)
async def test_an_aiohttp_request_to_a_public_address_fails_fast_without_connecting(
    url: str, loopback_only: LoopbackOnly
) -> None:
    before = len(loopback_only.refused)
    async with aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.ClientConnectorError) as caught:
            async with asyncio.timeout(FAST):
                await session.get(url)
    assert _refused_by_guard(caught.value)
    assert len(loopback_only.refused) > before


@pytest.mark.parametrize("url", PUBLIC_TARGETS)
async def test_an_httpx_request_to_a_public_address_fails_fast_without_connecting(
    url: str, loopback_only: LoopbackOnly
) -> None:
    before = len(loopback_only.refused)
    async with httpx.AsyncClient() as client:
        with pytest.raises(httpx.ConnectError) as caught:
            async with asyncio.timeout(FAST):
                await client.get(url)
    assert _refused_by_guard(caught.value)
    assert len(loopback_only.refused) > before


@pytest.mark.parametrize("url", PUBLIC_TARGETS)
def test_a_blocking_httpx_request_to_a_public_address_fails_fast_without_connecting(url: str) -> None:
    with httpx.Client(timeout=FAST) as client, pytest.raises(httpx.ConnectError) as caught:
        client.get(url)
    assert _refused_by_guard(caught.value)


def test_a_raw_socket_cannot_connect_to_a_public_address_or_resolve_a_public_name() -> None:
    with socket.socket() as sock, pytest.raises(BlockedConnection):
        sock.connect(("192.0.2.10", 80))
    with socket.socket() as sock, pytest.raises(BlockedConnection):
        sock.connect_ex(("10.0.0.1", 80))
    with socket.socket() as sock, pytest.raises(BlockedConnection):
        sock.connect(("www.example.com", 80))  # the C module would resolve this itself
    with pytest.raises(BlockedLookup):
        socket.getaddrinfo("www.example.com", 80)
    with pytest.raises(BlockedLookup):
        socket.getaddrinfo("10.0.0.1", 80)


async def test_loopback_stays_reachable_by_address_and_by_localhost() -> None:
    async def hello(request: Request) -> JSONResponse:
        return JSONResponse({"ok": True})

    with serve_app(Starlette(routes=[Route("/", hello)])) as url:
        port = url.rsplit(":", 1)[1]
        async with httpx.AsyncClient() as client:
            assert (await client.get(url)).json() == {"ok": True}
            assert (await client.get(f"http://localhost:{port}/")).status_code == 200
        async with aiohttp.ClientSession() as session, session.get(url) as reply:
            assert reply.status == 200


def test_a_server_running_in_the_test_process_cannot_reach_a_public_address(loopback_only: LoopbackOnly) -> None:
    """uvicorn's own event loop (uvloop when installed resolves and connects in libuv) is kept on
    the guarded asyncio loop: a request made from inside a served app is refused too."""

    async def relay(request: Request) -> JSONResponse:
        target = request.query_params["to"]
        try:
            async with aiohttp.ClientSession() as session, session.get(target) as reply:
                return JSONResponse({"reached": reply.status})
        except aiohttp.ClientConnectorError as exc:
            return JSONResponse(
                {"refused": _refused_by_guard(exc), "loop": type(asyncio.get_running_loop()).__module__}
            )

    with serve_app(Starlette(routes=[Route("/relay", relay)])) as url:
        for target in PUBLIC_TARGETS:
            reply = httpx.get(f"{url}/relay", params={"to": target}, timeout=FAST * 2)
            assert reply.json() == {"refused": True, "loop": "asyncio.unix_events"}
