"""A resolver the tests control, for the network policy: names map to the addresses a test gives
them (and may change between lookups, to play DNS rebinding); every lookup is recorded; a name
that is not mapped does not resolve. Nothing here ever asks a real DNS server."""

from __future__ import annotations

import socket
import threading
from collections.abc import Sequence


class FakeResolver:
    """``await resolver(host, port)`` -> the addresses mapped to ``host``."""

    def __init__(self, names: dict[str, Sequence[str] | str] | None = None) -> None:
        self._names: dict[str, list[str]] = {}
        self._lock = threading.Lock()
        self.lookups: list[str] = []
        for name, addresses in (names or {}).items():
            self.set(name, addresses)

    def set(self, name: str, addresses: Sequence[str] | str) -> None:
        """Map ``name`` to ``addresses`` from the next lookup on."""
        with self._lock:
            self._names[name.lower()] = [addresses] if isinstance(addresses, str) else list(addresses)

    async def __call__(self, host: str, port: int) -> Sequence[str]:
        with self._lock:
            self.lookups.append(host.lower())
            found = self._names.get(host.lower().rstrip("."))
        if found is None:
            raise socket.gaierror(socket.EAI_NONAME, f"{host} is not known to the test resolver")
        return list(found)
