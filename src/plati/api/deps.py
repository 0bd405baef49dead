"""Request dependencies: the app's services, and API-key authentication."""

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
    """Resolve ``Authorization: Bearer <key>``; read-only keys may only read.

    Raises:
        Unauthorized: no key, an unknown key or a revoked key.
        Forbidden: a read-only key on a write.
    """
    return await principal_of(request, svc)


async def principal_of(request: Request, svc: Services) -> Principal:
    """:func:`authenticate` without dependency injection, for the chat endpoint's hot path."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise Unauthorized("Missing API key: send Authorization: Bearer <key>")
    # Every request runs this: a driver statement, not an ORM session (see plati.store.direct).
    key = await svc.hot.api_key(hash_api_key(token))
    if key is None or key.revoked_at is not None:
        raise Unauthorized("Invalid or revoked API key")
    principal = Principal(workspace_id=key.workspace_id, key_id=key.id, access=key.access)
    now = utcnow()
    # Recording every use would turn each read into a write; a minute's resolution is enough.
    if key.last_used_at is None or now - key.last_used_at > LAST_USED_RESOLUTION:
        await svc.hot.key_used(key.id, now)
    if request.method not in READ_METHODS and principal.access != "read-write":
        raise Forbidden("This API key is read-only")
    return principal


Auth = Annotated[Principal, Depends(authenticate)]
Svc = Annotated[Services, Depends(services)]
