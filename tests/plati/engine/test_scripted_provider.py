"""The SCRIPTED provider that engine tests drive the turn runner with."""

from __future__ import annotations

import pytest

from plati.engine.messages import AssistantText, FunctionCall, UserText
from plati.engine.providers.base import ModelReply, ModelRequest, Provider, ReplyDone, TextDelta, Usage
from plati.engine.providers.errors import ProviderRateLimited
from plati.engine.providers.scripted import ScriptedProvider, call, reply
from tests.plati.engine.support import ask

REQUEST = ModelRequest(system="s", history=[UserText(text="hi")])


async def test_replies_are_used_in_order_and_requests_recorded() -> None:
    first = reply(call("check_order_status", order_id="A1"))
    provider = ScriptedProvider([first, reply("Shipped.")])

    assert await provider.complete(REQUEST) == first
    assert (await provider.complete(REQUEST)).text == "Shipped."
    assert provider.requests == [REQUEST, REQUEST]
    assert provider.remaining == 0
    assert isinstance(provider, Provider)


async def test_running_out_of_replies_fails_loudly() -> None:
    provider = ScriptedProvider([])

    with pytest.raises(RuntimeError, match="no reply left"):
        await provider.complete(REQUEST)


async def test_a_provider_error_in_the_script_is_raised() -> None:
    provider = ScriptedProvider([ProviderRateLimited("slow down", provider="SCRIPTED", retry_after=1.0)])

    with pytest.raises(ProviderRateLimited):
        await provider.complete(REQUEST)


async def test_a_function_answers_each_request_sync_or_async() -> None:
    def echo(request: ModelRequest) -> ModelReply:
        return reply(f"{len(request.history)} parts")

    async def aecho(request: ModelRequest) -> ModelReply:
        return reply("async")

    assert (await ScriptedProvider(echo).complete(REQUEST)).text == "1 parts"
    assert (await ScriptedProvider(aecho).complete(REQUEST)).text == "async"


async def test_stream_yields_the_text_in_pieces_then_the_reply() -> None:
    provider = ScriptedProvider([reply("Hello there, friend.", usage=Usage(3, 4))])

    events = [event async for event in provider.stream(REQUEST)]

    assert all(isinstance(e, TextDelta) for e in events[:-1]) and len(events) == 4
    assert isinstance(events[-1], ReplyDone)
    assert events[-1].reply.usage == Usage(3, 4)
    assert "".join(e.text for e in events[:-1] if isinstance(e, TextDelta)) == "Hello there, friend."


async def test_a_reply_with_calls_only_streams_no_text() -> None:
    provider = ScriptedProvider([reply(call("f", call_id="c1", x=1))])

    answer, deltas = await ask(provider, REQUEST, "stream")

    assert deltas == []
    assert answer.parts == [FunctionCall(call_id="c1", name="f", arguments={"x": 1})]
    assert answer.finish_reason == "tool_calls"


def test_call_ids_are_fresh_and_reply_keeps_order() -> None:
    a, b = call("f"), call("f")
    assert a.call_id != b.call_id and a.call_id.startswith("call_")
    built = reply("before", a)
    assert built.parts == [AssistantText(text="before"), a]
