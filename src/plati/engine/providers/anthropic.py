"""The ANTHROPIC provider: the Messages API through the official ``anthropic`` SDK."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, NoReturn

import anthropic
import httpx2
from anthropic.types import (
    ContentBlockParam,
    Message,
    MessageParam,
    RawMessageStreamEvent,
    TextBlockParam,
    ToolParam,
    ToolResultBlockParam,
    ToolUseBlockParam,
)

from plati.engine.messages import AssistantText, FunctionCall, Part, UserText, result_text, step_groups
from plati.engine.providers.base import (
    ModelReply,
    ModelRequest,
    ReplyDone,
    StreamEvent,
    TextDelta,
    ToolDef,
    Usage,
)
from plati.engine.providers.errors import (
    ProviderBadReply,
    ProviderError,
    ProviderTimeout,
    ProviderUnavailable,
    error_for_status,
    parse_retry_after,
    provider_message,
)
from plati.security.egress import refusal_in

__all__ = ["AnthropicProvider", "to_anthropic_messages", "to_anthropic_tools"]

NAME = "ANTHROPIC"
LABEL = "The Anthropic provider"

# The HTTP status each Anthropic error type stands for (errors inside a stream come with 200).
_STREAM_ERROR_STATUS = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "overloaded_error": 529,
}


class AnthropicProvider:
    """A Claude model behind the Anthropic Messages API.

    Args:
        api_key: the provider's key. No environment variable or profile is read for credentials.
        model: the default model, overridden by ``ModelRequest.model``.
        base_url: ``None`` means the SDK's default (``ANTHROPIC_BASE_URL`` if set, else Anthropic's).
        timeout: seconds for each request (and between streamed events).
        max_tokens: the reply's token limit (the API requires one), unless the request sets it.
        max_retries: the SDK's retries on connection errors, 408/409/429 and 5xx.
        http_client: an ``httpx2.AsyncClient`` to use (not closed by :meth:`aclose`).
    """

    name = NAME

    def __init__(
        self,
        *,
        api_key: str,
        model: str,
        base_url: str | None = None,
        timeout: float = 60.0,
        max_tokens: int = 1024,
        max_retries: int = 2,
        http_client: httpx2.AsyncClient | None = None,
    ) -> None:
        self.model = model
        self.max_tokens = max_tokens
        self._api_key = api_key
        self._client = anthropic.AsyncAnthropic(
            api_key=api_key or "unused",
            base_url=base_url,
            timeout=timeout,
            max_retries=max_retries,
            http_client=http_client,
        )
        self._owns_http_client = http_client is None

    async def aclose(self) -> None:
        if self._owns_http_client:
            await self._client.close()

    async def __aenter__(self) -> AnthropicProvider:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def _arguments(self, request: ModelRequest) -> dict[str, Any]:
        arguments: dict[str, Any] = {
            "model": request.model or self.model,
            "max_tokens": request.max_tokens or self.max_tokens,
            "messages": to_anthropic_messages(request.history),
        }
        if request.system:
            arguments["system"] = request.system
        if request.tools:
            arguments["tools"] = to_anthropic_tools(request.tools)
        if request.temperature is not None:
            # This SDK no longer lists `temperature`; the wire field still exists for the models
            # that accept it, so it travels as an extra body field.
            arguments["extra_body"] = {"temperature": request.temperature}
        return arguments

    async def complete(self, request: ModelRequest) -> ModelReply:
        """Ask the model once and wait for the whole reply.

        Raises:
            ProviderError: a subclass saying who must act (see ``providers.errors``).
        """
        try:
            message: Message = await self._client.messages.create(**self._arguments(request))
        except (anthropic.AnthropicError, httpx2.HTTPError) as exc:
            self._raise(exc)
        return _reply_from_message(message)

    async def stream(self, request: ModelRequest) -> AsyncIterator[StreamEvent]:
        """Ask the model and yield its text as it comes, then one :class:`ReplyDone`.

        Raises:
            ProviderError: a subclass saying who must act (see ``providers.errors``).
        """
        assembler = _StreamAssembler()
        try:
            events = await self._client.messages.create(**self._arguments(request), stream=True)
            async with events:
                async for event in events:
                    text = assembler.add(event)
                    if text:
                        yield TextDelta(text)
        except (anthropic.AnthropicError, httpx2.HTTPError) as exc:
            self._raise(exc)
        yield ReplyDone(assembler.reply())

    def _raise(self, exc: anthropic.AnthropicError | httpx2.HTTPError) -> NoReturn:
        refusal = refusal_in(exc)
        if refusal is not None:  # the network policy refused the workspace's base URL
            raise refusal from exc
        if isinstance(exc, anthropic.APITimeoutError | httpx2.TimeoutException):
            raise ProviderTimeout(f"{LABEL} did not answer in time.", provider=NAME) from exc
        if isinstance(exc, anthropic.APIConnectionError | httpx2.TransportError):
            raise ProviderUnavailable(f"{LABEL} could not be reached.", provider=NAME) from exc
        if isinstance(exc, anthropic.APIStatusError):
            status = exc.status_code
            if status < 400:
                # An `error` event inside a stream that began with 200: classify it by its type.
                status = _STREAM_ERROR_STATUS.get(str(exc.type), 500)
            raise error_for_status(
                provider=NAME,
                label=LABEL,
                status=status,
                detail=provider_message(exc.body, secrets=(self._api_key,)),
                retry_after=parse_retry_after(exc.response.headers),
            ) from exc
        if isinstance(exc, anthropic.APIError):
            detail = provider_message(exc.body, secrets=(self._api_key,))
            said = f": {detail}" if detail else ""
            raise ProviderUnavailable(f"{LABEL} failed while answering{said}.", provider=NAME) from exc
        raise ProviderError(f"{LABEL} could not be used: {type(exc).__name__}.", provider=NAME) from exc


# --- request mapping ------------------------------------------------------------------------


def to_anthropic_tools(tools: list[ToolDef]) -> list[ToolParam]:
    return [{"name": t.name, "description": t.description, "input_schema": t.parameters} for t in tools]


def to_anthropic_messages(history: list[Part]) -> list[MessageParam]:
    """The Messages API ``messages`` for a history (see ``messages.step_groups``): user texts and
    ``tool_result`` blocks (``is_error`` for failures) are user content, assistant texts and
    ``tool_use`` blocks assistant content; consecutive messages of one role are merged because the
    API requires alternation, and empty texts are left out because it rejects them."""
    messages: list[MessageParam] = []
    for step in step_groups(history):
        blocks: list[ContentBlockParam] = []
        role: str
        if step.role == "results":
            role = "user"
            for result in step.results:
                block: ToolResultBlockParam = {
                    "type": "tool_result",
                    "tool_use_id": result.call_id,
                    "content": result_text(result),
                }
                if not result.success:
                    block["is_error"] = True
                blocks.append(block)
        else:
            role = step.role
            for part in step.parts:
                if isinstance(part, FunctionCall):
                    use: ToolUseBlockParam = {
                        "type": "tool_use",
                        "id": part.call_id,
                        "name": part.name,
                        "input": part.arguments,
                    }
                    blocks.append(use)
                elif isinstance(part, AssistantText | UserText) and part.text:
                    text: TextBlockParam = {"type": "text", "text": part.text}
                    blocks.append(text)
        if not blocks:
            continue
        if messages and messages[-1]["role"] == role:
            previous = messages[-1]["content"]
            assert isinstance(previous, list)
            previous.extend(blocks)
        elif role == "user":
            messages.append({"role": "user", "content": blocks})
        else:
            messages.append({"role": "assistant", "content": blocks})
    return messages


# --- reply mapping --------------------------------------------------------------------------


def _object_input(name: str, value: object) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ProviderBadReply(
            f"The model called {name!r} with input that is not a JSON object.", provider=NAME, function=name
        )
    return value


def _reply_from_message(message: Message) -> ModelReply:
    parts: list[AssistantText | FunctionCall] = []
    for block in message.content:
        if block.type == "text":
            _append_text(parts, block.text)
        elif block.type == "tool_use":
            parts.append(
                FunctionCall(call_id=block.id, name=block.name, arguments=_object_input(block.name, block.input))
            )
        # Other blocks (thinking, server tools) are not part of the neutral model.
    usage = Usage(input_tokens=message.usage.input_tokens or 0, output_tokens=message.usage.output_tokens or 0)
    return ModelReply(parts=parts, usage=usage, finish_reason=message.stop_reason)


def _append_text(parts: list[AssistantText | FunctionCall], text: str) -> None:
    if not text:
        return
    if parts and isinstance(parts[-1], AssistantText):
        parts[-1] = AssistantText(text=parts[-1].text + text)
    else:
        parts.append(AssistantText(text=text))


@dataclass
class _Block:
    kind: str
    text: list[str] = field(default_factory=list)
    call_id: str = ""
    name: str = ""


@dataclass
class _StreamAssembler:
    """Builds a reply from the raw event stream: text from ``text_delta``s, each ``tool_use`` input
    from its ``input_json_delta`` pieces, usage from ``message_start`` and ``message_delta``."""

    blocks: dict[int, _Block] = field(default_factory=dict)
    input_tokens: int = 0
    output_tokens: int = 0
    finish_reason: str | None = None

    def add(self, event: RawMessageStreamEvent) -> str:
        if event.type == "message_start":
            self.input_tokens = event.message.usage.input_tokens or 0
            self.output_tokens = event.message.usage.output_tokens or 0
        elif event.type == "content_block_start":
            block = event.content_block
            if block.type == "tool_use":
                self.blocks[event.index] = _Block("tool_use", call_id=block.id, name=block.name)
            elif block.type == "text":
                self.blocks[event.index] = _Block("text", text=[block.text] if block.text else [])
                return block.text
        elif event.type == "content_block_delta":
            target = self.blocks.get(event.index)
            if target is None:
                return ""
            if event.delta.type == "text_delta":
                target.text.append(event.delta.text)
                return event.delta.text
            if event.delta.type == "input_json_delta":
                target.text.append(event.delta.partial_json)
        elif event.type == "message_delta":
            if event.delta.stop_reason:
                self.finish_reason = event.delta.stop_reason
            if event.usage.input_tokens is not None:
                self.input_tokens = event.usage.input_tokens
            self.output_tokens = event.usage.output_tokens
        return ""

    def reply(self) -> ModelReply:
        parts: list[AssistantText | FunctionCall] = []
        for index in sorted(self.blocks):
            block = self.blocks[index]
            if block.kind == "text":
                _append_text(parts, "".join(block.text))
                continue
            raw = "".join(block.text).strip()
            try:
                value = json.loads(raw) if raw else {}
            except json.JSONDecodeError:
                raise ProviderBadReply(
                    f"The model called {block.name!r} with input that is not valid JSON.",
                    provider=NAME,
                    function=block.name,
                ) from None
            parts.append(
                FunctionCall(call_id=block.call_id, name=block.name, arguments=_object_input(block.name, value))
            )
        usage = Usage(input_tokens=self.input_tokens, output_tokens=self.output_tokens)
        return ModelReply(parts=parts, usage=usage, finish_reason=self.finish_reason)
