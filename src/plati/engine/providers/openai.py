"""The OPENAI provider: Chat Completions through the official ``openai`` SDK, for OpenAI and any
OpenAI-compatible endpoint (Azure, Ollama, vLLM, llama.cpp, LM Studio, OpenRouter...). Only the
common subset of the wire format is used: ``messages``, ``tools`` (function tools), ``temperature``,
``max_tokens``, ``stream`` and ``stream_options.include_usage``."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, NoReturn

import httpx2
import openai
from openai.types.chat import (
    ChatCompletion,
    ChatCompletionAssistantMessageParam,
    ChatCompletionChunk,
    ChatCompletionFunctionToolParam,
    ChatCompletionMessageFunctionToolCallParam,
    ChatCompletionMessageParam,
    ChatCompletionToolMessageParam,
)

from plati.engine.messages import AssistantText, FunctionCall, Part, result_text, step_groups
from plati.engine.providers.base import (
    ModelReply,
    ModelRequest,
    ReplyDone,
    StreamEvent,
    TextDelta,
    ToolDef,
    Usage,
    new_call_id,
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

__all__ = ["OpenAIProvider", "to_openai_messages", "to_openai_tools"]

NAME = "OPENAI"
LABEL = "The OpenAI provider"


class OpenAIProvider:
    """A model behind an OpenAI-compatible Chat Completions endpoint.

    Args:
        api_key: the provider's key; local servers that need none may get ``None`` (a placeholder
            is sent). The ``OPENAI_API_KEY`` environment variable is never read.
        model: the default model, overridden by ``ModelRequest.model``.
        base_url: the endpoint, e.g. ``http://localhost:11434/v1`` for Ollama; ``None`` means the
            SDK's default (``OPENAI_BASE_URL`` if set, else OpenAI's own).
        timeout: seconds for each request (and between streamed chunks).
        max_retries: the SDK's retries on connection errors, 408/409/429 and 5xx.
        http_client: an ``httpx2.AsyncClient`` to use (not closed by :meth:`aclose`).
    """

    name = NAME

    def __init__(
        self,
        *,
        api_key: str | None,
        model: str,
        base_url: str | None = None,
        timeout: float = 60.0,
        max_retries: int = 2,
        http_client: httpx2.AsyncClient | None = None,
    ) -> None:
        self.model = model
        self._api_key = api_key or ""
        self._client = openai.AsyncOpenAI(
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

    async def __aenter__(self) -> OpenAIProvider:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def _arguments(self, request: ModelRequest) -> dict[str, Any]:
        arguments: dict[str, Any] = {
            "model": request.model or self.model,
            "messages": to_openai_messages(request.system, request.history),
        }
        if request.tools:
            arguments["tools"] = to_openai_tools(request.tools)
        if request.temperature is not None:
            arguments["temperature"] = request.temperature
        if request.max_tokens is not None:
            arguments["max_tokens"] = request.max_tokens
        return arguments

    async def complete(self, request: ModelRequest) -> ModelReply:
        """Ask the model once and wait for the whole reply.

        Raises:
            ProviderError: a subclass saying who must act (see ``providers.errors``).
        """
        try:
            completion: ChatCompletion = await self._client.chat.completions.create(**self._arguments(request))
        except (openai.OpenAIError, httpx2.HTTPError) as exc:
            self._raise(exc)
        return _reply_from_completion(completion)

    async def stream(self, request: ModelRequest) -> AsyncIterator[StreamEvent]:
        """Ask the model and yield its text as it comes, then one :class:`ReplyDone`.

        Raises:
            ProviderError: a subclass saying who must act (see ``providers.errors``).
        """
        assembler = _StreamAssembler()
        try:
            chunks = await self._client.chat.completions.create(
                **self._arguments(request), stream=True, stream_options={"include_usage": True}
            )
            async with chunks:
                async for chunk in chunks:
                    text = assembler.add(chunk)
                    if text:
                        yield TextDelta(text)
        except (openai.OpenAIError, httpx2.HTTPError) as exc:
            self._raise(exc)
        yield ReplyDone(assembler.reply())

    def _raise(self, exc: openai.OpenAIError | httpx2.HTTPError) -> NoReturn:
        refusal = refusal_in(exc)
        if refusal is not None:  # the network policy refused the workspace's base URL
            raise refusal from exc
        if isinstance(exc, openai.APITimeoutError | httpx2.TimeoutException):
            raise ProviderTimeout(f"{LABEL} did not answer in time.", provider=NAME) from exc
        if isinstance(exc, openai.APIConnectionError | httpx2.TransportError):
            raise ProviderUnavailable(f"{LABEL} could not be reached.", provider=NAME) from exc
        if isinstance(exc, openai.APIStatusError):
            raise error_for_status(
                provider=NAME,
                label=LABEL,
                status=exc.status_code,
                detail=provider_message(exc.body, secrets=(self._api_key,)),
                retry_after=parse_retry_after(exc.response.headers),
            ) from exc
        if isinstance(exc, openai.APIError):
            # An error event inside a stream, or a response the SDK could not read.
            detail = provider_message(exc.body, secrets=(self._api_key,))
            said = f": {detail}" if detail else ""
            raise ProviderUnavailable(f"{LABEL} failed while answering{said}.", provider=NAME) from exc
        raise ProviderError(f"{LABEL} could not be used: {type(exc).__name__}.", provider=NAME) from exc


# --- request mapping ------------------------------------------------------------------------


def to_openai_tools(tools: list[ToolDef]) -> list[ChatCompletionFunctionToolParam]:
    return [
        {
            "type": "function",
            "function": {"name": t.name, "description": t.description, "parameters": t.parameters},
        }
        for t in tools
    ]


def to_openai_messages(system: str, history: list[Part]) -> list[ChatCompletionMessageParam]:
    """The Chat Completions ``messages`` for a history (see ``messages.step_groups``): the system
    prompt first; an assistant step is one message with ``content`` and ``tool_calls``; each
    function result is a ``role: tool`` message (a failure reads ``Error: <message>``)."""
    messages: list[ChatCompletionMessageParam] = []
    if system:
        messages.append({"role": "system", "content": system})
    for step in step_groups(history):
        if step.role == "user":
            messages.append({"role": "user", "content": step.text})
        elif step.role == "assistant":
            message: ChatCompletionAssistantMessageParam = {"role": "assistant", "content": step.text or None}
            calls: list[ChatCompletionMessageFunctionToolCallParam] = [
                {
                    "id": call.call_id,
                    "type": "function",
                    "function": {"name": call.name, "arguments": json.dumps(call.arguments, ensure_ascii=False)},
                }
                for call in step.calls
            ]
            if calls:
                message["tool_calls"] = calls
            messages.append(message)
        else:
            for result in step.results:
                content = result_text(result) if result.success else f"Error: {result_text(result)}"
                tool_message: ChatCompletionToolMessageParam = {
                    "role": "tool",
                    "tool_call_id": result.call_id,
                    "content": content,
                }
                messages.append(tool_message)
    return messages


# --- reply mapping --------------------------------------------------------------------------


def _parse_arguments(name: str, raw: object) -> dict[str, Any]:
    """Tool-call arguments as a dict. Some compatible servers send an object instead of a string,
    or an empty string for a function without parameters; both are accepted."""
    if isinstance(raw, dict):
        return raw
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return {}
    if not isinstance(raw, str):
        raise ProviderBadReply(
            f"The model called {name!r} with arguments of type {type(raw).__name__}, not a JSON object.",
            provider=NAME,
            function=name,
        )
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        raise ProviderBadReply(
            f"The model called {name!r} with arguments that are not valid JSON.", provider=NAME, function=name
        ) from None
    if not isinstance(value, dict):
        raise ProviderBadReply(
            f"The model called {name!r} with arguments that are not a JSON object.", provider=NAME, function=name
        )
    return value


def _usage(usage: object) -> Usage:
    if usage is None:
        return Usage()
    return Usage(
        input_tokens=getattr(usage, "prompt_tokens", None) or 0,
        output_tokens=getattr(usage, "completion_tokens", None) or 0,
    )


def _reply_from_completion(completion: ChatCompletion) -> ModelReply:
    if not completion.choices:
        raise ProviderBadReply(f"{LABEL} answered without any choice.", provider=NAME)
    choice = completion.choices[0]
    message = choice.message
    parts: list[AssistantText | FunctionCall] = []
    if message.content:
        parts.append(AssistantText(text=message.content))
    for call in message.tool_calls or []:
        function = getattr(call, "function", None)
        name = getattr(function, "name", None)
        if function is None or not isinstance(name, str) or not name:
            raise ProviderBadReply(f"{LABEL} answered a tool call without a function name.", provider=NAME)
        parts.append(
            FunctionCall(
                call_id=call.id or new_call_id(),
                name=name,
                arguments=_parse_arguments(name, function.arguments),
            )
        )
    return ModelReply(parts=parts, usage=_usage(completion.usage), finish_reason=choice.finish_reason)


@dataclass
class _PendingCall:
    call_id: str | None = None
    name: str = ""
    arguments: list[str] = field(default_factory=list)


@dataclass
class _StreamAssembler:
    """Builds a reply from chunks: text deltas joined; tool calls assembled by ``index`` (the first
    delta of a call brings its id and name, later ones pieces of its arguments)."""

    text: list[str] = field(default_factory=list)
    calls: dict[int, _PendingCall] = field(default_factory=dict)
    usage: Usage = field(default_factory=Usage)
    finish_reason: str | None = None

    def add(self, chunk: ChatCompletionChunk) -> str:
        if chunk.usage is not None:
            self.usage = _usage(chunk.usage)
        if not chunk.choices:
            return ""
        choice = chunk.choices[0]
        if choice.finish_reason:
            self.finish_reason = choice.finish_reason
        delta = choice.delta
        for call_delta in delta.tool_calls or []:
            pending = self.calls.setdefault(self._index(call_delta.index, call_delta.id), _PendingCall())
            if call_delta.id:
                pending.call_id = call_delta.id
            if call_delta.function is not None:
                if call_delta.function.name and not pending.name:
                    pending.name = call_delta.function.name
                if call_delta.function.arguments:
                    pending.arguments.append(call_delta.function.arguments)
        if delta.content:
            self.text.append(delta.content)
            return delta.content
        return ""

    def _index(self, index: int | None, call_id: str | None) -> int:
        # `index` is required by OpenAI; some compatible servers omit it: a delta with a new id
        # starts a call, one without continues the last.
        if index is not None:
            return index
        last = max(self.calls, default=-1)
        if last < 0 or (call_id and call_id != self.calls[last].call_id):
            return last + 1
        return last

    def reply(self) -> ModelReply:
        parts: list[AssistantText | FunctionCall] = []
        if self.text:
            parts.append(AssistantText(text="".join(self.text)))
        for index in sorted(self.calls):
            pending = self.calls[index]
            if not pending.name:
                raise ProviderBadReply(f"{LABEL} streamed a tool call without a function name.", provider=NAME)
            parts.append(
                FunctionCall(
                    call_id=pending.call_id or new_call_id(),
                    name=pending.name,
                    arguments=_parse_arguments(pending.name, "".join(pending.arguments)),
                )
            )
        return ModelReply(parts=parts, usage=self.usage, finish_reason=self.finish_reason)
