"""The seam between the turn runner and model providers: what a model is asked
(:class:`ModelRequest`), what it answers (:class:`ModelReply`), the events of a streamed answer,
and the :class:`Provider` protocol every adapter implements."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from plati.engine.messages import AssistantText, FunctionCall, Part

__all__ = [
    "ModelReply",
    "ModelRequest",
    "Provider",
    "ReplyDone",
    "StreamEvent",
    "TextDelta",
    "ToolDef",
    "Usage",
    "new_call_id",
]


@dataclass(frozen=True)
class ToolDef:
    """A function offered to the model: its model-facing ``name``, a ``description`` and the JSON
    Schema of its arguments (``parameters``, an ``object`` schema)."""

    name: str
    description: str
    parameters: dict[str, Any]


@dataclass(frozen=True)
class ModelRequest:
    """One model call: the rendered ``system`` prompt, the conversation so far, the tools offered.
    ``model``/``temperature``/``max_tokens`` override the provider's defaults when set."""

    system: str
    history: list[Part]
    tools: list[ToolDef] = field(default_factory=list)
    model: str | None = None
    temperature: float | None = None
    max_tokens: int | None = None


@dataclass(frozen=True)
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(self.input_tokens + other.input_tokens, self.output_tokens + other.output_tokens)


@dataclass(frozen=True)
class ModelReply:
    """What the model answered: its text and/or function calls, in order. ``finish_reason`` is the
    provider's own word (OpenAI ``stop``/``tool_calls``/``length``, Anthropic
    ``end_turn``/``tool_use``/``max_tokens``), for logs; decide on ``parts``, not on it."""

    parts: list[AssistantText | FunctionCall]
    usage: Usage = field(default_factory=Usage)
    finish_reason: str | None = None

    @property
    def text(self) -> str:
        return "".join(p.text for p in self.parts if isinstance(p, AssistantText))

    @property
    def calls(self) -> list[FunctionCall]:
        return [p for p in self.parts if isinstance(p, FunctionCall)]


@dataclass(frozen=True)
class TextDelta:
    """A piece of the reply's text, as the model produces it."""

    text: str


@dataclass(frozen=True)
class ReplyDone:
    """The last event of a stream: the whole reply (its text equals the deltas joined)."""

    reply: ModelReply


StreamEvent = TextDelta | ReplyDone


@runtime_checkable
class Provider(Protocol):
    """A model provider. ``stream()`` is an async generator that ends with exactly one
    :class:`ReplyDone`; consume it inside ``contextlib.aclosing`` if you may stop early.

    Both methods raise :class:`plati.engine.providers.errors.ProviderError` subclasses only."""

    name: str

    async def complete(self, request: ModelRequest) -> ModelReply: ...

    def stream(self, request: ModelRequest) -> AsyncIterator[StreamEvent]: ...

    async def aclose(self) -> None: ...


def new_call_id() -> str:
    """A fresh function-call id, for providers (or fakes) whose calls carry none."""
    return f"call_{secrets.token_hex(12)}"
