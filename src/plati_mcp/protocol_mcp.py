"""The Model Context Protocol's methods, independent of the transport that carries them.

Both protocol eras are served from one dispatcher:

- the handshake era (``initialize``, revisions up to 2025-11-25): the version is negotiated once
  and requests carry nothing else;
- the stateless revision 2026-07-28: no handshake, every request carries the envelope in
  ``params._meta`` (checked with the official SDK's own validation ladder,
  ``mcp.shared.inbound.classify_inbound_request``), ``server/discover`` describes the server.

Only tools are offered, so the hot methods (``tools/list``, ``tools/call``) take a short path of
plain dicts; the official client drives every method in the test suite.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from mcp.shared.inbound import ERROR_CODE_HTTP_STATUS, InboundLadderRejection, classify_inbound_request
from mcp_types import PROTOCOL_VERSION_META_KEY, SERVER_INFO_META_KEY
from mcp_types.jsonrpc import INVALID_PARAMS, INVALID_REQUEST, METHOD_NOT_FOUND
from mcp_types.version import (
    HANDSHAKE_PROTOCOL_VERSIONS,
    KNOWN_PROTOCOL_VERSIONS,
    LATEST_HANDSHAKE_VERSION,
    MODERN_PROTOCOL_VERSIONS,
)
from pydantic_core import to_json

from .context import CallerInfo
from .errors import UnknownFunction
from .executor import CallOutcome, Executor
from .function import Function

Notify = Callable[[str, dict[str, Any]], Awaitable[None]]
PROTOCOL_VERSION_HEADER = "mcp-protocol-version"


def tool_to_mcp(function: Function) -> dict[str, Any]:
    """A function as MCP ``tools/list`` shows it."""
    tool: dict[str, Any] = {
        "name": function.name,
        "description": function.description,
        "inputSchema": function.input_schema,
    }
    if function.output is not None and not function.background:
        tool["outputSchema"] = function.output.schema
    if function.annotations:
        tool["annotations"] = function.annotations
        if "title" in function.annotations:
            tool["title"] = function.annotations["title"]
    return tool


def outcome_to_mcp(function: Function, outcome: CallOutcome) -> dict[str, Any]:
    """A call outcome as an MCP ``CallToolResult``: failures are results with ``isError``."""
    if outcome.kind == "ok":
        data = outcome.data
        text = data if isinstance(data, str) else to_json(data).decode()
        result: dict[str, Any] = {"content": [{"type": "text", "text": text}], "isError": False}
        if function.output is not None:
            result["structuredContent"] = {"result": data} if function.output.wrapped else data
        elif isinstance(data, dict):
            result["structuredContent"] = data
        return result
    if outcome.kind == "task_started":
        message = outcome.data["message"]
        return {
            "content": [{"type": "text", "text": message}],
            "structuredContent": {"task_id": outcome.task_id, "status": "pending", "message": message},
            "isError": False,
        }
    return {"content": [{"type": "text", "text": outcome.error or "Error"}], "isError": True}


def jsonrpc_error(request_id: Any, code: int, message: str, data: Any = None) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message}
    if data is not None:
        error["data"] = data
    return {"jsonrpc": "2.0", "id": request_id, "error": error}


@dataclass(frozen=True)
class Reply:
    """A JSON-RPC reply (None for notifications) and the HTTP status it travels with."""

    message: dict[str, Any] | None
    status: int = 200


class McpProtocol:
    """Dispatches MCP JSON-RPC messages to the server's functions."""

    def __init__(
        self,
        *,
        name: str,
        version: str,
        instructions: str | None,
        functions: Mapping[str, Function],
        executor: Executor,
        tools_ttl_ms: int = 0,
    ) -> None:
        self._name = name
        self._version = version
        self._instructions = instructions
        self._functions = functions
        self._executor = executor
        self._tools_ttl_ms = tools_ttl_ms
        self._capabilities = {"tools": {"listChanged": False}}
        self._tools: list[dict[str, Any]] | None = None
        self._tools_count = -1

    @property
    def functions(self) -> Mapping[str, Function]:
        return self._functions

    def tools(self) -> list[dict[str, Any]]:
        if self._tools is None or self._tools_count != len(self._functions):
            self._tools = [tool_to_mcp(function) for function in self._functions.values()]
            self._tools_count = len(self._functions)
        return self._tools

    @staticmethod
    def is_modern(message: Mapping[str, Any], headers: Mapping[str, str] | None) -> bool:
        if headers is not None and headers.get(PROTOCOL_VERSION_HEADER) in MODERN_PROTOCOL_VERSIONS:
            return True
        params = message.get("params")
        if isinstance(params, dict):
            meta = params.get("_meta")
            if isinstance(meta, dict) and PROTOCOL_VERSION_META_KEY in meta:
                return True
        return message.get("method") == "server/discover"

    async def handle(
        self,
        message: Any,
        *,
        caller: CallerInfo,
        headers: Mapping[str, str] | None = None,
        notify: Notify | None = None,
    ) -> Reply:
        """Handle one decoded JSON-RPC message.

        ``headers`` are the HTTP headers (lower-case) when the transport is HTTP, None on stdio.
        ``notify`` sends a notification to the client during the request (progress), if the
        transport can.
        """
        if not isinstance(message, dict) or message.get("jsonrpc") != "2.0":
            return self._error(None, INVALID_REQUEST, "Expected a single JSON-RPC 2.0 message object", 400)
        method = message.get("method")
        if "id" not in message:
            # Notifications (initialized, cancelled...) and responses need no answer.
            return Reply(None, 202)
        request_id = message["id"]
        if not isinstance(method, str) or not isinstance(request_id, str | int) or isinstance(request_id, bool):
            return self._error(None, INVALID_REQUEST, "Request needs a string method and a string or integer id", 400)
        params = message.get("params")
        if params is not None and not isinstance(params, dict):
            return self._error(request_id, INVALID_PARAMS, "params must be an object", 400)
        params = params or {}

        modern = self.is_modern(message, headers)
        if modern:
            verdict = classify_inbound_request(message, headers=headers)
            if isinstance(verdict, InboundLadderRejection):
                return self._error(request_id, verdict.code, verdict.message, 0, verdict.data)
        elif headers is not None:
            requested = headers.get(PROTOCOL_VERSION_HEADER)
            if requested is not None and requested not in KNOWN_PROTOCOL_VERSIONS:
                return self._error(
                    request_id, INVALID_REQUEST, f"Unsupported protocol version: {requested}", 400
                )

        if method == "tools/call":
            return await self._tools_call(request_id, params, caller, notify, modern)
        if method == "tools/list":
            result: dict[str, Any] = {"tools": self.tools()}
            if modern:
                result.update(resultType="complete", ttlMs=self._tools_ttl_ms, cacheScope="public")
            return self._result(request_id, result)
        if method == "ping":
            return self._result(request_id, {"resultType": "complete"} if modern else {})
        if method == "initialize" and not modern:
            return self._result(request_id, self._initialize(params))
        if method == "server/discover" and modern:
            return self._result(request_id, self._discover())
        return self._error(request_id, METHOD_NOT_FOUND, f"Method not found: {method}", 0 if modern else 200)

    def _initialize(self, params: Mapping[str, Any]) -> dict[str, Any]:
        requested = params.get("protocolVersion")
        version = requested if requested in HANDSHAKE_PROTOCOL_VERSIONS else LATEST_HANDSHAKE_VERSION
        result: dict[str, Any] = {
            "protocolVersion": version,
            "capabilities": self._capabilities,
            "serverInfo": {"name": self._name, "version": self._version},
        }
        if self._instructions:
            result["instructions"] = self._instructions
        return result

    def _discover(self) -> dict[str, Any]:
        result: dict[str, Any] = {
            "supportedVersions": list(MODERN_PROTOCOL_VERSIONS),
            "capabilities": self._capabilities,
            "resultType": "complete",
            "ttlMs": self._tools_ttl_ms,
            "cacheScope": "public",
            "_meta": {SERVER_INFO_META_KEY: {"name": self._name, "version": self._version}},
        }
        if self._instructions:
            result["instructions"] = self._instructions
        return result

    async def _tools_call(
        self,
        request_id: Any,
        params: Mapping[str, Any],
        caller: CallerInfo,
        notify: Notify | None,
        modern: bool,
    ) -> Reply:
        # Handshake-era clients read a 404 as "session gone", so their errors travel with 200.
        status = 0 if modern else 200
        name = params.get("name")
        if not isinstance(name, str):
            return self._error(request_id, INVALID_PARAMS, "tools/call needs a string 'name'", status)
        arguments = params.get("arguments")
        if arguments is None:
            arguments = {}
        if not isinstance(arguments, dict):
            return self._error(request_id, INVALID_PARAMS, "tools/call 'arguments' must be an object", status)
        progress_sink = None
        meta = params.get("_meta")
        token = meta.get("progressToken") if isinstance(meta, dict) else None
        if notify is not None and token is not None:
            progress_sink = _progress_sink(notify, token)
        if isinstance(meta, dict) and caller.conversation_id is None:
            caller = caller.with_meta(meta)
        try:
            outcome = await self._executor.call(name, arguments, caller, progress_sink)
        except UnknownFunction:
            return self._error(request_id, INVALID_PARAMS, f"Unknown tool: {name}", status)
        result = outcome_to_mcp(self._functions[name], outcome)
        if modern:
            result["resultType"] = "complete"
        return self._result(request_id, result)

    @staticmethod
    def _result(request_id: Any, result: dict[str, Any]) -> Reply:
        return Reply({"jsonrpc": "2.0", "id": request_id, "result": result})

    @staticmethod
    def _error(request_id: Any, code: int, message: str, status: int, data: Any = None) -> Reply:
        # status 0: take the HTTP status from the official code→status table (200 when unmapped).
        http_status = status or ERROR_CODE_HTTP_STATUS.get(code, 200)
        return Reply(jsonrpc_error(request_id, code, message, data), http_status)


def _progress_sink(notify: Notify, token: Any) -> Callable[[float, float | None, str | None], Awaitable[None]]:
    async def sink(progress: float, total: float | None, message: str | None) -> None:
        params: dict[str, Any] = {"progressToken": token, "progress": progress}
        if total is not None:
            params["total"] = total
        if message is not None:
            params["message"] = message
        await notify("notifications/progress", params)

    return sink
