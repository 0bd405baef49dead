"""Shared fixtures: real loopback servers (uvicorn on port 0), Redis availability, and the guard
that keeps every test of the suite on loopback."""

from __future__ import annotations

import contextlib
import errno
import ipaddress
import socket
from collections.abc import Iterator
from typing import Any

import pytest
import uvicorn.config
from examples.serving import serve_in_thread

REDIS_URL = "redis://127.0.0.1:6379/0"


def serve_app(app: Any, host: str = "127.0.0.1") -> contextlib.AbstractContextManager[str]:
    """Serve an ASGI app with uvicorn on a free loopback port in a thread; yield its base URL."""
    return serve_in_thread(app, host)


def redis_available() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=0.5):
            return True
    except OSError:
        return False


requires_redis = pytest.mark.skipif(not redis_available(), reason="Redis is not reachable at 127.0.0.1:6379")


@pytest.fixture(autouse=True)
def no_real_model_providers(monkeypatch: pytest.MonkeyPatch) -> None:
    """Kill switch: no test can reach a real model provider. Credentials are removed and the SDKs'
    default endpoints point at a closed loopback port, so a provider built without an explicit
    base URL fails at once instead of calling out."""
    for name in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "PLATI_OPENAI_API_KEY", "PLATI_ANTHROPIC_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", "http://127.0.0.1:9")


class BlockedLookup(socket.gaierror):
    """A name lookup the test network guard refused (it never reached a resolver)."""


class BlockedConnection(OSError):
    """A connection the test network guard refused (no packet was sent)."""


def _ip(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        address = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


class LoopbackOnly:
    """The suite's network guard: name lookups answer only ``localhost`` and loopback or
    unspecified IP literals (the latter for binding), and a TCP/UDP ``connect`` reaches loopback
    addresses only. ``refused`` lists every host it stopped, in order."""

    def __init__(self) -> None:
        self.refused: list[str] = []

    def lookup_allowed(self, host: str | None) -> bool:
        if host is None or host in ("", "localhost"):
            return True
        address = _ip(host)
        return address is not None and (address.is_loopback or address.is_unspecified)

    def connect_allowed(self, host: str) -> bool:
        # A host name here would be resolved inside the C socket module, out of the lookup
        # guard's reach: only ``localhost`` passes.
        if host == "localhost":
            return True
        address = _ip(host)
        return address is not None and address.is_loopback

    def refuse_lookup(self, host: str) -> BlockedLookup:
        self.refused.append(host)
        return BlockedLookup(socket.EAI_NONAME, f"the test network guard refused to resolve {host!r} (loopback only)")

    def refuse_connection(self, host: str, port: object) -> BlockedConnection:
        self.refused.append(host)
        return BlockedConnection(
            errno.ENETUNREACH, f"the test network guard refused a connection to {host}:{port} (loopback only)"
        )


def _host_of(host: object) -> str | None:
    if host is None:
        return None
    return host.decode("ascii", "replace") if isinstance(host, bytes | bytearray) else str(host)


@pytest.fixture(scope="session", autouse=True)
def loopback_only() -> Iterator[LoopbackOnly]:
    """No test can open a socket to anything but loopback.

    ``socket.getaddrinfo`` and ``socket.socket.connect`` / ``connect_ex`` are where asyncio's
    event loop (``loop.getaddrinfo`` runs ``socket.getaddrinfo`` in a thread, ``sock_connect`` calls
    ``sock.connect``), aiohttp, anyio/httpx and blocking clients all end up. uvloop resolves and
    connects inside libuv, out of their reach, so servers started by uvicorn in this process get
    the standard asyncio loop instead (``loop="auto"`` and ``loop="uvloop"``).
    """
    guard = LoopbackOnly()
    real_getaddrinfo = socket.getaddrinfo
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        name = _host_of(host)
        if not guard.lookup_allowed(name):
            raise guard.refuse_lookup(str(name))
        return real_getaddrinfo(host, *args, **kwargs)

    def check(sock: socket.socket, address: Any) -> None:
        if sock.family in (socket.AF_INET, socket.AF_INET6) and isinstance(address, tuple):
            host = _host_of(address[0]) or ""
            if not guard.connect_allowed(host):
                raise guard.refuse_connection(host, address[1] if len(address) > 1 else "?")

    def connect(self: socket.socket, address: Any) -> None:
        check(self, address)
        real_connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> int:
        check(self, address)
        return real_connect_ex(self, address)

    asyncio_loop = uvicorn.config.LOOP_FACTORIES["asyncio"]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(socket, "getaddrinfo", getaddrinfo)
        patch.setattr(socket.socket, "connect", connect)
        patch.setattr(socket.socket, "connect_ex", connect_ex)
        patch.setitem(uvicorn.config.LOOP_FACTORIES, "auto", asyncio_loop)
        patch.setitem(uvicorn.config.LOOP_FACTORIES, "uvloop", asyncio_loop)
        yield guard


# -- the PostgreSQL half, said in one line at the end of every run ---------------------------------

_POSTGRES_SKIP_REASON = "PLATI_TEST_DATABASE_URL"


def postgresql_summary(url: str, ran: int, skipped: int) -> str:
    """The one line saying whether the PostgreSQL half of the suite ran, and how to run it."""
    if url:
        from sqlalchemy.engine import make_url

        shown = make_url(url).render_as_string(hide_password=True)
        return f"PostgreSQL: {ran} test(s) ran against {shown}."
    return (
        f"PostgreSQL: not run ({skipped} test(s) skipped). To run them, point PLATI_TEST_DATABASE_URL at a "
        "database you may write to, e.g. PLATI_TEST_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/test "
        "python3 dev.py test (.ci/run does this)."
    )


def _on_postgresql(nodeid: str) -> bool:
    """Whether a test id names the PostgreSQL parameter (``[postgresql]``, ``[postgresql-...]``)."""
    return "[postgresql]" in nodeid or "[postgresql-" in nodeid or "-postgresql]" in nodeid or "-postgresql-" in nodeid


def pytest_terminal_summary(terminalreporter: Any) -> None:
    import os

    stats = terminalreporter.stats
    skipped = sum(
        1 for report in stats.get("skipped", []) if _POSTGRES_SKIP_REASON in str(getattr(report, "longrepr", ""))
    )
    ran = sum(
        1
        for outcome in ("passed", "failed", "error")
        for report in stats.get(outcome, [])
        if getattr(report, "when", "call") == "call" and _on_postgresql(getattr(report, "nodeid", ""))
    )
    if not skipped and not ran:
        return  # a selection without platform tests
    terminalreporter.write_line(postgresql_summary(os.environ.get("PLATI_TEST_DATABASE_URL", ""), ran, skipped))
