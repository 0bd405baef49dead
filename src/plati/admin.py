"""Operator actions on the database itself (``plati init``, ``plati keys ...``).

These bypass the HTTP API on purpose: they make the first workspace and its keys, before any key
exists to authenticate with. Each call opens the database named by the settings, applies any
pending migrations, does its work in one transaction and closes the database.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Literal, TypedDict, get_args

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from .errors import Conflict, InvalidRequest, NotFound
from .ids import new_id, utcnow
from .security.keys import generate_api_key, hash_api_key, key_prefix
from .settings import Settings
from .store.db import Database, run_migrations
from .store.models import ApiKey, Workspace

Access = Literal["read-write", "read-only"]
DEFAULT_KEY_NAME = "default"


class ApiKeyInfo(TypedDict):
    """An API key as operators see it: never the key itself, only its display prefix."""

    id: str
    workspace_id: str
    name: str
    access: str
    prefix: str
    created_at: str
    last_used_at: str | None
    revoked_at: str | None


@asynccontextmanager
async def _database(settings: Settings) -> AsyncIterator[Database]:
    await run_migrations(settings.database_url)
    db = Database(settings.database_url, sqlite_synchronous=settings.sqlite_synchronous)
    try:
        yield db
    finally:
        await db.aclose()


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def new_api_key(workspace_id: str, name: str, access: str) -> tuple[ApiKey, str]:
    """A new key row for ``workspace_id`` and the key itself (shown once, stored hashed).

    Raises:
        InvalidRequest: ``access`` is neither ``read-write`` nor ``read-only``.
    """
    if access not in get_args(Access):
        raise InvalidRequest(f"Unknown access {access!r}; use 'read-write' or 'read-only'")
    key = generate_api_key()
    row = ApiKey(
        id=new_id("key"),
        workspace_id=workspace_id,
        name=name,
        access=access,
        key_hash=hash_api_key(key),
        prefix=key_prefix(key),
        created_at=utcnow(),
    )
    return row, key


async def _resolve_workspace(session: AsyncSession, workspace_id: str | None) -> str:
    if workspace_id is not None:
        if await session.get(Workspace, workspace_id) is None:
            raise NotFound(f"No workspace {workspace_id}")
        return workspace_id
    ids = list((await session.scalars(select(Workspace.id).order_by(Workspace.created_at))).all())
    if not ids:
        raise NotFound("No workspace yet; create one with `plati init`")
    if len(ids) > 1:
        raise InvalidRequest(f"{len(ids)} workspaces exist ({', '.join(ids)}); choose one with --workspace")
    return ids[0]


async def create_workspace(settings: Settings, name: str, *, another: bool = True) -> tuple[str, str]:
    """Create a workspace and its first read-write API key, named ``"default"``.

    ``another=False`` (``plati init`` without ``--another``) refuses when the database already
    holds a workspace, so running ``init`` twice does not make a second one by mistake.

    Returns:
        ``(workspace_id, api_key)``; the key is not stored and cannot be shown again.

    Raises:
        InvalidRequest: the name is empty.
        Conflict: ``another`` is false and a workspace exists.
    """
    name = name.strip()
    if not name:
        raise InvalidRequest("The workspace name must not be empty")
    async with _database(settings) as db, db.sessionmaker() as session, session.begin():
        if not another:
            query = select(Workspace.id, Workspace.name).order_by(Workspace.created_at)
            existing = (await session.execute(query)).all()
            if existing:
                listed = ", ".join(f"{row.name!r} ({row.id})" for row in existing)
                raise Conflict(
                    f"This database already has a workspace: {listed}. Get a new key for it with "
                    "`plati keys create`, or add --another to create another workspace.",
                    details={"workspaces": [{"id": row.id, "name": row.name} for row in existing]},
                )
        workspace_id = new_id("ws")
        session.add(Workspace(id=workspace_id, name=name, created_at=utcnow()))
        await session.flush()
        row, key = new_api_key(workspace_id, DEFAULT_KEY_NAME, "read-write")
        session.add(row)
    return workspace_id, key


async def create_api_key(settings: Settings, workspace_id: str | None, name: str, access: str) -> tuple[str, str]:
    """Create an API key in ``workspace_id`` (or the only workspace when ``None``).

    Returns:
        ``(key_id, api_key)``; the key is not stored and cannot be shown again.

    Raises:
        NotFound: no such workspace, or no workspace at all.
        InvalidRequest: several workspaces exist and none was named, or ``access`` is unknown.
    """
    async with _database(settings) as db, db.sessionmaker() as session, session.begin():
        resolved = await _resolve_workspace(session, workspace_id)
        row, key = new_api_key(resolved, name, access)
        session.add(row)
    return row.id, key


async def list_api_keys(settings: Settings, workspace_id: str | None) -> list[ApiKeyInfo]:
    """The keys of ``workspace_id`` (or of the only workspace), oldest first, revoked ones included.

    Raises:
        NotFound, InvalidRequest: as for :func:`create_api_key`.
    """
    async with _database(settings) as db, db.sessionmaker() as session:
        resolved = await _resolve_workspace(session, workspace_id)
        rows = (
            await session.scalars(
                select(ApiKey).where(ApiKey.workspace_id == resolved).order_by(ApiKey.created_at, ApiKey.id)
            )
        ).all()
    return [api_key_info(row) for row in rows]


def api_key_info(row: ApiKey) -> ApiKeyInfo:
    """What may be shown of a stored key: never the key or its hash."""
    return ApiKeyInfo(
        id=row.id,
        workspace_id=row.workspace_id,
        name=row.name,
        access=row.access,
        prefix=row.prefix,
        created_at=row.created_at.isoformat(),
        last_used_at=_iso(row.last_used_at),
        revoked_at=_iso(row.revoked_at),
    )


async def revoke_api_key(settings: Settings, key_id: str) -> None:
    """Revoke the key ``key_id``: every later request with it gets 401.

    Raises:
        NotFound: no such key.
        Conflict: the key was already revoked.
    """
    async with _database(settings) as db, db.sessionmaker() as session, session.begin():
        row = await session.get(ApiKey, key_id)
        if row is None:
            raise NotFound(f"No API key {key_id}")
        if row.revoked_at is not None:
            raise Conflict(f"The API key {key_id} was already revoked at {row.revoked_at.isoformat()}")
        row.revoked_at = utcnow()


__all__ = [
    "Access",
    "ApiKeyInfo",
    "api_key_info",
    "create_api_key",
    "create_workspace",
    "list_api_keys",
    "new_api_key",
    "revoke_api_key",
]
