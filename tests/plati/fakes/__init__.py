"""Fake model providers speaking the real wire formats (OpenAI Chat Completions, Anthropic Messages),
served on loopback and driven only through the official SDKs.

A fake answers from a *script*: a list of answers used in order, or a function of the parsed
request body returning one. An answer is a :class:`Reply` (rendered as JSON or as SSE, whichever
the request asked for), an :class:`ErrorAnswer` (an HTTP error in the provider's error shape), or
either wrapped in :class:`Hold` (the server waits until released, to test client timeouts).
Every request is recorded (``fake.requests``: bodies; ``fake.headers``: lower-cased headers).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import anyio
import anyio.to_thread


@dataclass(frozen=True)
class ToolCall:
    """A tool call in a reply. ``arguments`` is a dict, or a raw string sent verbatim (to fake a
    malformed call, e.g. ``'{"order_id": '``)."""

    name: str
    arguments: dict[str, Any] | str = field(default_factory=dict)
    id: str | None = None


@dataclass(frozen=True)
class Reply:
    """A successful answer. Streamed, ``text`` and each call's arguments are cut into pieces of
    ``chunk_size`` characters, one SSE event each."""

    text: str | None = None
    tool_calls: Sequence[ToolCall] = ()
    input_tokens: int = 11
    output_tokens: int = 7
    finish_reason: str | None = None  # default: the provider's word for "stop" / "tool calls"
    chunk_size: int = 4
    stream_error: str | None = None  # streamed: after the text, an in-stream error event, then the end


@dataclass(frozen=True)
class ErrorAnswer:
    """An HTTP error answered in the provider's error JSON shape."""

    status: int
    message: str = "Something went wrong."
    type: str | None = None  # default: the provider's type for the status
    retry_after: str | None = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Hold:
    """Answer ``then`` only once the fake is released (``fake.release()``), or after ``limit``
    seconds; for timeout tests, the client gives up long before."""

    then: Reply | ErrorAnswer = field(default_factory=lambda: Reply("late"))
    limit: float = 10.0


Answer = Reply | ErrorAnswer | Hold
Script = Iterable[Answer] | Callable[[dict[str, Any]], Answer]


def chunks(text: str, size: int) -> list[str]:
    size = max(size, 1)
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


class FakeProvider:
    """What both fakes share: the script, the record of requests, the release switch."""

    base_url = ""
    """Where the fake is served (set by whoever serves it)."""

    def __init__(self, script: Script | None = None) -> None:
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self._released = threading.Event()
        self._answers: list[Answer] = []
        self._function: Callable[[dict[str, Any]], Answer] | None = None
        self.script(script or [])

    def script(self, script: Script) -> None:
        """Replace the script (and forget recorded requests)."""
        self.requests.clear()
        self.headers.clear()
        self._released.clear()
        if callable(script):
            self._function, self._answers = script, []
        else:
            self._function, self._answers = None, list(script)

    def release(self) -> None:
        """Let every held answer go (call before stopping the server)."""
        self._released.set()

    def record(self, body: dict[str, Any], headers: dict[str, str]) -> None:
        self.requests.append(body)
        self.headers.append(headers)

    def next_answer(self, body: dict[str, Any]) -> Answer:
        if self._function is not None:
            return self._function(body)
        if not self._answers:
            return ErrorAnswer(500, "The fake's script has no answer left.")
        return self._answers.pop(0)

    async def settle(self, answer: Answer) -> Reply | ErrorAnswer:
        """Wait out a :class:`Hold` (in a worker thread, so the server keeps serving)."""
        if isinstance(answer, Hold):
            await anyio.to_thread.run_sync(self._released.wait, answer.limit, abandon_on_cancel=True)
            return answer.then
        return answer
