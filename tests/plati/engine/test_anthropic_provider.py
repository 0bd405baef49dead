"""The ANTHROPIC provider against a fake server speaking the Messages wire format, through the
official SDK: replies, tool use, history mapping (with role alternation), usage, streaming and
error mapping."""

from __future__ import annotations

import pytest

from plati.engine.messages import AssistantText, ErrorPart, FunctionCall, FunctionResult, Part, UserText
from plati.engine.providers.anthropic import AnthropicProvider
from plati.engine.providers.base import ModelRequest, ToolDef, Usage
from plati.engine.providers.errors import (
    ProviderBadReply,
    ProviderRateLimited,
    ProviderRequestError,
    ProviderTimeout,
    ProviderUnauthorized,
    ProviderUnavailable,
)
from plati.errors import UpstreamError
from tests.plati.engine.conftest import ANTHROPIC_KEY
from tests.plati.engine.support import Mode, ask, collect_text
from tests.plati.fakes import ErrorAnswer, Hold, Reply, ToolCall
from tests.plati.fakes.anthropic_server import FakeAnthropic

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
    anthropic_fake: FakeAnthropic, anthropic_provider: AnthropicProvider, mode: Mode
) -> None:
    anthropic_fake.script([Reply("Hello! How can I help you today?", input_tokens=21, output_tokens=9)])

    reply, deltas = await ask(anthropic_provider, hello(), mode)

    assert reply.parts == [AssistantText(text="Hello! How can I help you today?")]
    assert reply.usage == Usage(input_tokens=21, output_tokens=9)
    assert reply.finish_reason == "end_turn"
    if mode == "stream":
        assert len(deltas) > 1
    [body] = anthropic_fake.requests
    assert body["model"] == "claude-test"
    assert body["max_tokens"] == 1024
    assert body["system"] == "You are helpful."
    assert body["messages"] == [{"role": "user", "content": [{"type": "text", "text": "Hello"}]}]
    assert "tools" not in body
    headers = anthropic_fake.headers[0]
    # This SDK sends the key as a bearer token; older ones used `x-api-key`.
    assert ANTHROPIC_KEY in (headers.get("x-api-key"), headers.get("authorization", "").removeprefix("Bearer "))
    assert "anthropic-version" in anthropic_fake.headers[0]
    assert body.get("stream", False) is (mode == "stream")


async def test_one_tool_use_becomes_a_function_call_and_tools_carry_input_schema(
    anthropic_fake: FakeAnthropic, anthropic_provider: AnthropicProvider, mode: Mode
) -> None:
    anthropic_fake.script([Reply(tool_calls=[ToolCall("check_order_status", {"order_id": "A1"}, id="toolu_1")])])

    reply, deltas = await ask(anthropic_provider, hello([ORDER_TOOL]), mode)

    assert reply.parts == [FunctionCall(call_id="toolu_1", name="check_order_status", arguments={"order_id": "A1"})]
    assert reply.finish_reason == "tool_use"
    assert deltas == []
    assert anthropic_fake.requests[0]["tools"] == [
        {"name": "check_order_status", "description": "Look up an order.", "input_schema": ORDER_TOOL.parameters}
    ]


async def test_two_tool_uses_in_one_step_keep_their_order_and_the_text_before_them(
    anthropic_fake: FakeAnthropic, anthropic_provider: AnthropicProvider, mode: Mode
) -> None:
    calls = [
        ToolCall("check_order_status", {"order_id": "A1"}, id="toolu_a"),
        ToolCall("get_weather", {"city": "Lisbon"}, id="toolu_b"),
    ]
    anthropic_fake.script([Reply("Let me check both.", calls)])

    reply, _ = await ask(anthropic_provider, hello([ORDER_TOOL, WEATHER_TOOL]), mode)

    assert reply.parts == [
        AssistantText(text="Let me check both."),
        FunctionCall(call_id="toolu_a", name="check_order_status", arguments={"order_id": "A1"}),
        FunctionCall(call_id="toolu_b", name="get_weather", arguments={"city": "Lisbon"}),
    ]


async def test_streamed_tool_input_is_assembled_from_one_character_json_deltas(
    anthropic_fake: FakeAnthropic, anthropic_provider: AnthropicProvider
) -> None:
    arguments = {"order_id": "A-1", "note": 'quote " and ünïcode', "items": [1, 2, {"x": None}]}
    calls = [ToolCall("check_order_status", arguments, id="t1"), ToolCall("get_weather", {}, id="t2")]
    anthropic_fake.script([Reply("ok", calls, chunk_size=1)])

    reply, deltas = await ask(anthropic_provider, hello([ORDER_TOOL, WEATHER_TOOL]), "stream")

    assert deltas == ["o", "k"]
    assert reply.calls == [
        FunctionCall(call_id="t1", name="check_order_status", arguments=arguments),
        FunctionCall(call_id="t2", name="get_weather", arguments={}),
    ]


async def test_history_maps_to_tool_use_and_tool_result_blocks_in_alternating_messages(
    anthropic_fake: FakeAnthropic, anthropic_provider: AnthropicProvider, mode: Mode
) -> None:
    anthropic_fake.script([Reply("Sunny in Lisbon.")])
    history: list[Part] = [
        UserText(text="Where is my order A1, and the weather in Lisbon?"),
        AssistantText(text="Checking."),
        FunctionCall(call_id="toolu_a", name="check_order_status", arguments={"order_id": "A1"}),
        FunctionCall(call_id="toolu_b", name="get_weather", arguments={"city": "Lisbon"}),
        FunctionResult(call_id="toolu_a", name="check_order_status", success=True, result={"status": "shipped"}),
        FunctionResult(call_id="toolu_b", name="get_weather", success=False, error="The weather service timed out."),
        ErrorPart(message="never sent"),
        AssistantText(text="Shipped; the weather is unavailable."),
        UserText(text="Try the weather again."),
    ]
    request = ModelRequest(system="Be brief.", history=history, tools=[ORDER_TOOL, WEATHER_TOOL])

    await ask(anthropic_provider, request, mode)

    body = anthropic_fake.requests[0]
    assert body["system"] == "Be brief."
    assert body["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "Where is my order A1, and the weather in Lisbon?"}]},
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "Checking."},
                {"type": "tool_use", "id": "toolu_a", "name": "check_order_status", "input": {"order_id": "A1"}},
                {"type": "tool_use", "id": "toolu_b", "name": "get_weather", "input": {"city": "Lisbon"}},
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "toolu_a", "content": '{"status":"shipped"}'},
                {
                    "type": "tool_result",
                    "tool_use_id": "toolu_b",
                    "content": "The weather service timed out.",
                    "is_error": True,
                },
            ],
        },
        {"role": "assistant", "content": [{"type": "text", "text": "Shipped; the weather is unavailable."}]},
        {"role": "user", "content": [{"type": "text", "text": "Try the weather again."}]},
    ]


async def test_consecutive_user_content_is_merged_into_one_message(
    anthropic_fake: FakeAnthropic, anthropic_provider: AnthropicProvider
) -> None:
    anthropic_fake.script([Reply("ok")])
    history: list[Part] = [
        UserText(text="Check A1"),
        FunctionCall(call_id="t1", name="check_order_status", arguments={"order_id": "A1"}),
        FunctionResult(call_id="t1", name="check_order_status", success=True, result="shipped"),
        ErrorPart(message="The model provider failed."),
        UserText(text="Hello?"),
        UserText(text="Anyone?"),
    ]

    await anthropic_provider.complete(ModelRequest(system="", history=history, tools=[ORDER_TOOL]))

    body = anthropic_fake.requests[0]
    assert "system" not in body
    assert body["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "Check A1"}]},
        {
            "role": "assistant",
            "content": [{"type": "tool_use", "id": "t1", "name": "check_order_status", "input": {"order_id": "A1"}}],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "t1", "content": "shipped"},
                {"type": "text", "text": "Hello?"},
                {"type": "text", "text": "Anyone?"},
            ],
        },
    ]


async def test_request_settings_override_the_provider_defaults(
    anthropic_fake: FakeAnthropic, anthropic_provider: AnthropicProvider
) -> None:
    anthropic_fake.script([Reply("hi")])
    request = ModelRequest(
        system="", history=[UserText(text="Hi")], model="claude-other", temperature=0.3, max_tokens=64
    )

    await anthropic_provider.complete(request)

    body = anthropic_fake.requests[0]
    assert (body["model"], body["temperature"], body["max_tokens"]) == ("claude-other", 0.3, 64)


# --- errors ---------------------------------------------------------------------------------


async def test_a_401_is_provider_unauthorized_and_the_message_does_not_echo_the_key(
    anthropic_fake: FakeAnthropic, anthropic_provider: AnthropicProvider, mode: Mode
) -> None:
    anthropic_fake.script([ErrorAnswer(401, f"invalid x-api-key {ANTHROPIC_KEY}")])

    with pytest.raises(ProviderUnauthorized) as caught:
        await ask(anthropic_provider, hello(), mode)

    error = caught.value
    assert (error.code, error.status_code, error.provider, error.provider_status) == (
        "provider_unauthorized",
        502,
        "ANTHROPIC",
        401,
    )
    assert isinstance(error, UpstreamError)
    assert ANTHROPIC_KEY not in error.message
    assert ANTHROPIC_KEY not in str(error.details)


async def test_a_429_is_provider_rate_limited_with_the_retry_after(
    anthropic_fake: FakeAnthropic, anthropic_provider: AnthropicProvider, mode: Mode
) -> None:
    anthropic_fake.script(
        [ErrorAnswer(429, "Number of request tokens has exceeded your rate limit.", retry_after="12")]
    )

    with pytest.raises(ProviderRateLimited) as caught:
        await ask(anthropic_provider, hello(), mode)

    assert (caught.value.code, caught.value.status_code, caught.value.retry_after) == (
        "provider_rate_limited",
        429,
        12.0,
    )


@pytest.mark.parametrize("status", [500, 529])
async def test_a_5xx_or_overloaded_is_provider_unavailable(
    anthropic_fake: FakeAnthropic, anthropic_provider: AnthropicProvider, mode: Mode, status: int
) -> None:
    anthropic_fake.script([ErrorAnswer(status, "Overloaded")])

    with pytest.raises(ProviderUnavailable) as caught:
        await ask(anthropic_provider, hello(), mode)

    assert (caught.value.code, caught.value.status_code, caught.value.provider_status) == (
        "provider_unavailable",
        502,
        status,
    )


async def test_a_400_is_a_provider_request_error(
    anthropic_fake: FakeAnthropic, anthropic_provider: AnthropicProvider
) -> None:
    anthropic_fake.script([ErrorAnswer(400, "messages: roles must alternate")])

    with pytest.raises(ProviderRequestError) as caught:
        await anthropic_provider.complete(hello())

    assert (caught.value.code, caught.value.status_code) == ("provider_request_error", 400)
    assert "roles must alternate" in caught.value.message


async def test_a_provider_that_does_not_answer_in_time_is_provider_timeout(
    anthropic_fake: FakeAnthropic, mode: Mode
) -> None:
    anthropic_fake.script([Hold()])
    async with AnthropicProvider(
        api_key=ANTHROPIC_KEY, model="m", base_url=anthropic_fake.base_url, timeout=0.2, max_retries=0
    ) as provider:
        with pytest.raises(ProviderTimeout) as caught:
            await ask(provider, hello(), mode)

    assert (caught.value.code, caught.value.status_code) == ("provider_timeout", 504)


async def test_a_refused_connection_is_provider_unavailable(refused_url: str, mode: Mode) -> None:
    async with AnthropicProvider(api_key=ANTHROPIC_KEY, model="m", base_url=refused_url, max_retries=0) as provider:
        with pytest.raises(ProviderUnavailable):
            await ask(provider, hello(), mode)


@pytest.mark.parametrize("raw", ['{"order_id": "A1"', '["A1"]'])
async def test_malformed_tool_input_is_a_bad_reply_naming_the_function(
    anthropic_fake: FakeAnthropic, anthropic_provider: AnthropicProvider, mode: Mode, raw: str
) -> None:
    anthropic_fake.script([Reply(tool_calls=[ToolCall("check_order_status", raw)])])

    with pytest.raises(ProviderBadReply) as caught:
        await ask(anthropic_provider, hello([ORDER_TOOL]), mode)

    assert (caught.value.code, caught.value.status_code, caught.value.function) == (
        "provider_bad_reply",
        502,
        "check_order_status",
    )


async def test_a_provider_without_a_base_url_cannot_reach_the_real_service() -> None:
    async with AnthropicProvider(api_key=ANTHROPIC_KEY, model="m", max_retries=0) as provider:
        with pytest.raises(ProviderUnavailable):
            await provider.complete(hello())


async def test_an_error_event_inside_a_started_stream_is_provider_unavailable_after_the_text_so_far(
    anthropic_fake: FakeAnthropic, anthropic_provider: AnthropicProvider
) -> None:
    anthropic_fake.script([Reply("Partial answer", stream_error="Overloaded")])
    deltas: list[str] = []

    with pytest.raises(ProviderUnavailable):
        await collect_text(anthropic_provider, deltas)

    assert "".join(deltas) == "Partial answer"
