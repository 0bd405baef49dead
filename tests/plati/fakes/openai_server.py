"""A fake OpenAI-compatible server: ``POST /v1/chat/completions``, answered as a JSON
``chat.completion`` or, when the request says ``"stream": true``, as SSE ``chat.completion.chunk``
lines (text and tool-call arguments split across chunks, a usage chunk when
``stream_options.include_usage``, then ``data: [DONE]``)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from tests.plati.fakes import ErrorAnswer, FakeProvider, Reply, Script, ToolCall, chunks

CREATED = 1_700_000_000

_ERROR_TYPES = {
    400: ("invalid_request_error", None),
    401: ("invalid_request_error", "invalid_api_key"),
    403: ("invalid_request_error", "unsupported_country_region_territory"),
    404: ("invalid_request_error", "model_not_found"),
    429: ("requests", "rate_limit_exceeded"),
}


class FakeOpenAI(FakeProvider):
    """Serve ``fake.app`` (e.g. with ``serve_app``); point the SDK at ``<url>/v1``."""

    def __init__(self, script: Script | None = None) -> None:
        super().__init__(script)
        self.app = Starlette(routes=[Route("/v1/chat/completions", self._chat_completions, methods=["POST"])])

    async def _chat_completions(self, request: Request) -> Response:
        body = await request.json()
        self.record(body, {k.lower(): v for k, v in request.headers.items()})
        answer = await self.settle(self.next_answer(body))
        if isinstance(answer, ErrorAnswer):
            return error_response(answer)
        if body.get("stream"):
            include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
            return StreamingResponse(
                _sse(completion_chunks(body.get("model", ""), answer, include_usage=include_usage)),
                media_type="text/event-stream",
            )
        return JSONResponse(completion(body.get("model", ""), answer))


def error_response(answer: ErrorAnswer) -> JSONResponse:
    default_type, code = _ERROR_TYPES.get(answer.status, ("server_error", None))
    headers = dict(answer.headers)
    if answer.retry_after is not None:
        headers["retry-after"] = answer.retry_after
    payload = {"error": {"message": answer.message, "type": answer.type or default_type, "param": None, "code": code}}
    return JSONResponse(payload, status_code=answer.status, headers=headers)


def _arguments(call: ToolCall) -> str:
    return call.arguments if isinstance(call.arguments, str) else json.dumps(call.arguments)


def _call_id(call: ToolCall, index: int) -> str:
    return call.id or f"call_fake{index}"


def _finish_reason(reply: Reply) -> str:
    return reply.finish_reason or ("tool_calls" if reply.tool_calls else "stop")


def _usage(reply: Reply) -> dict[str, int]:
    return {
        "prompt_tokens": reply.input_tokens,
        "completion_tokens": reply.output_tokens,
        "total_tokens": reply.input_tokens + reply.output_tokens,
    }


def completion(model: str, reply: Reply) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": reply.text, "refusal": None}
    if reply.tool_calls:
        message["tool_calls"] = [
            {"id": _call_id(c, i), "type": "function", "function": {"name": c.name, "arguments": _arguments(c)}}
            for i, c in enumerate(reply.tool_calls)
        ]
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": CREATED,
        "model": model,
        "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": _finish_reason(reply)}],
        "usage": _usage(reply),
    }


def completion_chunks(model: str, reply: Reply, *, include_usage: bool) -> list[dict[str, Any]]:
    def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
        return {
            "id": "chatcmpl-fake",
            "object": "chat.completion.chunk",
            "created": CREATED,
            "model": model,
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}],
        }

    out = [chunk({"role": "assistant", "content": ""})]
    out += [chunk({"content": piece}) for piece in chunks(reply.text or "", reply.chunk_size) if piece]
    if reply.stream_error is not None:
        # What OpenAI sends when a stream fails after it started.
        return [*out, {"error": {"message": reply.stream_error, "type": "server_error", "param": None, "code": None}}]
    for index, call in enumerate(reply.tool_calls):
        head = {"index": index, "id": _call_id(call, index), "type": "function"}
        out.append(chunk({"tool_calls": [{**head, "function": {"name": call.name, "arguments": ""}}]}))
        out += [
            chunk({"tool_calls": [{"index": index, "function": {"arguments": piece}}]})
            for piece in chunks(_arguments(call), reply.chunk_size)
        ]
    out.append(chunk({}, _finish_reason(reply)))
    if include_usage:
        out.append({**chunk({}), "choices": [], "usage": _usage(reply)})
    return out


async def _sse(items: list[dict[str, Any]]) -> AsyncIterator[bytes]:
    for item in items:
        yield f"data: {json.dumps(item)}\n\n".encode()
    yield b"data: [DONE]\n\n"
