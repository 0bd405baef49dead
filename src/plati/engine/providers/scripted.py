"""The SCRIPTED provider, for engine tests (like pydantic-ai's ``FunctionModel``): it answers from
a list of replies consumed in order, or from a function of the request, and records every request.

    provider = ScriptedProvider([
        reply(call("check_order_status", order_id="A1")),
        reply("Your order A1 has shipped."),
    ])
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import Any

from plati.engine.messages import AssistantText, FunctionCall
from plati.engine.providers.base import ModelReply, ModelRequest, ReplyDone, StreamEvent, TextDelta, Usage, new_call_id
from plati.engine.providers.errors import ProviderError

__all__ = ["ReplyFunction", "ScriptedProvider", "call", "reply"]

ReplyFunction = Callable[[ModelRequest], ModelReply | Awaitable[ModelReply]]
"""Answers a request; may raise a ``ProviderError`` to simulate a provider failure."""


class ScriptedProvider:
    """A provider whose answers are written by the test.

    Args:
        steps: a function ``(ModelRequest) -> ModelReply`` (sync or async), or replies used in
            order; an item that is a :class:`ProviderError` is raised instead of answered.
        chunk_count: into how many :class:`TextDelta` pieces ``stream()`` cuts a reply's text.

    ``requests`` records what the engine asked, in order.
    """

    name = "SCRIPTED"

    def __init__(self, steps: ReplyFunction | Iterable[ModelReply | ProviderError], *, chunk_count: int = 3) -> None:
        self._function: ReplyFunction | None = None
        self._replies: list[ModelReply | ProviderError] = []
        if callable(steps):
            self._function = steps
        else:
            self._replies = list(steps)
        self._used = 0
        self._chunk_count = max(chunk_count, 1)
        self.requests: list[ModelRequest] = []
        self.closed = False

    @property
    def remaining(self) -> int:
        """Replies not used yet (0 for a function)."""
        return len(self._replies) - self._used if self._function is None else 0

    async def complete(self, request: ModelRequest) -> ModelReply:
        self.requests.append(request)
        if self._function is not None:
            answer = self._function(request)
            return await answer if inspect.isawaitable(answer) else answer
        if self._used >= len(self._replies):
            raise RuntimeError(
                f"ScriptedProvider has no reply left for request #{len(self.requests)}; "
                f"it was given {len(self._replies)}, add more."
            )
        item = self._replies[self._used]
        self._used += 1
        if isinstance(item, ProviderError):
            raise item
        return item

    async def stream(self, request: ModelRequest) -> AsyncIterator[StreamEvent]:
        answer = await self.complete(request)
        for piece in _split(answer.text, self._chunk_count):
            yield TextDelta(piece)
        yield ReplyDone(answer)

    async def aclose(self) -> None:
        self.closed = True


def _split(text: str, count: int) -> list[str]:
    if not text:
        return []
    size = max(-(-len(text) // count), 1)
    return [text[i : i + size] for i in range(0, len(text), size)]


def call(name: str, /, call_id: str | None = None, **arguments: Any) -> FunctionCall:
    """A function call part with a fresh id (unless ``call_id`` is given)."""
    return FunctionCall(call_id=call_id or new_call_id(), name=name, arguments=arguments)


def reply(*parts: str | AssistantText | FunctionCall, usage: Usage | None = None) -> ModelReply:
    """A reply from texts and calls, in order; ``finish_reason`` follows from whether it calls."""
    built = [AssistantText(text=p) if isinstance(p, str) else p for p in parts]
    calls = any(isinstance(p, FunctionCall) for p in built)
    return ModelReply(
        parts=built,
        usage=usage if usage is not None else Usage(input_tokens=10, output_tokens=5),
        finish_reason="tool_calls" if calls else "stop",
    )
