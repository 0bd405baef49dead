"""The simple function protocol of SPEC section 2: ``GET /tools``, ``POST /call``, ``GET /tasks/{id}``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic_core import from_json, to_json

from .context import CallerInfo
from .errors import UnknownFunction
from .executor import CallOutcome, Executor
from .function import Function
from .http import send_bytes, send_json
from .tasks import TaskStore


def tool_to_wire(function: Function) -> dict[str, Any]:
    """A function as the simple protocol lists it (snake_case ``input_schema``)."""
    tool: dict[str, Any] = {
        "name": function.name,
        "description": function.description,
        "input_schema": function.input_schema,
    }
    if function.output is not None:
        tool["output_schema"] = function.output.schema
    if function.annotations:
        tool["annotations"] = function.annotations
        if "title" in function.annotations:
            tool["title"] = function.annotations["title"]
    return tool


def outcome_to_wire(outcome: CallOutcome) -> tuple[int, dict[str, Any]]:
    """The status and body of SPEC section 2's table for a call outcome."""
    if outcome.kind == "ok":
        return 200, {"success": True, "data": outcome.data}
    if outcome.kind == "task_started":
        return 200, {"success": True, "task_id": outcome.task_id, "message": outcome.data["message"]}
    if outcome.kind == "function_error":
        return 200, {"success": False, "error": outcome.error}
    if outcome.kind == "invalid_arguments":
        return 400, {
            "success": False,
            "error": outcome.error,
            "details": [problem.to_wire() for problem in outcome.problems],
        }
    return 500, {"success": False, "error": outcome.error}


class RestProtocol:
    """Serves the simple protocol from the server's functions."""

    def __init__(self, functions: Mapping[str, Function], executor: Executor, tasks: TaskStore) -> None:
        self._functions = functions
        self._executor = executor
        self._tasks = tasks
        self._tools_payload: bytes | None = None
        self._tools_count = -1

    def tools_payload(self) -> bytes:
        # The listing is rebuilt only when functions were added since it was last served.
        if self._tools_payload is None or self._tools_count != len(self._functions):
            tools = [tool_to_wire(function) for function in self._functions.values()]
            self._tools_payload = to_json({"tools": tools})
            self._tools_count = len(self._functions)
        return self._tools_payload

    async def list_tools(self, send: Any) -> None:
        await send_bytes(send, 200, self.tools_payload())

    async def call(self, body: bytes, caller: CallerInfo, send: Any) -> None:
        request, problem = parse_call_body(body)
        if request is None:
            await send_json(
                send,
                400,
                {"success": False, "error": problem, "details": [{"field": "", "message": problem}]},
            )
            return
        name, arguments = request
        try:
            outcome = await self._executor.call(name, arguments, caller)
        except UnknownFunction:
            await send_json(send, 404, {"error": "Function not found"})
            return
        status, payload = outcome_to_wire(outcome)
        await send_json(send, status, payload)

    async def get_task(self, task_id: str, send: Any) -> None:
        record = await self._tasks.get(task_id)
        if record is None:
            await send_json(send, 404, {"error": "Task not found"})
            return
        await send_json(send, 200, record.to_wire())


def parse_call_body(body: bytes) -> tuple[tuple[str, dict[str, Any]] | None, str]:
    """Decode ``{"name", "arguments"}``; on failure return None and a one-line reason."""
    try:
        decoded = from_json(body) if body else None
    except ValueError:
        return None, "Request body is not valid JSON"
    if not isinstance(decoded, dict):
        return None, 'Request body must be a JSON object like {"name": "...", "arguments": {...}}'
    name = decoded.get("name")
    if not isinstance(name, str) or not name:
        return None, "Field 'name' must be a non-empty string naming the function"
    arguments = decoded.get("arguments")
    if arguments is None:
        arguments = {}
    if not isinstance(arguments, dict):
        return None, "Field 'arguments' must be a JSON object"
    return (name, arguments), ""
