"""The network policy: which addresses the platform may connect to on a workspace's behalf.

One policy governs every outgoing connection to an address a workspace chose — function servers
(all HTTP transports) and model base URLs — and later callback and webhook URLs. It is applied
twice:

1. **When a URL is accepted** (registration, update, workspace and assistant settings) and when
   tools are refreshed: :meth:`NetworkPolicy.check_url` checks its form,
   :meth:`NetworkPolicy.check_url_resolved` also resolves the name and checks every address, so a
   refused URL is a 422 before any connection is attempted.
2. **When a connection is made**: the HTTP clients resolve names through
   :meth:`NetworkPolicy.resolve` (see :mod:`plati.security.egress`) and connect to the addresses it
   checked, never to a second answer of the DNS (no rebinding); a redirect would go through the same
   check, and the platform's function-server clients do not follow redirects at all.

Rules, in order (``rule`` is what a refusal names):

- ``scheme``: only ``http`` and ``https``. Always.
- ``credentials_in_url``: a URL must not carry ``user:password@``; credentials go in headers
  (stored encrypted, shown masked). Always.
- ``ambiguous_address``: numeric hosts in any form but canonical dotted quads (``2130706433``,
  ``0x7f.1``, ``0177.0.0.1``, ``127.1``): resolvers disagree on what they mean. Always.
- ``link_local``, ``metadata``, ``multicast``, ``unspecified``, ``reserved``: link-local
  (``169.254.0.0/16``, ``fe80::/10``), cloud metadata endpoints (``169.254.169.254``,
  ``fd00:ec2::254``, ``100.100.100.200``, ``192.0.0.192``), multicast, ``0.0.0.0/8`` and ``::``,
  ``240.0.0.0/4`` and broadcast. Always, whatever the allowlist says.
- ``loopback``, ``private``: ``127.0.0.0/8``, ``::1``, the private ranges (``10/8``,
  ``172.16/12``, ``192.168/16``, ``100.64/10``, ``fc00::/7`` ...). Allowed by default — a
  self-hosted platform calls the business's own servers — and refused when the operator sets
  ``PLATI_BLOCK_PRIVATE_NETWORKS``, except for the hosts and networks of ``PLATI_ALLOWED_HOSTS``.

IPv6 forms that embed an IPv4 address (``::ffff:a.b.c.d``, NAT64 ``64:ff9b::/96``, 6to4
``2002::/16``) are judged by the embedded address. A name is refused when *any* of its addresses
is refused.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from ..errors import AddressNotAllowed

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Awaitable[Sequence[str]]]
"""``(host, port) -> IP addresses`` (as strings). Tests pass their own; see :func:`system_resolver`."""

BLOCK_SETTING = "PLATI_BLOCK_PRIVATE_NETWORKS"
ALLOW_SETTING = "PLATI_ALLOWED_HOSTS"

_METADATA = frozenset(
    ipaddress.ip_address(address)
    for address in ("169.254.169.254", "fd00:ec2::254", "100.100.100.200", "192.0.0.192", "169.254.170.2")
)
_SHARED = ipaddress.ip_network("100.64.0.0/10")  # carrier-grade NAT: private in practice
_THIS_NETWORK = ipaddress.ip_network("0.0.0.0/8")
_BROADCAST = ipaddress.IPv4Address("255.255.255.255")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_NUMERIC_HOST = re.compile(r"^(?:0x[0-9a-f]*|[0-9]+)(?:\.(?:0x[0-9a-f]*|[0-9]+))*\.?$", re.IGNORECASE)
_CANONICAL_V4 = re.compile(r"^(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?:\.(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$")

_ALWAYS_REASONS = {
    "metadata": "a cloud metadata address",
    "link_local": "a link-local address",
    "multicast": "a multicast address",
    "unspecified": "an unspecified address",
    "reserved": "a reserved address",
}


async def system_resolver(host: str, port: int) -> Sequence[str]:
    """The operating system's resolver (``getaddrinfo``), without blocking the event loop."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    seen: dict[str, None] = {}
    for info in infos:
        seen.setdefault(str(info[4][0]), None)
    return list(seen)


def address_class(address: IPAddress) -> str:
    """What kind of address this is: ``metadata``, ``link_local``, ``multicast``, ``unspecified``,
    ``reserved`` (never allowed), ``loopback``, ``private`` (blockable) or ``public``."""
    embedded = _embedded_v4(address)
    if embedded is not None:
        return address_class(embedded)
    if address in _METADATA:
        return "metadata"
    if address.is_link_local:
        return "link_local"
    if address.is_multicast:
        return "multicast"
    if address.is_unspecified or (isinstance(address, ipaddress.IPv4Address) and address in _THIS_NETWORK):
        return "unspecified"
    if address.is_loopback:  # before "reserved": ::1 lies in the reserved ::/8
        return "loopback"
    if address.is_reserved or address == _BROADCAST:
        return "reserved"
    if address.is_private or (isinstance(address, ipaddress.IPv4Address) and address in _SHARED):
        return "private"
    return "public"


def _embedded_v4(address: IPAddress) -> ipaddress.IPv4Address | None:
    if not isinstance(address, ipaddress.IPv6Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def _literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


@dataclass(frozen=True)
class Target:
    """A URL that passed :meth:`NetworkPolicy.check_url`: its host (lower case, no brackets) and port."""

    host: str
    port: int
    address: IPAddress | None  # the host, when it is an IP literal


class NetworkPolicy:
    """Decides which URLs and addresses outgoing connections may use (see the module docstring).

    Args:
        block_private: refuse loopback and private addresses (``PLATI_BLOCK_PRIVATE_NETWORKS``).
        allowed_hosts: host names (``api.internal``, ``*.corp.example``), addresses and networks
            (``10.1.2.3``, ``10.0.0.0/8``) that stay allowed when private addresses are blocked
            (``PLATI_ALLOWED_HOSTS``). They never allow what is always refused.
        resolver: how names become addresses (default: :func:`system_resolver`).

    Raises:
        ValueError: an ``allowed_hosts`` entry is neither a host name nor an address or network.
    """

    def __init__(
        self,
        *,
        block_private: bool = False,
        allowed_hosts: Iterable[str] = (),
        resolver: Resolver | None = None,
    ) -> None:
        self.block_private = block_private
        self.resolver: Resolver = resolver or system_resolver
        self._networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
        self._names: set[str] = set()
        self._suffixes: list[str] = []
        for entry in allowed_hosts:
            self._allow(entry.strip().lower())

    def _allow(self, entry: str) -> None:
        if not entry:
            return
        try:
            self._networks.append(ipaddress.ip_network(entry.strip("[]"), strict=False))
            return
        except ValueError:
            pass
        if entry.startswith("*."):
            name = entry[2:]
            if _valid_name(name):
                self._suffixes.append("." + name)
                return
        elif _valid_name(entry):
            self._names.add(entry.rstrip("."))
            return
        raise ValueError(
            f"{entry!r} is neither a host name (api.internal, *.corp.example) nor an address or network (10.0.0.0/8)"
        )

    # -- URLs -------------------------------------------------------------------------------------

    def check_url(self, url: str, *, field: str = "url") -> Target:
        """Check a URL's form, and its address when the host is an IP literal.

        Raises:
            AddressNotAllowed: the URL breaks a rule (``details`` names ``rule``, ``setting``, ``field``).
        """
        try:
            parts = urlsplit(url.strip())
            port = parts.port
        except ValueError:
            raise self._refusal(field, "scheme", f"{field} is not a valid URL.") from None
        scheme = parts.scheme.lower()
        if scheme not in ("http", "https"):
            raise self._refusal(field, "scheme", f"{field} must be an http:// or https:// URL.")
        if parts.username is not None or parts.password is not None:
            raise self._refusal(
                field,
                "credentials_in_url",
                f"{field} must not contain a user name or password; send credentials as a header "
                "(e.g. Authorization), which is stored encrypted and shown masked.",
            )
        host = (parts.hostname or "").lower()
        if not host:
            raise self._refusal(field, "scheme", f"{field} has no host.")
        address = _literal(host)
        if address is None and _NUMERIC_HOST.match(host) and not _CANONICAL_V4.match(host.rstrip(".")):
            raise self._refusal(
                field,
                "ambiguous_address",
                f"{field} names a numeric host in a non-standard form ({host}); write the address as "
                "a.b.c.d or use a host name.",
            )
        if address is not None:
            self.check_address(address, host=host, field=field)
        return Target(host=host, port=port or (443 if scheme == "https" else 80), address=address)

    async def check_url_resolved(self, url: str, *, field: str = "url") -> Target:
        """:meth:`check_url`, then resolve the host and check every address.

        A name that does not resolve now is not refused here (the connection will fail, or be
        checked when it resolves).

        Raises:
            AddressNotAllowed: the URL or one of its addresses is refused.
        """
        target = self.check_url(url, field=field)
        if target.address is None:
            try:
                await self.resolve(target.host, target.port, field=field)
            except OSError:
                pass
        return target

    # -- addresses ----------------------------------------------------------------------------------

    async def resolve(self, host: str, port: int, *, field: str = "url") -> list[str]:
        """The addresses of ``host``, every one of them checked; connect only to these.

        Raises:
            AddressNotAllowed: one of the addresses is refused.
            OSError: the name does not resolve.
        """
        literal = _literal(host)
        if literal is not None:
            self.check_address(literal, host=host, field=field)
            return [str(literal)]
        found = [str(address) for address in await self.resolver(host, port)]
        if not found:
            raise socket.gaierror(socket.EAI_NONAME, f"{host} has no address")
        for text in found:
            address = _literal(text)
            if address is None:
                raise socket.gaierror(socket.EAI_FAIL, f"{host} resolved to {text!r}, not an address")
            self.check_address(address, host=host, field=field)
        return found

    def check_address(self, address: IPAddress, *, host: str | None = None, field: str = "url") -> None:
        """Refuse ``address`` (reached through ``host``) when the policy does not allow it.

        Raises:
            AddressNotAllowed: with ``rule`` and ``setting`` in ``details``.
        """
        kind = address_class(address)
        shown = host if host is None or host == str(address) else f"{host} ({address})"
        shown = shown or str(address)
        if kind in _ALWAYS_REASONS:
            raise self._refusal(
                field,
                kind,
                f"{field} points at {_ALWAYS_REASONS[kind]} ({shown}); the platform never connects there.",
            )
        if kind in ("loopback", "private") and self.block_private and not self._allowed(address, host):
            raise self._refusal(
                field,
                kind,
                f"{field} points at a {kind} address ({shown}), which this platform does not connect to "
                f"({BLOCK_SETTING} is on); the operator can allow it in {ALLOW_SETTING}.",
                setting=BLOCK_SETTING,
            )

    def _allowed(self, address: IPAddress, host: str | None) -> bool:
        if any(address in network for network in self._networks if network.version == address.version):
            return True
        if host is None:
            return False
        name = host.lower().rstrip(".")
        return name in self._names or any(name.endswith(suffix) for suffix in self._suffixes)

    @staticmethod
    def _refusal(field: str, rule: str, message: str, *, setting: str | None = None) -> AddressNotAllowed:
        return AddressNotAllowed(message, details={"field": field, "rule": rule, "setting": setting})


def _valid_name(name: str) -> bool:
    labels = name.rstrip(".").split(".")
    return bool(name) and all(re.fullmatch(r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?", label) for label in labels)


__all__ = ["ALLOW_SETTING", "BLOCK_SETTING", "NetworkPolicy", "Resolver", "Target", "address_class", "system_resolver"]
