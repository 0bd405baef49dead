"""Helpers for provider tests: ask a provider the same way in both modes."""

from __future__ import annotations

from typing import Literal

from plati.engine.messages import UserText
from plati.engine.providers.base import ModelReply, ModelRequest, Provider, ReplyDone, TextDelta

Mode = Literal["complete", "stream"]


async def ask(provider: Provider, request: ModelRequest, mode: Mode) -> tuple[ModelReply, list[str]]:
    """The reply and, when streamed, the text deltas (checking the stream ends with one ReplyDone
    and that the deltas add up to the reply's text)."""
    if mode == "complete":
        return await provider.complete(request), []
    deltas: list[str] = []
    done: list[ModelReply] = []
    events = provider.stream(request)
    try:
        async for event in events:
            assert not done, "an event came after ReplyDone"
            if isinstance(event, TextDelta):
                deltas.append(event.text)
            else:
                assert isinstance(event, ReplyDone)
                done.append(event.reply)
    finally:
        aclose = getattr(events, "aclose", None)
        if aclose is not None:
            await aclose()
    assert len(done) == 1, "the stream did not end with exactly one ReplyDone"
    assert "".join(deltas) == done[0].text
    return done[0], deltas


async def collect_text(provider: Provider, into: list[str]) -> None:
    """Stream a one-message request, appending each text delta to ``into`` (which keeps what came
    before a failure)."""
    request = ModelRequest(system="", history=[UserText(text="Hello")])
    async for event in provider.stream(request):
        if isinstance(event, TextDelta):
            into.append(event.text)
