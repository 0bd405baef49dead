"""``/channels``: where conversations come in (type ``api`` for now)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ..errors import NotFound
from ..ids import new_id, utcnow
from ..store.models import Channel
from .assistants import get_assistant
from .deps import Auth, Svc, Writer
from .wire import ChannelCreate, ChannelUpdate, channel_to_wire, ok

router = APIRouter(tags=["Channels"])


async def get_channel(session: AsyncSession, workspace_id: str, channel_id: str) -> Channel:
    channel = await session.scalar(
        select(Channel).where(Channel.id == channel_id, Channel.workspace_id == workspace_id)
    )
    if channel is None:
        raise NotFound(f"No channel {channel_id} in this workspace")
    return channel


@router.post("/channels", status_code=201, summary="Create a channel")
async def create_channel(body: ChannelCreate, principal: Writer, svc: Svc) -> dict[str, Any]:
    now = utcnow()
    async with svc.db.sessionmaker() as session, session.begin():
        if body.assistant_id is not None:
            await get_assistant(session, principal.workspace_id, body.assistant_id)
        channel = Channel(
            id=new_id("chn"),
            workspace_id=principal.workspace_id,
            name=body.name,
            type=body.type,
            assistant_id=body.assistant_id,
            active=body.active,
            multitask_strategy=body.multitask_strategy,
            created_at=now,
            updated_at=now,
        )
        session.add(channel)
    return ok("Channel created", channel_to_wire(channel))


@router.get("/channels", summary="List channels")
async def list_channels(principal: Auth, svc: Svc) -> dict[str, Any]:
    async with svc.db.sessionmaker() as session:
        rows = (
            await session.scalars(
                select(Channel).where(Channel.workspace_id == principal.workspace_id).order_by(Channel.created_at)
            )
        ).all()
    return ok(f"{len(rows)} channel(s)", [channel_to_wire(row) for row in rows])


@router.get("/channels/{channel_id}", summary="Read a channel")
async def read_channel(channel_id: str, principal: Auth, svc: Svc) -> dict[str, Any]:
    async with svc.db.sessionmaker() as session:
        channel = await get_channel(session, principal.workspace_id, channel_id)
    return ok("Channel", channel_to_wire(channel))


@router.put("/channels/{channel_id}", summary="Update a channel")
async def update_channel(channel_id: str, body: ChannelUpdate, principal: Writer, svc: Svc) -> dict[str, Any]:
    async with svc.db.sessionmaker() as session, session.begin():
        channel = await get_channel(session, principal.workspace_id, channel_id)
        fields = body.model_fields_set
        if "assistant_id" in fields:
            if body.assistant_id is not None:
                await get_assistant(session, principal.workspace_id, body.assistant_id)
            channel.assistant_id = body.assistant_id
        if body.name is not None:
            channel.name = body.name
        if body.type is not None:
            channel.type = body.type
        if body.active is not None:
            channel.active = body.active
        if body.multitask_strategy is not None:
            channel.multitask_strategy = body.multitask_strategy
        channel.updated_at = utcnow()
    return ok("Channel updated", channel_to_wire(channel))


@router.delete("/channels/{channel_id}", summary="Delete a channel")
async def delete_channel(channel_id: str, principal: Writer, svc: Svc) -> dict[str, Any]:
    async with svc.db.sessionmaker() as session, session.begin():
        channel = await get_channel(session, principal.workspace_id, channel_id)
        await session.delete(channel)
    return ok("Channel deleted", {"id": channel_id})
