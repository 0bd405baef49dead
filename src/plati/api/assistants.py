"""``/assistant``: assistants and the MCPs attached to them."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from ..errors import NotFound
from ..ids import new_id, utcnow
from ..prompt import ambiguous_functions, unresolved_functions
from ..store.models import Assistant, AssistantMcp
from .deps import Auth, Services, Svc, Writer
from .wire import AssistantCreate, AssistantSettings, AssistantUpdate, assistant_to_wire, ok

router = APIRouter(tags=["Assistants"])


async def get_assistant(session: AsyncSession, workspace_id: str, assistant_id: str) -> Assistant:
    assistant = await session.scalar(
        select(Assistant).where(Assistant.id == assistant_id, Assistant.workspace_id == workspace_id)
    )
    if assistant is None:
        raise NotFound(f"No assistant {assistant_id} in this workspace")
    return assistant


async def assistant_data(svc: Services, session: AsyncSession, assistant: Assistant) -> dict[str, Any]:
    mcp_ids = list(
        (
            await session.scalars(
                select(AssistantMcp.mcp_id)
                .where(AssistantMcp.assistant_id == assistant.id)
                .order_by(AssistantMcp.created_at, AssistantMcp.mcp_id)
            )
        ).all()
    )
    functions = await svc.registry.assistant_functions(session, assistant.id)
    refs = [fn.ref for fn in functions]
    unresolved = unresolved_functions(assistant.instructions, refs)
    ambiguous = ambiguous_functions(assistant.instructions, refs)
    return assistant_to_wire(assistant, mcp_ids, unresolved, ambiguous)


async def check_base_url(svc: Services, settings: AssistantSettings | None) -> None:
    """An assistant's own ``base_url`` goes through the network policy (and never gets the
    operator's key: see plati.engine.factory).

    Raises:
        AddressNotAllowed: the network policy refuses it.
    """
    if settings is not None and settings.base_url:
        await svc.network.check_url_resolved(settings.base_url, field="settings.base_url")


@router.post("/assistant", status_code=201, summary="Create an assistant")
async def create_assistant(body: AssistantCreate, principal: Writer, svc: Svc) -> dict[str, Any]:
    body.check_maximums(svc.settings)
    await check_base_url(svc, body.settings)
    now = utcnow()
    assistant = Assistant(
        id=new_id("asst"),
        workspace_id=principal.workspace_id,
        name=body.name,
        instructions=body.instructions,
        provider=body.provider,
        model=body.model,
        languages=list(body.languages),
        settings=body.settings.stored(),
        created_at=now,
        updated_at=now,
    )
    async with svc.db.sessionmaker() as session:
        async with session.begin():
            session.add(assistant)
        return ok("Assistant created", await assistant_data(svc, session, assistant))


@router.get("/assistants", summary="List assistants")
async def list_assistants(principal: Auth, svc: Svc) -> dict[str, Any]:
    async with svc.db.sessionmaker() as session:
        rows = (
            await session.scalars(
                select(Assistant).where(Assistant.workspace_id == principal.workspace_id).order_by(Assistant.created_at)
            )
        ).all()
        return ok(f"{len(rows)} assistant(s)", [await assistant_data(svc, session, row) for row in rows])


@router.get("/assistant/{assistant_id}", summary="Read an assistant")
async def read_assistant(assistant_id: str, principal: Auth, svc: Svc) -> dict[str, Any]:
    async with svc.db.sessionmaker() as session:
        assistant = await get_assistant(session, principal.workspace_id, assistant_id)
        return ok("Assistant", await assistant_data(svc, session, assistant))


@router.patch("/assistant/{assistant_id}", summary="Update an assistant")
async def update_assistant(assistant_id: str, body: AssistantUpdate, principal: Writer, svc: Svc) -> dict[str, Any]:
    body.check_maximums(svc.settings)
    await check_base_url(svc, body.settings)
    async with svc.db.sessionmaker() as session:
        async with session.begin():
            assistant = await get_assistant(session, principal.workspace_id, assistant_id)
            for field in body.model_fields_set:
                value = getattr(body, field)
                if value is None and field != "model":
                    continue
                if isinstance(value, AssistantSettings):
                    value = value.stored()
                setattr(assistant, field, value)
            assistant.updated_at = utcnow()
        return ok("Assistant updated", await assistant_data(svc, session, assistant))


@router.delete("/assistant/{assistant_id}", summary="Delete an assistant")
async def delete_assistant(assistant_id: str, principal: Writer, svc: Svc) -> dict[str, Any]:
    async with svc.db.sessionmaker() as session, session.begin():
        assistant = await get_assistant(session, principal.workspace_id, assistant_id)
        await session.delete(assistant)
    return ok("Assistant deleted", {"id": assistant_id})


@router.put("/assistant/{assistant_id}/mcp/{mcp_id}", summary="Attach an MCP to an assistant")
async def attach_mcp(assistant_id: str, mcp_id: str, principal: Writer, svc: Svc) -> dict[str, Any]:
    async with svc.db.sessionmaker() as session:
        async with session.begin():
            assistant = await get_assistant(session, principal.workspace_id, assistant_id)
            await svc.registry.get_mcp(session, principal.workspace_id, mcp_id)
            link = await session.get(AssistantMcp, (assistant_id, mcp_id))
            if link is None:
                session.add(AssistantMcp(assistant_id=assistant_id, mcp_id=mcp_id, created_at=utcnow()))
        return ok("MCP attached", await assistant_data(svc, session, assistant))


@router.delete("/assistant/{assistant_id}/mcp/{mcp_id}", summary="Detach an MCP from an assistant")
async def detach_mcp(assistant_id: str, mcp_id: str, principal: Writer, svc: Svc) -> dict[str, Any]:
    async with svc.db.sessionmaker() as session:
        async with session.begin():
            assistant = await get_assistant(session, principal.workspace_id, assistant_id)
            result = await session.execute(
                delete(AssistantMcp).where(AssistantMcp.assistant_id == assistant_id, AssistantMcp.mcp_id == mcp_id)
            )
            if result.rowcount == 0:  # type: ignore[attr-defined]
                raise NotFound(f"MCP {mcp_id} is not attached to assistant {assistant_id}")
        return ok("MCP detached", await assistant_data(svc, session, assistant))


@router.get("/assistant/{assistant_id}/mcp/tools", summary="Every function the assistant can call")
async def assistant_tools(assistant_id: str, principal: Auth, svc: Svc) -> dict[str, Any]:
    async with svc.db.sessionmaker() as session:
        await get_assistant(session, principal.workspace_id, assistant_id)
        functions = await svc.registry.assistant_functions(session, assistant_id)
    data = []
    for fn in functions:
        item: dict[str, Any] = {
            "name": fn.ref.model_name,
            "function": fn.ref.function,
            "mcp_id": fn.ref.mcp_id,
            "mcp_name": fn.ref.mcp_name,
            "description": fn.description,
            "input_schema": fn.input_schema,
        }
        if fn.output_schema:
            item["output_schema"] = fn.output_schema
        data.append(item)
    return ok(f"{len(data)} function(s)", data)
