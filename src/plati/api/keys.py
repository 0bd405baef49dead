"""``/workspace`` and ``/workspace/api-keys``: who is calling, and the workspace's API keys.

Keys are created here the way ``plati keys create`` does (:func:`plati.admin.new_api_key`): the
key is in the creation's answer only, stored hashed. Listing shows the display prefix, never the
key. Read-only keys may read (the workspace, the key list); creating and revoking take a
read-write key, like every other write.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter
from pydantic import Field
from sqlalchemy import select

from ..admin import api_key_info, new_api_key
from ..errors import Conflict, NotFound
from ..ids import utcnow
from ..store.models import ApiKey, Workspace
from .deps import Auth, Svc, Writer
from .wire import Body, ok

router = APIRouter(tags=["Workspace"])


class ApiKeyCreate(Body):
    name: str = Field(min_length=1, max_length=200)
    access: Literal["read-write", "read-only"] = "read-write"


def _key_wire(row: ApiKey, current_key_id: str) -> dict[str, Any]:
    wire: dict[str, Any] = dict(api_key_info(row))
    wire["current"] = row.id == current_key_id
    return wire


@router.get("/workspace", summary="The caller's workspace and key")
async def read_workspace(principal: Auth, svc: Svc) -> dict[str, Any]:
    async with svc.db.sessionmaker() as session:
        workspace = await session.get(Workspace, principal.workspace_id)
        key = await session.get(ApiKey, principal.key_id)
        if workspace is None or key is None:
            raise NotFound("No such workspace")
        data = {
            "id": workspace.id,
            "name": workspace.name,
            "created_at": workspace.created_at.isoformat(),
            "key": {"id": key.id, "name": key.name, "access": key.access, "prefix": key.prefix},
            "stdio_allowed": svc.settings.allow_stdio,
        }
    return ok("Workspace", data)


@router.get("/workspace/api-keys", summary="The workspace's API keys (never the keys themselves)")
async def list_keys(principal: Auth, svc: Svc) -> dict[str, Any]:
    async with svc.db.sessionmaker() as session:
        rows = (
            await session.scalars(
                select(ApiKey)
                .where(ApiKey.workspace_id == principal.workspace_id)
                .order_by(ApiKey.created_at, ApiKey.id)
            )
        ).all()
        return ok(f"{len(rows)} API key(s)", [_key_wire(row, principal.key_id) for row in rows])


@router.post("/workspace/api-keys", status_code=201, summary="Create an API key (shown once)")
async def create_key(body: ApiKeyCreate, principal: Writer, svc: Svc) -> dict[str, Any]:
    async with svc.db.sessionmaker() as session, session.begin():
        row, key = new_api_key(principal.workspace_id, body.name, body.access)
        session.add(row)
    data = _key_wire(row, principal.key_id)
    data["key"] = key
    return ok("API key created; it is shown only this once", data)


@router.delete("/workspace/api-keys/{key_id}", summary="Revoke an API key")
async def revoke_key(key_id: str, principal: Writer, svc: Svc) -> dict[str, Any]:
    async with svc.db.sessionmaker() as session, session.begin():
        row = await session.get(ApiKey, key_id)
        if row is None or row.workspace_id != principal.workspace_id:
            raise NotFound(f"No API key {key_id} in this workspace")
        if row.revoked_at is not None:
            raise Conflict(f"The API key {key_id} was already revoked at {row.revoked_at.isoformat()}")
        row.revoked_at = utcnow()
        data = _key_wire(row, principal.key_id)
    return ok("API key revoked", data)
