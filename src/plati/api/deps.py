"""Request dependencies: the app's services, and API-key authentication.

Every route declares what its key must be allowed to do: :data:`Auth` for a route that only
reads, :data:`Writer` for one that writes, runs a turn or calls a function (whatever its HTTP
method). Read-only keys are refused on writers, and on any method but GET/HEAD/OPTIONS as well
(defence in depth, for a route that declared the wrong one).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated

from fastapi import Depends, Request

from ..connectors import ConnectorManager
from ..engine.factory import ProviderFactory
from ..engine.runner import TurnRunner
from ..errors import Forbidden, Unauthorized
from ..ids import utcnow
from ..registry import Registry
from ..security.keys import hash_api_key
from ..security.limits import RequestLimits, SharedTurnSlots, TurnSlots
from ..security.network import NetworkPolicy
from ..security.processes import ProcessPolicy
from ..security.secrets import SecretBox
from ..settings import Settings
from ..store.db import Database
from ..store.hot import HotStore

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
LAST_USED_RESOLUTION = timedelta(minutes=1)


@dataclass
class Services:
    """Everything a request handler needs, built once by the app factory."""

    settings: Settings
    db: Database
    hot: HotStore
    box: SecretBox
    connectors: ConnectorManager
    registry: Registry
    providers: ProviderFactory
    runner: TurnRunner
    network: NetworkPolicy
    processes: ProcessPolicy
    limits: RequestLimits
    turn_slots: TurnSlots | SharedTurnSlots


def services(request: Request) -> Services:
    found: Services = request.app.state.services
    return found


@dataclass(frozen=True)
class Principal:
    """Who is calling: the workspace of the API key and what the key may do."""

    workspace_id: str
    key_id: str
    access: str


async def authenticate(request: Request, svc: Annotated[Services, Depends(services)]) -> Principal:
    """Resolve ``Authorization: Bearer <key>`` for a route that only reads.

    Raises:
        TooManyRequests: the key's rate limit, or the client address's failed authentications.
        ServiceUnavailable: the rate-limit storage (Redis) cannot be reached.
        Unauthorized: no key, an unknown key or a revoked key.
        Forbidden: a read-only key on a method other than GET/HEAD/OPTIONS.
    """
    return await principal_of(request, svc, write=False)


async def authenticate_writer(request: Request, svc: Annotated[Services, Depends(services)]) -> Principal:
    """Resolve the key of a route that writes, runs a turn or calls a function: read-write only.

    Raises:
        TooManyRequests: the key's rate limit, or the client address's failed authentications.
        ServiceUnavailable: the rate-limit storage (Redis) cannot be reached.
        Unauthorized: no key, an unknown key or a revoked key.
        Forbidden: a read-only key.
    """
    return await principal_of(request, svc, write=True)


async def principal_of(request: Request, svc: Services, *, write: bool) -> Principal:
    """:func:`authenticate` (``write=False``) or :func:`authenticate_writer` (``write=True``)
    without dependency injection, for the chat endpoint's hot path.

    An address that has used up its failed authentications is refused before its key is looked
    up; each missing, unknown or revoked key counts as a failure of its address; every request
    with a valid key counts against the key's rate limit (see :mod:`plati.security.limits`).
    """
    limits = svc.limits
    address = request.client.host if request.client is not None else "unknown"
    await limits.refuse_blocked_address(address)
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        await limits.count_auth_failure(address)
        raise Unauthorized("Missing API key: send Authorization: Bearer <key>")
    # Every request runs this: a driver statement, not an ORM session (see plati.store.direct).
    key = await svc.hot.api_key(hash_api_key(token))
    if key is None or key.revoked_at is not None:
        await limits.count_auth_failure(address)
        raise Unauthorized("Invalid or revoked API key")
    await limits.count_request(key.id)
    principal = Principal(workspace_id=key.workspace_id, key_id=key.id, access=key.access)
    now = utcnow()
    # Recording every use would turn each read into a write; a minute's resolution is enough.
    if key.last_used_at is None or now - key.last_used_at > LAST_USED_RESOLUTION:
        await svc.hot.key_used(key.id, now)
    if (write or request.method not in READ_METHODS) and principal.access != "read-write":
        raise Forbidden("This API key is read-only")
    return principal


Auth = Annotated[Principal, Depends(authenticate)]
"""The caller of a route that only reads (any key of the workspace)."""
Writer = Annotated[Principal, Depends(authenticate_writer)]
"""The caller of a route that writes, runs a turn or calls a function (a read-write key)."""
Svc = Annotated[Services, Depends(services)]
