"""The OFFLINE provider: a built-in, deterministic model without network. It routes the latest user
message to a function, extracts the arguments by schema, asks for missing required ones (and
completes the call from the next message), and summarises function results."""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from plati.engine.messages import AssistantText, FunctionCall, Step, step_groups
from plati.engine.providers.base import ModelReply, ModelRequest, ReplyDone, StreamEvent, TextDelta, ToolDef, Usage
from plati.engine.providers.errors import ProviderBadReply

from . import replies
from .extract import extract_arguments, is_open_text, missing_required, with_defaults
from .routing import Router, properties

__all__ = ["OfflineProvider"]

logger = logging.getLogger(__name__)

NAME = "OFFLINE"
MAX_FOLLOW_UPS = 6
"""How many question-and-answer rounds back a pending question is looked for."""
CHUNK_WORDS = 4

_GREETING = re.compile(r"^\s*(?:hi|hello|hey|howdy|greetings|good\s+(?:morning|afternoon|evening))\b", re.IGNORECASE)
_THANKS = re.compile(r"\b(?:thanks|thank\s+you|thx|cheers|great|perfect)\b", re.IGNORECASE)
_HELP = re.compile(r"\b(?:help|what\s+can\s+you\s+do|what\s+do\s+you\s+do|options)\b", re.IGNORECASE)
_CANCEL = re.compile(r"\b(?:never\s*mind|forget\s+it|cancel\s+that|don't\s+bother)\b", re.IGNORECASE)


@dataclass(frozen=True)
class _Call:
    tool: ToolDef
    arguments: dict[str, Any]


@dataclass(frozen=True)
class _Ask:
    tool: ToolDef
    arguments: dict[str, Any]
    missing: tuple[str, ...]

    @property
    def text(self) -> str:
        return replies.ask_for(self.tool, self.missing)


@dataclass(frozen=True)
class _Say:
    text: str


_Plan = _Call | _Ask | _Say


@dataclass
class _Planner:
    """Decides one model step from a request. Nothing is remembered between requests: a pending
    question is re-derived from the history (the assistant text equals the question the earlier
    user message would have produced)."""

    request: ModelRequest
    router: Router = field(init=False)
    steps: list[Step] = field(init=False)

    def __post_init__(self) -> None:
        self.router = Router(self.request.tools, self.request.system)
        self.steps = step_groups(self.request.history)
        self.id_words = self.router.id_words

    @property
    def tools(self) -> list[ToolDef]:
        return self.router.tools

    def decide(self) -> list[AssistantText | FunctionCall]:
        if not self.steps:
            return [AssistantText(text=replies.greeting(self.tools))]
        last = self.steps[-1]
        if last.role == "results":  # answer the results in words; never call again after them
            calls = self.steps[-2].calls if len(self.steps) >= 2 else []
            return [AssistantText(text=replies.summarize(last.results, calls))]
        if last.role == "assistant":
            return [AssistantText(text="Is there anything else I can help with?")]
        plan = self._plan(len(self.steps) - 1, 0)
        if isinstance(plan, _Call):
            arguments = with_defaults(plan.tool, plan.arguments)
            return [FunctionCall(call_id=self._call_id(plan.tool, arguments), name=plan.tool.name, arguments=arguments)]
        return [AssistantText(text=plan.text)]

    # --- planning ---------------------------------------------------------------------------

    def _plan(self, index: int, depth: int) -> _Plan:
        text = self.steps[index].text
        pending = self._pending(index, depth)
        return self._follow_up(pending, text) if pending else self._fresh(text)

    def _pending(self, index: int, depth: int) -> _Ask | None:
        """The question the assistant asked just before user step ``index``, if it was ours."""
        if depth >= MAX_FOLLOW_UPS or index < 2:
            return None
        asked, trigger = self.steps[index - 1], self.steps[index - 2]
        if asked.role != "assistant" or asked.calls or trigger.role != "user":
            return None
        earlier = self._plan(index - 2, depth + 1)
        return earlier if isinstance(earlier, _Ask) and earlier.text == asked.text else None

    def _fresh(self, text: str) -> _Plan:
        tool = self.router.best(text)
        if tool is None:
            if _THANKS.search(text):
                return _Say(replies.thanks())
            if _GREETING.search(text) or _HELP.search(text):
                return _Say(replies.greeting(self.tools))
            return _Say(replies.cannot_help(self.tools))
        return self._complete(tool, extract_arguments(tool, text, id_words=self.id_words))

    def _follow_up(self, pending: _Ask, text: str) -> _Plan:
        if _CANCEL.search(text):
            return _Say("No problem. Is there anything else I can help with?")
        tool = pending.tool
        found = extract_arguments(tool, text, id_words=self.id_words)
        if not any(name in found for name in pending.missing):
            props = properties(tool)
            open_question = any(is_open_text(name, props.get(name, {})) for name in pending.missing)
            # A message that asks for something else starts over, unless we asked an open
            # question ("the reason for the return"), whose answer may use any words.
            if not open_question and self.router.best(text, ignore_from=tool) is not None:
                return self._fresh(text)
            found = extract_arguments(tool, text, id_words=self.id_words, answering=pending.missing)
        return self._complete(tool, {**pending.arguments, **found})

    @staticmethod
    def _complete(tool: ToolDef, arguments: dict[str, Any]) -> _Plan:
        missing = missing_required(tool, with_defaults(tool, arguments))
        if missing:
            return _Ask(tool, arguments, tuple(missing))
        return _Call(tool, arguments)

    # --- details ----------------------------------------------------------------------------

    def _call_id(self, tool: ToolDef, arguments: dict[str, Any]) -> str:
        seed = json.dumps(
            {
                "history": [part.model_dump(mode="json") for part in self.request.history],
                "name": tool.name,
                "arguments": arguments,
            },
            sort_keys=True,
            default=str,
        )
        return "call_" + hashlib.sha256(seed.encode()).hexdigest()[:24]


def _count_words(value: object) -> int:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return len(text.split())


def _usage(request: ModelRequest, parts: list[AssistantText | FunctionCall]) -> Usage:
    prompt = _count_words(request.system)
    prompt += sum(_count_words(part.model_dump(mode="json")) for part in request.history)
    prompt += sum(_count_words([t.name, t.description, t.parameters]) for t in request.tools)
    answer = sum(
        _count_words(part.text) if isinstance(part, AssistantText) else _count_words([part.name, part.arguments])
        for part in parts
    )
    return Usage(input_tokens=prompt, output_tokens=answer)


def _chunks(text: str) -> list[str]:
    """``text`` in groups of a few words, whitespace kept, so the chunks join back to ``text``."""
    pieces = re.findall(r"\s+|\S+\s*", text)
    return ["".join(pieces[i : i + CHUNK_WORDS]) for i in range(0, len(pieces), CHUNK_WORDS)]


class OfflineProvider:
    """A deterministic, network-free model (``provider: "OFFLINE"``): same request, same reply.

    It sees what a model sees: the rendered prompt (function references as the functions' names,
    raw ``{{function.x(...)}}`` too), the tools' names, descriptions and schemas, and the history."""

    name = NAME

    def reply(self, request: ModelRequest) -> ModelReply:
        """The reply to ``request``, computed synchronously.

        Raises:
            ProviderBadReply: the offline model failed on this request (a bug; it is logged).
        """
        try:
            parts = _Planner(request).decide()
        except (ValueError, TypeError, KeyError, IndexError, AttributeError, re.error) as exc:
            logger.exception("the offline model failed on a request")
            raise ProviderBadReply("The offline model could not answer this message.", provider=NAME) from exc
        finish = "tool_calls" if any(isinstance(p, FunctionCall) for p in parts) else "stop"
        return ModelReply(parts=parts, usage=_usage(request, parts), finish_reason=finish)

    async def complete(self, request: ModelRequest) -> ModelReply:
        return self.reply(request)

    async def stream(self, request: ModelRequest) -> AsyncIterator[StreamEvent]:
        reply = self.reply(request)
        for chunk in _chunks(reply.text):
            yield TextDelta(chunk)
        yield ReplyDone(reply)

    async def aclose(self) -> None:
        return None
