"""A fake Anthropic server: ``POST /v1/messages``, answered as a JSON ``message`` or, when the
request says ``"stream": true``, as the real SSE event sequence (message_start, ping,
content_block_start / content_block_delta (text_delta, input_json_delta in pieces) /
content_block_stop per block, message_delta with stop_reason and usage, message_stop)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from tests.plati.fakes import ErrorAnswer, FakeProvider, Reply, Script, ToolCall, chunks

_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    529: "overloaded_error",
}


class FakeAnthropic(FakeProvider):
    """Serve ``fake.app`` (e.g. with ``serve_app``); point the SDK at the served URL."""

    def __init__(self, script: Script | None = None) -> None:
        super().__init__(script)
        self.app = Starlette(routes=[Route("/v1/messages", self._messages, methods=["POST"])])

    async def _messages(self, request: Request) -> Response:
        body = await request.json()
        self.record(body, {k.lower(): v for k, v in request.headers.items()})
        answer = await self.settle(self.next_answer(body))
        if isinstance(answer, ErrorAnswer):
            return error_response(answer)
        if body.get("stream"):
            return StreamingResponse(
                _sse(message_events(body.get("model", ""), answer)), media_type="text/event-stream"
            )
        return JSONResponse(message(body.get("model", ""), answer))


def error_response(answer: ErrorAnswer) -> JSONResponse:
    headers = {"request-id": "req_fake", **answer.headers}
    if answer.retry_after is not None:
        headers["retry-after"] = answer.retry_after
    error_type = answer.type or _ERROR_TYPES.get(answer.status, "api_error")
    payload = {"type": "error", "error": {"type": error_type, "message": answer.message}, "request_id": "req_fake"}
    return JSONResponse(payload, status_code=answer.status, headers=headers)


def _call_id(call: ToolCall, index: int) -> str:
    return call.id or f"toolu_fake{index}"


def _stop_reason(reply: Reply) -> str:
    return reply.finish_reason or ("tool_use" if reply.tool_calls else "end_turn")


def _envelope(
    model: str, content: list[dict[str, Any]], stop_reason: str | None, usage: dict[str, int]
) -> dict[str, Any]:
    return {
        "id": "msg_fake",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": usage,
    }


def message(model: str, reply: Reply) -> dict[str, Any]:
    content: list[dict[str, Any]] = []
    if reply.text:
        content.append({"type": "text", "text": reply.text})
    for index, call in enumerate(reply.tool_calls):
        # A raw string is sent as the input itself: not an object, as a malformed reply.
        content.append({"type": "tool_use", "id": _call_id(call, index), "name": call.name, "input": call.arguments})
    usage = {"input_tokens": reply.input_tokens, "output_tokens": reply.output_tokens}
    return _envelope(model, content, _stop_reason(reply), usage)


def message_events(model: str, reply: Reply) -> list[tuple[str, dict[str, Any]]]:
    start_usage = {"input_tokens": reply.input_tokens, "output_tokens": 1}
    events: list[tuple[str, dict[str, Any]]] = [
        ("message_start", {"type": "message_start", "message": _envelope(model, [], None, start_usage)}),
        ("ping", {"type": "ping"}),
    ]
    index = 0
    if reply.text:
        events.append(_event("content_block_start", index=index, content_block={"type": "text", "text": ""}))
        for piece in chunks(reply.text, reply.chunk_size):
            events.append(_event("content_block_delta", index=index, delta={"type": "text_delta", "text": piece}))
        if reply.stream_error is not None:
            error = {"type": "overloaded_error", "message": reply.stream_error}
            return [*events, ("error", {"type": "error", "error": error})]
        events.append(_event("content_block_stop", index=index))
        index += 1
    for number, call in enumerate(reply.tool_calls):
        block = {"type": "tool_use", "id": _call_id(call, number), "name": call.name, "input": {}}
        events.append(_event("content_block_start", index=index, content_block=block))
        raw = call.arguments if isinstance(call.arguments, str) else json.dumps(call.arguments)
        for piece in ["", *chunks(raw, reply.chunk_size)]:
            delta = {"type": "input_json_delta", "partial_json": piece}
            events.append(_event("content_block_delta", index=index, delta=delta))
        events.append(_event("content_block_stop", index=index))
        index += 1
    stop: dict[str, Any] = {"stop_reason": _stop_reason(reply), "stop_sequence": None}
    events.append(_event("message_delta", delta=stop, usage={"output_tokens": reply.output_tokens}))
    events.append(_event("message_stop"))
    return events


def _event(kind: str, **fields: Any) -> tuple[str, dict[str, Any]]:
    return kind, {"type": kind, **fields}


async def _sse(events: list[tuple[str, dict[str, Any]]]) -> AsyncIterator[bytes]:
    for kind, data in events:
        yield f"event: {kind}\ndata: {json.dumps(data)}\n\n".encode()
