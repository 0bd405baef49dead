"""The network policy inside the HTTP clients: every connection goes to an address the policy
checked (see :mod:`.network`).

- aiohttp (the simple protocol's connector): :class:`PolicyResolver`, the connector's resolver.
  aiohttp connects to the addresses a resolver returns and never resolves again, so the checked
  address is the one connected to. IP-literal hosts skip resolvers: they are checked with the URL.
- httpx2 (MCP transports, model providers): :func:`policy_transport`, whose connection pool opens
  every TCP connection through :class:`PolicyNetworkBackend`, which resolves and checks the host
  and connects to the checked address (TLS still verifies the certificate against the host name).

A refusal travels through the clients as a connection failure caused by :class:`RefusedAddress`
and is recovered with :func:`refusal_in`.
"""

from __future__ import annotations

import errno
import socket
from collections.abc import Iterable

import anyio
import httpcore2
import httpx2
from aiohttp.abc import AbstractResolver, ResolveResult

from ..errors import AddressNotAllowed
from .network import NetworkPolicy


class RefusedAddress(OSError):
    """A connection the policy refused; ``refusal`` is the :class:`AddressNotAllowed` to raise."""

    def __init__(self, refusal: AddressNotAllowed) -> None:
        super().__init__(errno.EACCES, refusal.message)
        self.refusal = refusal


def refusal_in(exc: BaseException) -> AddressNotAllowed | None:
    """The policy refusal behind ``exc`` (its causes, contexts and exception groups), if any."""
    seen: set[int] = set()
    pending: list[BaseException] = [exc]
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, AddressNotAllowed):
            return current
        if isinstance(current, RefusedAddress):
            return current.refusal
        if isinstance(current, BaseExceptionGroup):
            pending.extend(current.exceptions)
        for linked in (current.__cause__, current.__context__):
            if linked is not None:
                pending.append(linked)
    return None


class PolicyResolver(AbstractResolver):
    """An aiohttp resolver that only ever returns addresses the policy allows."""

    def __init__(self, policy: NetworkPolicy) -> None:
        self.policy = policy

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        try:
            addresses = await self.policy.resolve(host, port)
        except AddressNotAllowed as exc:
            raise RefusedAddress(exc) from None
        return [
            {
                "hostname": host,
                "host": address,
                "port": port,
                "family": socket.AF_INET6 if ":" in address else socket.AF_INET,
                "proto": 0,
                "flags": socket.AI_NUMERICHOST,
            }
            for address in addresses
        ]

    async def close(self) -> None:
        return None


class PolicyNetworkBackend(httpcore2.AsyncNetworkBackend):
    """An httpcore2 network backend that resolves through the policy and connects to the checked
    addresses, one after the other until one answers."""

    def __init__(self, policy: NetworkPolicy, inner: httpcore2.AsyncNetworkBackend | None = None) -> None:
        self.policy = policy
        self._inner = inner if inner is not None else httpcore2.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore2's backend interface
        local_address: str | None = None,
        socket_options: Iterable[httpcore2.SOCKET_OPTION] | None = None,
    ) -> httpcore2.AsyncNetworkStream:
        try:
            with anyio.fail_after(timeout):
                addresses = await self.policy.resolve(host, port)
        except AddressNotAllowed as exc:
            # A connection error to every client above (they retry or report it as one), with
            # the refusal as its cause for whoever looks (refusal_in).
            raise httpcore2.ConnectError(exc.message) from RefusedAddress(exc)
        except TimeoutError as exc:
            raise httpcore2.ConnectTimeout(f"resolving {host} timed out") from exc
        except OSError as exc:
            raise httpcore2.ConnectError(str(exc)) from exc
        failure: Exception | None = None
        for address in addresses:
            try:
                return await self._inner.connect_tcp(
                    address, port, timeout=timeout, local_address=local_address, socket_options=socket_options
                )
            except (httpcore2.ConnectError, httpcore2.ConnectTimeout) as exc:
                failure = exc
        assert failure is not None  # resolve() returns at least one address
        raise failure

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore2's backend interface
        socket_options: Iterable[httpcore2.SOCKET_OPTION] | None = None,
    ) -> httpcore2.AsyncNetworkStream:
        raise httpcore2.ConnectError("Unix sockets are not reachable through the network policy")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class PolicyTransport(httpx2.AsyncHTTPTransport):
    """``httpx2.AsyncHTTPTransport`` whose connections go through :class:`PolicyNetworkBackend`.

    Its clients must not use proxies from the environment (``trust_env=False`` on the client): a
    proxy would connect on our behalf to an address the policy never saw. ``SSL_CERT_FILE`` and
    ``SSL_CERT_DIR`` are honoured (private certificate authorities).
    """

    def __init__(self, policy: NetworkPolicy, *, limits: httpx2.Limits = httpx2.Limits()) -> None:
        super().__init__(limits=limits)
        self._pool = httpcore2.AsyncConnectionPool(
            ssl_context=httpx2.create_ssl_context(),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=PolicyNetworkBackend(policy),
        )


def policy_transport(
    policy: NetworkPolicy | None, *, limits: httpx2.Limits = httpx2.Limits()
) -> httpx2.AsyncHTTPTransport:
    """The transport for connections to workspace-chosen addresses (a plain one without a policy)."""
    if policy is None:
        return httpx2.AsyncHTTPTransport(limits=limits)
    return PolicyTransport(policy, limits=limits)


__all__ = [
    "PolicyNetworkBackend",
    "PolicyResolver",
    "PolicyTransport",
    "RefusedAddress",
    "policy_transport",
    "refusal_in",
]
