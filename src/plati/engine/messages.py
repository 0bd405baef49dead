"""The provider-neutral conversation model: a conversation is a list of typed parts, discriminated
by ``kind``. Parts are persisted exactly as they are (``part.model_dump(mode="json")``), one row
per part; provider adapters translate them only at their edge (``plati.engine.providers``)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, model_validator

__all__ = [
    "AssistantText",
    "ErrorPart",
    "FunctionCall",
    "FunctionResult",
    "Part",
    "Step",
    "UserText",
    "part_adapter",
    "parts_adapter",
    "result_text",
    "step_groups",
]


class _PartModel(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class UserText(_PartModel):
    """What the person wrote."""

    kind: Literal["user_text"] = "user_text"
    text: str


class AssistantText(_PartModel):
    """Text the model wrote (a final reply, or words before its function calls)."""

    kind: Literal["assistant_text"] = "assistant_text"
    text: str


class FunctionCall(_PartModel):
    """One function the model asked to call; ``name`` is the model-facing name."""

    kind: Literal["function_call"] = "function_call"
    call_id: str
    name: str
    arguments: dict[str, Any] = Field(default_factory=dict)


class FunctionResult(_PartModel):
    """The outcome of one :class:`FunctionCall`: ``result`` when ``success``, else ``error``.
    ``truncated`` marks a result cut to the size cap."""

    kind: Literal["function_result"] = "function_result"
    call_id: str
    name: str
    success: bool
    result: Any = None
    error: str | None = None
    truncated: bool = False

    @model_validator(mode="after")
    def _error_when_failed(self) -> FunctionResult:
        if not self.success and not self.error:
            raise ValueError(f"the failed result of call {self.call_id!r} needs an `error` message")
        return self


class ErrorPart(_PartModel):
    """A turn-level failure, stored for the record; never sent to a model."""

    kind: Literal["error"] = "error"
    message: str


Part = Annotated[UserText | AssistantText | FunctionCall | FunctionResult | ErrorPart, Field(discriminator="kind")]

part_adapter: TypeAdapter[Part] = TypeAdapter(Part)
"""Validates one stored part: ``part_adapter.validate_python(row_json)``."""

parts_adapter: TypeAdapter[list[Part]] = TypeAdapter(list[Part])
"""Validates / dumps a list of parts: ``parts_adapter.dump_python(parts, mode="json")``."""


# --- helpers for provider adapters ---------------------------------------------------------


@dataclass(frozen=True)
class Step:
    """A run of history parts that one provider message (or message group) carries.

    ``role`` is ``"user"`` (user texts), ``"assistant"`` (assistant texts and the function calls
    of one model step) or ``"results"`` (the function results answering the step before)."""

    role: Literal["user", "assistant", "results"]
    parts: tuple[UserText | AssistantText | FunctionCall | FunctionResult, ...]

    @property
    def text(self) -> str:
        """The texts of the step joined (user or assistant steps)."""
        return "\n\n".join(p.text for p in self.parts if isinstance(p, UserText | AssistantText) and p.text)

    @property
    def calls(self) -> list[FunctionCall]:
        return [p for p in self.parts if isinstance(p, FunctionCall)]

    @property
    def results(self) -> list[FunctionResult]:
        return [p for p in self.parts if isinstance(p, FunctionResult)]


UNFINISHED_CALL_ERROR = "The call did not complete (the turn was interrupted)."


def _normalized(history: Iterable[Part]) -> Iterator[UserText | AssistantText | FunctionCall | FunctionResult]:
    """The parts a model may see, made consistent: ``error`` parts are dropped, a result whose call
    is not pending is dropped, and a call left without a result (a turn that crashed mid-step) gets
    a failed result, because both providers reject a tool call that is not answered."""
    pending: dict[str, FunctionCall] = {}
    in_results = False
    for part in history:
        if isinstance(part, ErrorPart):
            continue
        if isinstance(part, FunctionResult):
            if pending.pop(part.call_id, None) is None:
                continue
            in_results = True
            yield part
            continue
        if isinstance(part, FunctionCall) and not in_results:
            pending[part.call_id] = part
            yield part
            continue
        # A new step begins (or a call after results, which opens a new model step): close the
        # previous step's unanswered calls first.
        yield from _unfinished(pending)
        in_results = False
        if isinstance(part, FunctionCall):
            pending[part.call_id] = part
        yield part
    yield from _unfinished(pending)


def _unfinished(pending: dict[str, FunctionCall]) -> Iterator[FunctionResult]:
    for call in pending.values():
        yield FunctionResult(call_id=call.call_id, name=call.name, success=False, error=UNFINISHED_CALL_ERROR)
    pending.clear()


def _role(part: UserText | AssistantText | FunctionCall | FunctionResult) -> Literal["user", "assistant", "results"]:
    if isinstance(part, UserText):
        return "user"
    if isinstance(part, FunctionResult):
        return "results"
    return "assistant"


def step_groups(history: Iterable[Part]) -> list[Step]:
    """Group a history into provider-message-sized steps (see :class:`Step`).

    ``error`` parts are skipped; consecutive parts of one role form one step, except that an
    assistant step ends after its function calls (a later assistant text is a new model step);
    unanswered calls get a failed result and orphan results are dropped (see ``_normalized``)."""
    steps: list[Step] = []
    current: list[UserText | AssistantText | FunctionCall | FunctionResult] = []
    for part in _normalized(history):
        role = _role(part)
        if current:
            same_role = _role(current[-1]) == role
            after_calls = isinstance(current[-1], FunctionCall) and not isinstance(part, FunctionCall)
            if not same_role or after_calls:
                steps.append(Step(_role(current[0]), tuple(current)))
                current = []
        current.append(part)
    if current:
        steps.append(Step(_role(current[0]), tuple(current)))
    return steps


def result_text(result: FunctionResult) -> str:
    """The text a model reads for a function result: a string result as is, any other JSON
    compactly encoded, the error message for a failure; a cut result says so."""
    if not result.success:
        text = result.error or "The function failed."
    elif isinstance(result.result, str):
        text = result.result
    else:
        text = json.dumps(result.result, ensure_ascii=False, separators=(",", ":"), default=str)
    if result.truncated:
        text += "\n[The result was truncated to fit the size limit.]"
    return text
