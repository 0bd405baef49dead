"""``/workspace/mcps``: register, inspect, refresh and try function servers."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Request
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from ..connectors import CallContext, ConnectorConfig, Discovery
from ..errors import Conflict, InvalidRequest
from ..ids import new_id, utcnow
from ..store.models import McpServer
from .deps import Auth, Services, Svc, Writer
from .wire import CallRequest, McpCreate, McpUpdate, mcp_to_wire, ok, tool_to_wire

router = APIRouter(tags=["MCPs"])

_CONNECTION_FIELDS = frozenset({"transport", "url", "headers", "command", "args", "env"})
_PROCESS_FIELDS = frozenset({"command", "args", "env"})


_PROTOCOL_NAMES = {"rest": "the simple protocol", "streamable-http": "MCP Streamable HTTP", "sse": "MCP over SSE"}


def _registered_message(mcp: McpServer) -> str:
    """Says which URL and protocol detection chose (transport ``"http"``)."""
    if mcp.transport != "http" or not mcp.protocol:
        return "MCP registered"
    where = mcp.endpoint or mcp.url
    message = f"MCP registered: detected {_PROTOCOL_NAMES.get(mcp.protocol, mcp.protocol)} at {where}"
    if where != mcp.url:
        message += f" (the registered {mcp.url} does not answer; its parent does)"
    return message


def _wire(svc: Services, mcp: McpServer) -> dict[str, Any]:
    return mcp_to_wire(mcp, svc.registry.headers_of(mcp), svc.registry.env_of(mcp))


async def _check_target(
    svc: Services, transport: str, url: str | None, command: str | None, env: dict[str, str]
) -> None:
    """The operator's policies for what an MCP would connect to or run, before anything is stored
    or contacted.

    Raises:
        AddressNotAllowed: the network policy refuses the URL or one of its addresses.
        ProcessNotAllowed: stdio is off, or the command (or env) is not allowed.
    """
    if transport == "stdio":
        svc.processes.check(command, env)
    elif url is not None:
        await svc.network.check_url_resolved(url)


def _name_taken(name: str) -> Conflict:
    return Conflict(f"An MCP named {name!r} already exists in this workspace")


@router.post("/workspace/mcps", status_code=201, summary="Register a function server")
async def register_mcp(body: McpCreate, principal: Writer, svc: Svc) -> dict[str, Any]:
    body.check_maximums(svc.settings)
    await _check_target(svc, body.transport, body.url, body.command, dict(body.env))
    mcp_id = new_id("mcp")
    settings = svc.settings
    timeout = body.timeout_seconds or settings.mcp_timeout_seconds
    max_bytes = body.max_response_bytes or settings.mcp_max_response_bytes
    async with svc.db.sessionmaker() as session:
        existing = await session.scalar(
            select(McpServer.id).where(McpServer.workspace_id == principal.workspace_id, McpServer.name == body.name)
        )
    if existing is not None:
        raise _name_taken(body.name)
    headers = [item.model_dump() for item in body.headers]
    config = ConnectorConfig(
        transport=body.transport,
        url=body.url,
        headers={item["key"]: item["value"] for item in headers},
        command=body.command,
        args=tuple(body.args),
        env=dict(body.env),
        timeout_seconds=timeout,
        max_response_bytes=max_bytes,
    )
    discovery: Discovery | None = None
    if body.validate_tools and body.enabled:
        discovery = await svc.registry.discover(mcp_id, config)
    now = utcnow()
    mcp = McpServer(
        id=mcp_id,
        workspace_id=principal.workspace_id,
        name=body.name,
        transport=body.transport,
        protocol=None if body.transport == "http" else body.transport,
        url=body.url,
        headers_encrypted=svc.box.encrypt_json(headers) if headers else None,
        command=body.command,
        args=list(body.args),
        env_encrypted=svc.box.encrypt_json(dict(body.env)) if body.env else None,
        timeout_seconds=timeout,
        max_response_bytes=max_bytes,
        enabled=body.enabled,
        status="unknown",
        created_at=now,
        updated_at=now,
    )
    try:
        async with svc.db.sessionmaker() as session, session.begin():
            session.add(mcp)
            if discovery is not None:
                svc.registry.apply_discovery(session, mcp, discovery)
    except IntegrityError:
        await svc.registry.forget(mcp_id)
        raise _name_taken(body.name) from None
    async with svc.db.sessionmaker() as session:
        stored = await svc.registry.get_mcp(session, principal.workspace_id, mcp_id)
        return ok(_registered_message(stored), _wire(svc, stored))


@router.get("/workspace/mcps", summary="List function servers")
async def list_mcps(principal: Auth, svc: Svc) -> dict[str, Any]:
    async with svc.db.sessionmaker() as session:
        rows = (
            await session.scalars(
                select(McpServer).where(McpServer.workspace_id == principal.workspace_id).order_by(McpServer.created_at)
            )
        ).all()
        return ok(f"{len(rows)} MCP(s)", [_wire(svc, mcp) for mcp in rows])


@router.get("/workspace/mcps/{mcp_id}", summary="Read a function server")
async def get_mcp(mcp_id: str, principal: Auth, svc: Svc) -> dict[str, Any]:
    async with svc.db.sessionmaker() as session:
        mcp = await svc.registry.get_mcp(session, principal.workspace_id, mcp_id)
        return ok("MCP", _wire(svc, mcp))


@router.patch("/workspace/mcps/{mcp_id}", summary="Update a function server")
async def update_mcp(mcp_id: str, body: McpUpdate, principal: Writer, svc: Svc) -> dict[str, Any]:
    fields = body.model_fields_set - {"validate_tools"}
    body.check_maximums(svc.settings)
    if fields & _PROCESS_FIELDS and not svc.settings.allow_stdio:
        # Whatever the MCP's transport: a stored command must not change while stdio is off.
        svc.processes.check(None)
    if fields & _CONNECTION_FIELDS:
        # Checked before the write transaction: the network policy may resolve a name.
        async with svc.db.sessionmaker() as session:
            stored = await svc.registry.get_mcp(session, principal.workspace_id, mcp_id)
            await _check_target(
                svc,
                body.transport or stored.transport,
                body.url if "url" in fields else stored.url,
                body.command if "command" in fields else stored.command,
                dict(body.env) if body.env is not None else svc.registry.env_of(stored),
            )
    async with svc.db.sessionmaker() as session, session.begin():
        mcp = await svc.registry.get_mcp(session, principal.workspace_id, mcp_id)
        if body.name is not None and body.name != mcp.name:
            clash = await session.scalar(
                select(McpServer.id).where(
                    McpServer.workspace_id == principal.workspace_id, McpServer.name == body.name
                )
            )
            if clash is not None:
                raise _name_taken(body.name)
            mcp.name = body.name
        if body.transport is not None:
            mcp.transport = body.transport
            mcp.protocol = None if body.transport == "http" else body.transport
            mcp.endpoint = None
        if "url" in fields:
            mcp.url = body.url
            mcp.endpoint = None  # the new URL itself until discovery names another
        if body.headers is not None:
            headers = [item.model_dump() for item in body.headers]
            mcp.headers_encrypted = svc.box.encrypt_json(headers) if headers else None
        if "command" in fields:
            mcp.command = body.command
        if body.args is not None:
            mcp.args = list(body.args)
        if body.env is not None:
            mcp.env_encrypted = svc.box.encrypt_json(dict(body.env)) if body.env else None
        if body.timeout_seconds is not None:
            mcp.timeout_seconds = body.timeout_seconds
        if body.max_response_bytes is not None:
            mcp.max_response_bytes = body.max_response_bytes
        if body.enabled is not None:
            mcp.enabled = body.enabled
        if mcp.transport == "stdio" and not mcp.command:
            raise InvalidRequest("a stdio MCP needs 'command'")
        if mcp.transport != "stdio" and not mcp.url:
            raise InvalidRequest(f"a {mcp.transport} MCP needs 'url'")
        mcp.updated_at = utcnow()
        reconnect = bool(fields & _CONNECTION_FIELDS) or "timeout_seconds" in fields or "max_response_bytes" in fields
        if reconnect:
            mcp.tools_expire_at = None
    if reconnect:
        await svc.registry.forget(mcp_id)
        if body.validate_tools and (body.enabled is not False):
            await svc.registry.refresh(principal.workspace_id, mcp_id)
    async with svc.db.sessionmaker() as session:
        mcp = await svc.registry.get_mcp(session, principal.workspace_id, mcp_id)
        return ok("MCP updated", _wire(svc, mcp))


@router.delete("/workspace/mcps/{mcp_id}", summary="Remove a function server")
async def delete_mcp(mcp_id: str, principal: Writer, svc: Svc) -> dict[str, Any]:
    async with svc.db.sessionmaker() as session, session.begin():
        mcp = await svc.registry.get_mcp(session, principal.workspace_id, mcp_id)
        await session.delete(mcp)
    await svc.registry.forget(mcp_id)
    return ok("MCP removed", {"id": mcp_id})


@router.get("/workspace/mcps/{mcp_id}/tools", summary="The function server's cached tools")
async def list_tools(mcp_id: str, principal: Auth, svc: Svc) -> dict[str, Any]:
    # Refreshing an expired cache contacts the server and rewrites the cache: read-write keys only.
    refresh = principal.access == "read-write"
    tools = await svc.registry.tools(principal.workspace_id, mcp_id, refresh=refresh)
    return ok(f"{len(tools)} tool(s)", [tool_to_wire(tool) for tool in tools])


@router.post("/workspace/mcps/{mcp_id}/refresh", summary="Discover the tools again")
async def refresh_mcp(mcp_id: str, principal: Writer, svc: Svc) -> dict[str, Any]:
    mcp = await svc.registry.refresh(principal.workspace_id, mcp_id)
    data = _wire(svc, mcp)
    data["tools"] = [tool_to_wire(tool) for tool in mcp.tools]
    return ok("Tools refreshed", data)


@router.post("/workspace/mcps/{mcp_id}/call", summary="Try one function")
async def call_function(
    mcp_id: str, body: CallRequest, principal: Writer, svc: Svc, request: Request
) -> dict[str, Any]:
    context = CallContext(
        workspace_id=principal.workspace_id,
        request_id=request.headers.get("x-request-id") or uuid.uuid4().hex,
        idempotency_key=request.headers.get("idempotency-key") or uuid.uuid4().hex,
    )
    result = await svc.registry.call(principal.workspace_id, mcp_id, body.name, body.arguments, context)
    data: dict[str, Any] = {"name": body.name, "success": result.success, "duration_ms": round(result.duration_ms, 2)}
    if result.success:
        data["data"] = result.data
    else:
        data["error"] = result.error
    if result.task_id:
        data["task_id"] = result.task_id
    return ok("Function called" if result.success else "The function reported a failure", data)
