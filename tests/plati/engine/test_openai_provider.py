"""The OPENAI provider against a fake server speaking the Chat Completions wire format, through the
official SDK: replies, tool calls, history mapping, usage, streaming and error mapping."""

from __future__ import annotations

import json

import pytest

from plati.engine.messages import AssistantText, ErrorPart, FunctionCall, FunctionResult, Part, UserText
from plati.engine.providers.base import ModelRequest, ToolDef, Usage
from plati.engine.providers.errors import (
    ProviderBadReply,
    ProviderError,
    ProviderRateLimited,
    ProviderRequestError,
    ProviderTimeout,
    ProviderUnauthorized,
    ProviderUnavailable,
)
from plati.engine.providers.openai import OpenAIProvider
from plati.errors import UpstreamError
from tests.conftest import LoopbackOnly
from tests.plati.engine.conftest import OPENAI_KEY
from tests.plati.engine.support import Mode, ask, collect_text
from tests.plati.fakes import ErrorAnswer, Hold, Reply, ToolCall
from tests.plati.fakes.openai_server import FakeOpenAI

ORDER_TOOL = ToolDef(
    name="check_order_status",
    description="Look up an order.",
    parameters={"type": "object", "properties": {"order_id": {"type": "string"}}, "required": ["order_id"]},
)
WEATHER_TOOL = ToolDef(
    name="get_weather",
    description="Weather in a city.",
    parameters={"type": "object", "properties": {"city": {"type": "string"}}},
)


@pytest.fixture(params=["complete", "stream"])
def mode(request: pytest.FixtureRequest) -> Mode:
    return request.param  # type: ignore[no-any-return]


def hello(tools: list[ToolDef] | None = None) -> ModelRequest:
    return ModelRequest(system="You are helpful.", history=[UserText(text="Hello")], tools=tools or [])


async def test_a_plain_text_reply_comes_back_with_usage(
    openai_fake: FakeOpenAI, openai_provider: OpenAIProvider, mode: Mode
) -> None:
    openai_fake.script([Reply("Hello! How can I help you today?", input_tokens=21, output_tokens=9)])

    reply, deltas = await ask(openai_provider, hello(), mode)

    assert reply.parts == [AssistantText(text="Hello! How can I help you today?")]
    assert reply.usage == Usage(input_tokens=21, output_tokens=9)
    assert reply.finish_reason == "stop"
    if mode == "stream":
        assert len(deltas) > 1
    [body] = openai_fake.requests
    assert body["model"] == "gpt-test"
    assert body["messages"] == [
        {"role": "system", "content": "You are helpful."},
        {"role": "user", "content": "Hello"},
    ]
    assert "tools" not in body
    assert openai_fake.headers[0]["authorization"] == f"Bearer {OPENAI_KEY}"
    if mode == "stream":
        assert body["stream"] is True
        assert body["stream_options"] == {"include_usage": True}
    else:
        assert "stream" not in body


async def test_one_tool_call_becomes_a_function_call_and_tools_are_sent_as_function_tools(
    openai_fake: FakeOpenAI, openai_provider: OpenAIProvider, mode: Mode
) -> None:
    openai_fake.script([Reply(tool_calls=[ToolCall("check_order_status", {"order_id": "A1"}, id="call_1")])])

    reply, deltas = await ask(openai_provider, hello([ORDER_TOOL]), mode)

    assert reply.parts == [FunctionCall(call_id="call_1", name="check_order_status", arguments={"order_id": "A1"})]
    assert reply.finish_reason == "tool_calls"
    assert deltas == []
    assert openai_fake.requests[0]["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "check_order_status",
                "description": "Look up an order.",
                "parameters": ORDER_TOOL.parameters,
            },
        }
    ]


async def test_two_tool_calls_in_one_step_keep_their_order_and_the_text_before_them(
    openai_fake: FakeOpenAI, openai_provider: OpenAIProvider, mode: Mode
) -> None:
    calls = [
        ToolCall("check_order_status", {"order_id": "A1"}, id="call_a"),
        ToolCall("get_weather", {"city": "Lisbon"}, id="call_b"),
    ]
    openai_fake.script([Reply("Let me check both.", calls)])

    reply, _ = await ask(openai_provider, hello([ORDER_TOOL, WEATHER_TOOL]), mode)

    assert reply.parts == [
        AssistantText(text="Let me check both."),
        FunctionCall(call_id="call_a", name="check_order_status", arguments={"order_id": "A1"}),
        FunctionCall(call_id="call_b", name="get_weather", arguments={"city": "Lisbon"}),
    ]


async def test_streamed_tool_calls_are_assembled_from_one_character_chunks(
    openai_fake: FakeOpenAI, openai_provider: OpenAIProvider
) -> None:
    arguments = {"order_id": "A-1", "note": 'quote " and ünïcode', "items": [1, 2, {"x": None}]}
    calls = [ToolCall("check_order_status", arguments, id="c1"), ToolCall("get_weather", {}, id="c2")]
    openai_fake.script([Reply("ok", calls, chunk_size=1)])

    reply, deltas = await ask(openai_provider, hello([ORDER_TOOL, WEATHER_TOOL]), "stream")

    assert deltas == ["o", "k"]
    assert reply.calls == [
        FunctionCall(call_id="c1", name="check_order_status", arguments=arguments),
        FunctionCall(call_id="c2", name="get_weather", arguments={}),
    ]


async def test_history_with_calls_and_results_is_sent_as_assistant_tool_calls_and_tool_messages(
    openai_fake: FakeOpenAI, openai_provider: OpenAIProvider, mode: Mode
) -> None:
    openai_fake.script([Reply("Your order has shipped; it is sunny in Lisbon.")])
    history: list[Part] = [
        UserText(text="Where is my order A1, and the weather in Lisbon?"),
        AssistantText(text="Checking."),
        FunctionCall(call_id="call_a", name="check_order_status", arguments={"order_id": "A1"}),
        FunctionCall(call_id="call_b", name="get_weather", arguments={"city": "Lisbon"}),
        FunctionResult(call_id="call_a", name="check_order_status", success=True, result={"status": "shipped"}),
        FunctionResult(call_id="call_b", name="get_weather", success=False, error="The weather service timed out."),
        ErrorPart(message="never sent"),
        AssistantText(text="Shipped; the weather is unavailable."),
        UserText(text="Try the weather again."),
    ]
    request = ModelRequest(system="Be brief.", history=history, tools=[ORDER_TOOL, WEATHER_TOOL])

    await ask(openai_provider, request, mode)

    assert openai_fake.requests[0]["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Where is my order A1, and the weather in Lisbon?"},
        {
            "role": "assistant",
            "content": "Checking.",
            "tool_calls": [
                {
                    "id": "call_a",
                    "type": "function",
                    "function": {"name": "check_order_status", "arguments": '{"order_id": "A1"}'},
                },
                {
                    "id": "call_b",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Lisbon"}'},
                },
            ],
        },
        {"role": "tool", "tool_call_id": "call_a", "content": '{"status":"shipped"}'},
        {"role": "tool", "tool_call_id": "call_b", "content": "Error: The weather service timed out."},
        {"role": "assistant", "content": "Shipped; the weather is unavailable."},
        {"role": "user", "content": "Try the weather again."},
    ]


async def test_request_settings_override_the_provider_defaults(
    openai_fake: FakeOpenAI, openai_provider: OpenAIProvider
) -> None:
    openai_fake.script([Reply("hi")])
    request = ModelRequest(
        system="", history=[UserText(text="Hi")], model="other-model", temperature=0.2, max_tokens=50
    )

    await openai_provider.complete(request)

    body = openai_fake.requests[0]
    assert (body["model"], body["temperature"], body["max_tokens"]) == ("other-model", 0.2, 50)
    assert body["messages"] == [{"role": "user", "content": "Hi"}]


async def test_an_unanswered_call_left_by_an_interrupted_turn_is_answered_with_an_error(
    openai_fake: FakeOpenAI, openai_provider: OpenAIProvider
) -> None:
    openai_fake.script([Reply("ok")])
    history: list[Part] = [
        UserText(text="Check A1"),
        FunctionCall(call_id="call_a", name="check_order_status", arguments={"order_id": "A1"}),
        UserText(text="Hello?"),
    ]

    await openai_provider.complete(ModelRequest(system="", history=history, tools=[ORDER_TOOL]))

    messages = openai_fake.requests[0]["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant", "tool", "user"]
    assert messages[2]["tool_call_id"] == "call_a"
    assert messages[2]["content"].startswith("Error: ")


# --- errors ---------------------------------------------------------------------------------


async def test_a_401_is_provider_unauthorized_and_the_message_does_not_echo_the_key(
    openai_fake: FakeOpenAI, openai_provider: OpenAIProvider, mode: Mode
) -> None:
    openai_fake.script([ErrorAnswer(401, f"Incorrect API key provided: {OPENAI_KEY[:8]}****{OPENAI_KEY[-4:]}.")])

    with pytest.raises(ProviderUnauthorized) as caught:
        await ask(openai_provider, hello(), mode)

    error = caught.value
    assert (error.code, error.status_code, error.provider, error.provider_status) == (
        "provider_unauthorized",
        502,
        "OPENAI",
        401,
    )
    assert isinstance(error, UpstreamError)
    assert OPENAI_KEY[:8] not in error.message and OPENAI_KEY[-4:] not in error.message


async def test_a_403_is_provider_unauthorized(openai_fake: FakeOpenAI, openai_provider: OpenAIProvider) -> None:
    openai_fake.script([ErrorAnswer(403, "Country not supported.")])

    with pytest.raises(ProviderUnauthorized):
        await openai_provider.complete(hello())


async def test_a_429_is_provider_rate_limited_with_the_retry_after(
    openai_fake: FakeOpenAI, openai_provider: OpenAIProvider, mode: Mode
) -> None:
    openai_fake.script([ErrorAnswer(429, "Rate limit reached.", retry_after="7")])

    with pytest.raises(ProviderRateLimited) as caught:
        await ask(openai_provider, hello(), mode)

    assert (caught.value.code, caught.value.status_code, caught.value.retry_after) == (
        "provider_rate_limited",
        429,
        7.0,
    )
    assert caught.value.details["retry_after"] == 7.0


async def test_a_429_without_retry_after_has_none(openai_fake: FakeOpenAI, openai_provider: OpenAIProvider) -> None:
    openai_fake.script([ErrorAnswer(429, "Slow down.")])

    with pytest.raises(ProviderRateLimited) as caught:
        await openai_provider.complete(hello())

    assert caught.value.retry_after is None


@pytest.mark.parametrize("status", [500, 503])
async def test_a_5xx_is_provider_unavailable(
    openai_fake: FakeOpenAI, openai_provider: OpenAIProvider, mode: Mode, status: int
) -> None:
    openai_fake.script([ErrorAnswer(status, "The server had an error.")])

    with pytest.raises(ProviderUnavailable) as caught:
        await ask(openai_provider, hello(), mode)

    assert (caught.value.code, caught.value.status_code, caught.value.provider_status) == (
        "provider_unavailable",
        502,
        status,
    )


@pytest.mark.parametrize("status", [400, 404, 422])
async def test_another_4xx_is_a_provider_request_error(
    openai_fake: FakeOpenAI, openai_provider: OpenAIProvider, status: int
) -> None:
    openai_fake.script([ErrorAnswer(status, "The model `gpt-nope` does not exist.")])

    with pytest.raises(ProviderRequestError) as caught:
        await openai_provider.complete(hello())

    assert (caught.value.code, caught.value.status_code, caught.value.provider_status) == (
        "provider_request_error",
        400,
        status,
    )
    assert "gpt-nope" in caught.value.message


async def test_a_provider_that_does_not_answer_in_time_is_provider_timeout(openai_fake: FakeOpenAI, mode: Mode) -> None:
    openai_fake.script([Hold()])
    async with OpenAIProvider(
        api_key=OPENAI_KEY, model="m", base_url=openai_fake.base_url, timeout=0.2, max_retries=0
    ) as provider:
        with pytest.raises(ProviderTimeout) as caught:
            await ask(provider, hello(), mode)

    assert (caught.value.code, caught.value.status_code) == ("provider_timeout", 504)


async def test_a_refused_connection_is_provider_unavailable(refused_url: str, mode: Mode) -> None:
    async with OpenAIProvider(api_key=OPENAI_KEY, model="m", base_url=f"{refused_url}/v1", max_retries=0) as provider:
        with pytest.raises(ProviderUnavailable) as caught:
            await ask(provider, hello(), mode)

    assert caught.value.code == "provider_unavailable"


@pytest.mark.parametrize(
    ("raw", "why"),
    [('{"order_id": "A1"', "not valid JSON"), ('["A1"]', "not a JSON object"), ("42", "not a JSON object")],
)
async def test_malformed_tool_call_arguments_are_a_bad_reply_naming_the_function(
    openai_fake: FakeOpenAI, openai_provider: OpenAIProvider, mode: Mode, raw: str, why: str
) -> None:
    openai_fake.script([Reply(tool_calls=[ToolCall("check_order_status", raw)])])

    with pytest.raises(ProviderBadReply) as caught:
        await ask(openai_provider, hello([ORDER_TOOL]), mode)

    assert (caught.value.code, caught.value.status_code, caught.value.function) == (
        "provider_bad_reply",
        502,
        "check_order_status",
    )
    assert why in caught.value.message


async def test_empty_arguments_mean_no_arguments(openai_fake: FakeOpenAI, openai_provider: OpenAIProvider) -> None:
    openai_fake.script([Reply(tool_calls=[ToolCall("get_weather", "", id="c")])])

    reply = await openai_provider.complete(hello([WEATHER_TOOL]))

    assert reply.calls == [FunctionCall(call_id="c", name="get_weather", arguments={})]


async def test_the_fake_received_valid_json_arguments_strings(
    openai_fake: FakeOpenAI, openai_provider: OpenAIProvider
) -> None:
    openai_fake.script([Reply("ok")])
    history: list[Part] = [
        UserText(text="x"),
        FunctionCall(call_id="c", name="f", arguments={"a": "é"}),
        FunctionResult(call_id="c", name="f", success=True, result="plain text", truncated=True),
    ]

    await openai_provider.complete(ModelRequest(system="", history=history))

    assistant, tool = openai_fake.requests[0]["messages"][1:3]
    assert json.loads(assistant["tool_calls"][0]["function"]["arguments"]) == {"a": "é"}
    assert tool["content"].startswith("plain text\n[The result was truncated")


# --- kill switch ----------------------------------------------------------------------------


async def test_a_provider_without_a_base_url_cannot_reach_the_real_service() -> None:
    async with OpenAIProvider(api_key=OPENAI_KEY, model="m", max_retries=0) as provider:
        with pytest.raises(ProviderUnavailable):
            await provider.complete(hello())


async def test_a_provider_pointed_at_a_real_host_is_refused_by_the_network_guard(
    loopback_only: LoopbackOnly,
) -> None:
    before = len(loopback_only.refused)
    async with OpenAIProvider(
        api_key=OPENAI_KEY, model="m", base_url="https://api.openai.com/v1", max_retries=0
    ) as provider:
        with pytest.raises(ProviderError):
            await provider.complete(hello())

    assert loopback_only.refused[before:] == ["api.openai.com"]


async def test_an_error_inside_a_started_stream_is_provider_unavailable_after_the_text_so_far(
    openai_fake: FakeOpenAI, openai_provider: OpenAIProvider
) -> None:
    openai_fake.script([Reply("Partial answer", stream_error="The server had an error while processing.")])
    deltas: list[str] = []

    with pytest.raises(ProviderUnavailable) as caught:
        await collect_text(openai_provider, deltas)

    assert "".join(deltas) == "Partial answer"
    assert "while processing" in caught.value.message
