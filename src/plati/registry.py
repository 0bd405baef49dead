"""The MCP registry: registering function servers, caching their tools, and calling functions.

Network work (discovery, calls) never runs inside a database transaction: the registry talks to
the function server first, then writes what it learned in one short transaction.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import jsonschema
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from plati_mcp.errors import DefinitionError
from plati_mcp.schema import SchemaValidator

from .connectors import (
    CallContext,
    CallResult,
    ConnectorConfig,
    ConnectorManager,
    Discovery,
    FunctionNotFound,
)
from .errors import InvalidRequest, NotFound, UpstreamError
from .ids import utcnow
from .naming import FunctionRef, assign_model_names
from .security.secrets import SecretBox
from .settings import Settings
from .store.models import AssistantMcp, McpServer, McpTool

logger = logging.getLogger("plati.registry")


@dataclass(frozen=True)
class AttachedFunction:
    """A function an assistant can call: its model-facing name, where it lives, its schemas."""

    ref: FunctionRef
    description: str
    input_schema: dict[str, Any]
    output_schema: dict[str, Any] | None


class Registry:
    """MCP registry operations shared by the API and the conversation engine."""

    def __init__(
        self,
        settings: Settings,
        sessionmaker: async_sessionmaker[AsyncSession],
        box: SecretBox,
        connectors: ConnectorManager,
    ) -> None:
        self.settings = settings
        self.sessionmaker = sessionmaker
        self.box = box
        self.connectors = connectors

    # -- configuration ------------------------------------------------------------------------

    def headers_of(self, mcp: McpServer) -> list[dict[str, str]]:
        if not mcp.headers_encrypted:
            return []
        headers: list[dict[str, str]] = self.box.decrypt_json(mcp.headers_encrypted)
        return headers

    def env_of(self, mcp: McpServer) -> dict[str, str]:
        if not mcp.env_encrypted:
            return {}
        env: dict[str, str] = self.box.decrypt_json(mcp.env_encrypted)
        return env

    def config_of(self, mcp: McpServer) -> ConnectorConfig:
        """The connector configuration of a stored MCP, with its secrets decrypted; its timeout
        and reply cap held to the operator's maximums (a value stored before a maximum was
        lowered is clamped here, where it is used)."""
        detected = mcp.transport == "http" and mcp.protocol
        transport = mcp.protocol if detected else mcp.transport
        settings = self.settings
        return ConnectorConfig(
            transport=transport,  # type: ignore[arg-type]
            url=(mcp.endpoint or mcp.url) if detected else mcp.url,
            headers={item["key"]: item["value"] for item in self.headers_of(mcp)},
            command=mcp.command,
            args=tuple(mcp.args or ()),
            env=self.env_of(mcp),
            timeout_seconds=min(mcp.timeout_seconds, settings.max_mcp_timeout_seconds),
            max_response_bytes=min(mcp.max_response_bytes, settings.max_mcp_response_bytes),
        )

    # -- discovery ----------------------------------------------------------------------------

    async def discover(self, mcp_id: str, config: ConnectorConfig) -> Discovery:
        """Open (or reuse) the connector and list its tools."""
        connector = await self.connectors.get(mcp_id, config)
        try:
            return await connector.discover()
        except UpstreamError:
            await self.connectors.discard(mcp_id)
            raise

    def apply_discovery(self, session: AsyncSession, mcp: McpServer, discovery: Discovery) -> None:
        """Replace the cached tools of ``mcp`` (inside the caller's transaction)."""
        now = utcnow()
        if mcp.transport == "http" or mcp.protocol is None:
            mcp.protocol = discovery.protocol
            mcp.endpoint = discovery.endpoint if mcp.transport == "http" else None
        mcp.status = "ok"
        mcp.last_error = None
        mcp.tools_refreshed_at = now
        ttl = discovery.ttl_seconds if discovery.ttl_seconds else self.settings.tools_ttl_seconds
        mcp.tools_expire_at = now + timedelta(seconds=ttl)
        # Update in place (match by name): deleting and re-inserting the same names in one flush
        # would trip the (mcp_id, name) unique constraint, since inserts flush before deletes.
        existing = {tool.name: tool for tool in mcp.tools}
        fresh: list[McpTool] = []
        for position, spec in enumerate(discovery.tools):
            if any(tool.name == spec.name for tool in fresh):
                continue  # a server listing one name twice: the first one wins
            tool = existing.pop(spec.name, None) or McpTool(name=spec.name)
            tool.description = spec.description or ""
            tool.input_schema = dict(spec.input_schema or {"type": "object", "properties": {}})
            tool.output_schema = dict(spec.output_schema) if spec.output_schema else None
            tool.annotations = dict(spec.annotations) if spec.annotations else None
            tool.title = spec.title
            tool.position = position
            fresh.append(tool)
        mcp.tools = fresh

    async def refresh(self, workspace_id: str, mcp_id: str) -> McpServer:
        """Discover the tools of a stored MCP again and cache them.

        Raises:
            NotFound: no such MCP in the workspace.
            UpstreamError: the server failed (the MCP is marked ``error`` with the reason).
        """
        async with self.sessionmaker() as session:
            mcp = await self.get_mcp(session, workspace_id, mcp_id)
            config = self.config_of(mcp)
        try:
            discovery = await self.discover(mcp_id, config)
        except UpstreamError as exc:
            await self._record_failure(workspace_id, mcp_id, exc.message)
            raise
        async with self.sessionmaker() as session, session.begin():
            mcp = await self.get_mcp(session, workspace_id, mcp_id)
            self.apply_discovery(session, mcp, discovery)
        async with self.sessionmaker() as session:
            return await self.get_mcp(session, workspace_id, mcp_id)

    async def mark_stale(self, mcp_id: str) -> None:
        """Expire the cached tools of an MCP so the next read discovers them again."""
        async with self.sessionmaker() as session, session.begin():
            await session.execute(update(McpServer).where(McpServer.id == mcp_id).values(tools_expire_at=utcnow()))

    async def _record_failure(self, workspace_id: str, mcp_id: str, reason: str) -> None:
        async with self.sessionmaker() as session, session.begin():
            mcp = await self.get_mcp(session, workspace_id, mcp_id)
            mcp.status = "error"
            mcp.last_error = reason

    async def tools(self, workspace_id: str, mcp_id: str, *, refresh: bool = True) -> Sequence[McpTool]:
        """The cached tools, refreshed first when the cache has expired and ``refresh`` allows it
        (stale tools are served when the refresh fails, and the MCP shows the error)."""
        async with self.sessionmaker() as session:
            mcp = await self.get_mcp(session, workspace_id, mcp_id)
            expired = mcp.enabled and (mcp.tools_expire_at is None or mcp.tools_expire_at <= utcnow())
            tools = list(mcp.tools)
        if not expired or not refresh:
            return tools
        try:
            mcp = await self.refresh(workspace_id, mcp_id)
        except UpstreamError as exc:
            logger.warning("Serving cached tools of %s: refresh failed: %s", mcp_id, exc.message)
            return tools
        return list(mcp.tools)

    # -- calls --------------------------------------------------------------------------------

    async def call(
        self,
        workspace_id: str,
        mcp_id: str,
        name: str,
        arguments: Mapping[str, Any],
        context: CallContext,
    ) -> CallResult:
        """Validate ``arguments`` against the cached schema and call the function.

        Raises:
            NotFound: no such MCP, or no such function (after a refresh).
            InvalidRequest: the arguments do not fit the schema (details name every field).
            UpstreamError: the server failed or timed out.
        """
        tool = await self._find_tool(workspace_id, mcp_id, name)
        problems = schema_problems(tool.input_schema, arguments)
        if problems:
            raise InvalidRequest(
                f"Arguments do not fit {name}: "
                + "; ".join(f"{p['field'] or '(root)'}: {p['message']}" for p in problems),
                details=problems,
            )
        async with self.sessionmaker() as session:
            mcp = await self.get_mcp(session, workspace_id, mcp_id)
            config = self.config_of(mcp)
        connector = await self.connectors.get(mcp_id, config)
        try:
            return await connector.call(name, arguments, context)
        except FunctionNotFound:
            # The server no longer has it: refresh the cache so the next listing is right.
            try:
                await self.refresh(workspace_id, mcp_id)
            except UpstreamError:
                logger.warning("Refresh after an unknown function failed for %s", mcp_id)
            raise

    async def _find_tool(self, workspace_id: str, mcp_id: str, name: str) -> McpTool:
        """The cached tool ``name``, discovering the tools again when it is not cached.

        Raises:
            NotFound: the server does not offer ``name``.
            UpstreamError: it is not cached and the server cannot be asked (or may not be reached).
        """
        for tool in await self.tools(workspace_id, mcp_id):
            if tool.name == name:
                return tool
        # Not in the cache: the server may have gained it since the last discovery.
        mcp = await self.refresh(workspace_id, mcp_id)
        for tool in mcp.tools:
            if tool.name == name:
                return tool
        raise NotFound(f"MCP {mcp_id} has no function named {name!r}", code="function_not_found")

    # -- queries ------------------------------------------------------------------------------

    async def get_mcp(self, session: AsyncSession, workspace_id: str, mcp_id: str) -> McpServer:
        mcp = await session.scalar(
            select(McpServer).where(McpServer.id == mcp_id, McpServer.workspace_id == workspace_id)
        )
        if mcp is None:
            raise NotFound(f"No MCP {mcp_id} in this workspace")
        return mcp

    async def assistant_functions(self, session: AsyncSession, assistant_id: str) -> list[AttachedFunction]:
        """Every function the assistant can call, with model-facing names (enabled MCPs only)."""
        functions, _mcps = await self.attached(session, assistant_id)
        return functions

    async def attached(
        self, session: AsyncSession, assistant_id: str
    ) -> tuple[list[AttachedFunction], dict[str, McpServer]]:
        """The assistant's functions and the (enabled) MCP rows they live on, in one query."""
        rows = (
            await session.execute(
                select(McpServer)
                .join(AssistantMcp, AssistantMcp.mcp_id == McpServer.id)
                .where(AssistantMcp.assistant_id == assistant_id, McpServer.enabled.is_(True))
                .order_by(AssistantMcp.created_at, McpServer.id)
            )
        ).scalars()
        mcps = {mcp.id: mcp for mcp in rows}
        tools: list[tuple[McpServer, McpTool]] = [(mcp, tool) for mcp in mcps.values() for tool in mcp.tools]
        refs = assign_model_names((mcp.id, mcp.name, tool.name) for mcp, tool in tools)
        by_key = {(mcp.id, tool.name): tool for mcp, tool in tools}
        functions = [
            AttachedFunction(
                ref=ref,
                description=by_key[(ref.mcp_id, ref.function)].description,
                input_schema=by_key[(ref.mcp_id, ref.function)].input_schema,
                output_schema=by_key[(ref.mcp_id, ref.function)].output_schema,
            )
            for ref in refs
        ]
        return functions, mcps

    async def forget(self, mcp_id: str) -> None:
        """Close the live connector of an MCP (after a change or removal)."""
        await self.connectors.discard(mcp_id)


def argument_validator(schema: Mapping[str, Any]) -> SchemaValidator | None:
    """The SDK's validator for a function's input schema (so the platform and function servers
    name problems alike); ``None`` for a schema that is itself broken (third-party servers
    publish some), which is not held against callers."""
    try:
        return SchemaValidator(dict(schema), "function")
    except (DefinitionError, jsonschema.exceptions.UnknownType, TypeError):
        logger.warning("Skipping argument validation: the function's schema is not valid JSON Schema")
        return None


def validation_problems(validator: SchemaValidator | None, arguments: Mapping[str, Any]) -> list[dict[str, str]]:
    """Every way ``arguments`` fail ``validator``, as ``[{field, message}]``."""
    if validator is None:
        return []
    try:
        problems = validator.validate(arguments)
    except (jsonschema.exceptions.UnknownType, TypeError):
        logger.warning("Skipping argument validation: the function's schema is not valid JSON Schema")
        return []
    return [problem.to_wire() for problem in problems]


def schema_problems(schema: Mapping[str, Any], arguments: Mapping[str, Any]) -> list[dict[str, str]]:
    """Every way ``arguments`` fail ``schema``, as ``[{field, message}]`` (see :func:`argument_validator`)."""
    return validation_problems(argument_validator(schema), arguments)
