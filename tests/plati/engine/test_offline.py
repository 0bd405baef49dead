"""The OFFLINE provider drives the guide's customer-service flow without any model: it routes,
extracts arguments by schema, asks for what is missing, completes the call from the next message
and summarises results. Every expectation here is exact: the provider is deterministic."""

from __future__ import annotations

import re
from typing import Any

import pytest

from plati.cli.demo import GUIDE_PROMPT
from plati.engine.messages import AssistantText, FunctionCall, FunctionResult, Part, UserText
from plati.engine.offline import OfflineProvider
from plati.engine.providers.base import ModelReply, ModelRequest, Provider, ReplyDone, TextDelta, ToolDef
from tests.plati.engine.support import Mode, ask

# The guide's prompt ("Using MCP Functions in Prompts"), verbatim.
# The guide's customer-service prompt, verbatim (one copy, shared with `plati demo`).


# What the model sees once the platform renders the references as model-facing names.
RENDERED_PROMPT = re.sub(r"\{\{function\.(\w+)\(([^)]*)\)\}\}", r"\1(\2)", GUIDE_PROMPT)


def _tool(name: str, description: str, properties: dict[str, Any], required: list[str] | None = None) -> ToolDef:
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    if required is not None:
        schema["required"] = required
    return ToolDef(name=name, description=description, parameters=schema)


STRING = {"type": "string"}

# The guide's e-commerce server ("Real-World MCP Examples").
ECOMMERCE = [
    _tool("check_order_status", "Get current order status and tracking info", {"order_id": STRING}, ["order_id"]),
    _tool(
        "process_return",
        "Initiate a return for an order",
        {"order_id": STRING, "reason": STRING, "items": {"type": "array"}},
        ["order_id", "reason"],
    ),
    _tool(
        "apply_discount",
        "Apply a discount code to customer account",
        {"customer_id": STRING, "discount_code": STRING},
        ["customer_id", "discount_code"],
    ),
    _tool(
        "get_product_recommendations",
        "Get personalized product recommendations",
        {"customer_id": STRING, "category": STRING, "limit": {"type": "integer", "default": 5}},
        ["customer_id"],
    ),
]

# The guide's CRM server: more functions about customers, so routing has to choose.
CRM = [
    _tool(
        "get_customer_profile", "Retrieve complete customer profile from CRM", {"customer_id": STRING, "email": STRING}
    ),
    _tool(
        "create_support_ticket",
        "Create a new support ticket in CRM",
        {
            "customer_id": STRING,
            "title": STRING,
            "description": STRING,
            "priority": {"type": "string", "enum": ["low", "medium", "high", "urgent"]},
        },
        ["customer_id", "title", "description"],
    ),
    _tool(
        "update_customer_notes",
        "Add notes to customer profile",
        {
            "customer_id": STRING,
            "note": STRING,
            "note_type": {"type": "string", "enum": ["general", "support", "sales"]},
        },
        ["customer_id", "note"],
    ),
    _tool(
        "schedule_callback",
        "Schedule a callback for the customer",
        {"customer_id": STRING, "preferred_time": STRING, "reason": STRING},
        ["customer_id", "preferred_time"],
    ),
]

TOOLS = ECOMMERCE + CRM
MODES: list[Mode] = ["complete", "stream"]


def request(*history: Part, system: str = RENDERED_PROMPT, tools: list[ToolDef] = TOOLS) -> ModelRequest:
    return ModelRequest(system=system, history=list(history), tools=tools)


async def reply_to(*history: Part, system: str = RENDERED_PROMPT, tools: list[ToolDef] = TOOLS) -> ModelReply:
    return await OfflineProvider().complete(request(*history, system=system, tools=tools))


def calls(reply: ModelReply) -> list[tuple[str, dict[str, Any]]]:
    return [(call.name, call.arguments) for call in reply.calls]


def call_then_result(call: FunctionCall, *, result: Any = None, error: str | None = None) -> list[Part]:
    outcome = FunctionResult(call_id=call.call_id, name=call.name, success=error is None, result=result, error=error)
    return [call, outcome]


# --- the guide's three scenarios ------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("system", [RENDERED_PROMPT, GUIDE_PROMPT], ids=["rendered", "raw-references"])
async def test_check_my_order_calls_check_order_status_with_the_order_id(mode: Mode, system: str) -> None:
    reply, deltas = await ask(OfflineProvider(), request(UserText(text="Check my order ORD-001"), system=system), mode)

    assert calls(reply) == [("check_order_status", {"order_id": "ORD-001"})]
    assert reply.text == ""
    assert deltas == []
    assert reply.finish_reason == "tool_calls"


@pytest.mark.parametrize("system", [RENDERED_PROMPT, GUIDE_PROMPT], ids=["rendered", "raw-references"])
async def test_a_return_with_a_reason_calls_process_return_with_the_order_and_the_reason(system: str) -> None:
    text = "I want to return order ORD-003 because the shoes are too small"

    reply = await reply_to(UserText(text=text), system=system)

    assert calls(reply) == [("process_return", {"order_id": "ORD-003", "reason": "the shoes are too small"})]


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("Can I send back ORD-004? It doesn't fit", "It doesn't fit"),
        ("I'd like a refund for ORD-005 since it arrived late", "it arrived late"),
        ("Return ORD-006, reason: wrong colour", "wrong colour"),
    ],
)
async def test_return_wordings_route_to_process_return(text: str, reason: str) -> None:
    reply = await reply_to(UserText(text=text))

    assert calls(reply) == [("process_return", {"order_id": re.findall(r"ORD-\d+", text)[0], "reason": reason})]


@pytest.mark.parametrize("mode", MODES)
async def test_where_is_my_order_asks_for_the_order_number_without_calling(mode: Mode) -> None:
    reply, deltas = await ask(OfflineProvider(), request(UserText(text="where is my order?")), mode)

    assert reply.calls == []
    assert reply.text == "Could you give me your order number?"
    assert reply.finish_reason == "stop"
    if mode == "stream":
        assert len(deltas) >= 2
        assert "".join(deltas) == reply.text


async def test_the_order_number_in_the_next_message_completes_the_call() -> None:
    first = UserText(text="where is my order?")
    question = AssistantText(text=(await reply_to(first)).text)

    reply = await reply_to(first, question, UserText(text="ORD-002"))

    assert calls(reply) == [("check_order_status", {"order_id": "ORD-002"})]


async def test_a_missing_reason_is_asked_for_and_the_answer_completes_the_return() -> None:
    first = UserText(text="I want to return order ORD-003")
    asked = await reply_to(first)
    assert asked.calls == []
    assert asked.text == "Could you give me the reason for the return?"

    reply = await reply_to(first, AssistantText(text=asked.text), UserText(text="they are too small"))

    assert calls(reply) == [("process_return", {"order_id": "ORD-003", "reason": "they are too small"})]


async def test_two_missing_arguments_are_asked_together_and_collected_over_two_answers() -> None:
    first = UserText(text="I'd like to apply a discount")
    asked = await reply_to(first)
    assert asked.text == "Could you give me your customer ID and the discount code?"

    second = UserText(text="I'm CUST-001")
    asked_again = await reply_to(first, AssistantText(text=asked.text), second)
    assert asked_again.text == "Could you give me the discount code?"

    reply = await reply_to(
        first, AssistantText(text=asked.text), second, AssistantText(text=asked_again.text), UserText(text="SAVE20")
    )
    assert calls(reply) == [("apply_discount", {"customer_id": "CUST-001", "discount_code": "SAVE20"})]


async def test_the_answer_to_an_open_question_is_taken_whole_even_if_it_sounds_like_a_request() -> None:
    # "arrived" would route to check_order_status on its own; as the answer to "the reason" it is a reason.
    first = UserText(text="I want to return order ORD-003")
    asked = AssistantText(text="Could you give me the reason for the return?")

    reply = await reply_to(first, asked, UserText(text="The order arrived damaged"))

    assert calls(reply) == [("process_return", {"order_id": "ORD-003", "reason": "The order arrived damaged"})]


@pytest.mark.parametrize(("answer", "order_id"), [("it's 12345", "12345"), ("my order number is ord-77", "ORD-77")])
async def test_an_order_number_answer_without_the_usual_prefix_is_accepted(answer: str, order_id: str) -> None:
    history: list[Part] = [
        UserText(text="where is my order?"),
        AssistantText(text="Could you give me your order number?"),
    ]

    reply = await reply_to(*history, UserText(text=answer))

    assert calls(reply) == [("check_order_status", {"order_id": order_id})]


async def test_an_answer_without_the_value_repeats_the_question_and_never_mind_drops_it() -> None:
    history: list[Part] = [
        UserText(text="where is my order?"),
        AssistantText(text="Could you give me your order number?"),
    ]

    unsure = await reply_to(*history, UserText(text="I don't know"))
    dropped = await reply_to(*history, UserText(text="never mind"))

    assert unsure.calls == dropped.calls == []
    assert unsure.text == "Could you give me your order number?"
    assert dropped.text == "No problem. Is there anything else I can help with?"


async def test_a_question_for_an_enum_lists_its_values() -> None:
    tool = _tool(
        "set_priority",
        "Set the priority of a ticket",
        {"ticket_id": STRING, "priority": CRM[1].parameters["properties"]["priority"]},
        ["ticket_id", "priority"],
    )

    reply = await reply_to(UserText(text="set the priority of ticket TKT-9"), tools=[tool])

    assert reply.text == "Could you give me the priority (low, medium, high or urgent)?"


async def test_a_new_request_instead_of_the_answer_starts_over() -> None:
    first = UserText(text="where is my order?")
    question = AssistantText(text="Could you give me your order number?")

    reply = await reply_to(first, question, UserText(text="Actually, apply discount code SAVE20 for CUST-007"))

    assert calls(reply) == [("apply_discount", {"customer_id": "CUST-007", "discount_code": "SAVE20"})]


async def test_an_answer_to_someone_elses_question_is_read_as_a_new_message() -> None:
    # The assistant text is not the question this provider would have asked: nothing is pending.
    history: list[Part] = [
        UserText(text="where is my order?"),
        AssistantText(text="Sure, what is it?"),
        UserText(text="thanks"),
    ]

    reply = await reply_to(*history)

    assert reply.calls == []
    assert reply.text == "You're welcome! Is there anything else I can help with?"


# --- summaries of results -------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
async def test_an_order_status_result_is_summarised_in_a_sentence_without_a_new_call(mode: Mode) -> None:
    user = UserText(text="Check my order ORD-001")
    call = (await reply_to(user)).calls[0]
    result = {
        "order_id": "ORD-001",
        "status": "shipped",
        "tracking_number": "1Z999AA1234567890",
        "estimated_delivery": "2024-01-18",
    }

    reply, deltas = await ask(OfflineProvider(), request(user, *call_then_result(call, result=result)), mode)

    assert reply.calls == []
    assert reply.text == "Order ORD-001 is shipped. Tracking number: 1Z999AA1234567890. Estimated delivery: 2024-01-18."
    if mode == "stream":
        assert "".join(deltas) == reply.text


async def test_a_return_result_gives_the_return_id_and_the_next_steps() -> None:
    user = UserText(text="I want to return order ORD-003 because the shoes are too small")
    call = (await reply_to(user)).calls[0]
    result = {
        "return_id": "RET-20240115103000",
        "status": "Return initiated successfully",
        "next_steps": "You'll receive return instructions via email within 24 hours",
    }

    reply = await reply_to(user, *call_then_result(call, result=result))

    assert reply.text == (
        "Return initiated successfully. Return ID: RET-20240115103000. "
        "Next steps: You'll receive return instructions via email within 24 hours."
    )


async def test_a_list_result_is_summarised_as_items() -> None:
    user = UserText(text="Recommend 2 products for CUST-001")
    call = (await reply_to(user)).calls[0]
    result = [{"name": "Trail shoes", "price": 89.9}, {"name": "Rain jacket", "price": 120}]

    reply = await reply_to(user, *call_then_result(call, result=result))

    assert reply.text == "Here's what I found:\n- Trail shoes (price: 89.9)\n- Rain jacket (price: 120)"


async def test_a_failed_call_is_reported_and_not_retried() -> None:
    user = UserText(text="Check my order ORD-999")
    call = (await reply_to(user)).calls[0]

    reply = await reply_to(user, *call_then_result(call, error="Order ORD-999 not found"))

    assert reply.calls == []
    assert reply.text == "I couldn't complete that: Order ORD-999 not found."


async def test_a_result_that_reports_its_own_failure_is_reported_as_a_failure() -> None:
    user = UserText(text="Check my order ORD-404")
    call = (await reply_to(user)).calls[0]

    reply = await reply_to(user, *call_then_result(call, result={"success": False, "error": "Order not found"}))

    assert reply.text == "I couldn't complete that: Order not found."


# --- no match, greetings --------------------------------------------------------------------


async def test_a_message_no_function_fits_gets_the_list_of_what_it_can_do() -> None:
    reply = await reply_to(UserText(text="What's the weather like in Lisbon?"), tools=ECOMMERCE)

    assert reply.calls == []
    assert reply.text == (
        "I'm not sure how to help with that. Here's what I can do:\n"
        "- Get current order status and tracking info\n"
        "- Initiate a return for an order\n"
        "- Apply a discount code to customer account\n"
        "- Get personalized product recommendations\n"
        "What would you like to do?"
    )


async def test_without_tools_it_says_it_cannot_look_anything_up() -> None:
    reply = await reply_to(UserText(text="Check my order ORD-001"), tools=[])

    assert reply.calls == []
    assert "can't look anything up" in reply.text


# --- extraction by schema -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "Open an urgent support ticket for CUST-001: my package arrived damaged",
            (
                "create_support_ticket",
                {
                    "customer_id": "CUST-001",
                    "title": "My package arrived damaged",
                    "description": "my package arrived damaged",
                    "priority": "urgent",
                },
            ),
        ),
        (
            "Recommend 3 products in electronics for CUST-001",
            ("get_product_recommendations", {"customer_id": "CUST-001", "category": "electronics", "limit": 3}),
        ),
        (
            "show me the top two suggestions for CUST-002",
            ("get_product_recommendations", {"customer_id": "CUST-002", "limit": 2}),
        ),
        (
            "Any product recommendations for CUST-003?",
            ("get_product_recommendations", {"customer_id": "CUST-003", "limit": 5}),  # the schema's default
        ),
        ("Look up the profile for jane@example.com", ("get_customer_profile", {"email": "jane@example.com"})),
        (
            "Add a sales note to CUST-001: prefers email contact",
            (
                "update_customer_notes",
                {"customer_id": "CUST-001", "note": "prefers email contact", "note_type": "sales"},
            ),
        ),
        (
            "Please call me back tomorrow at 3pm, I'm CUST-004",
            ("schedule_callback", {"customer_id": "CUST-004", "preferred_time": "tomorrow at 3pm"}),
        ),
        (
            "use coupon welcome10 on account CUST-009",
            ("apply_discount", {"customer_id": "CUST-009", "discount_code": "welcome10"}),
        ),
    ],
)
async def test_arguments_are_extracted_by_schema(text: str, expected: tuple[str, dict[str, Any]]) -> None:
    reply = await reply_to(UserText(text=text))

    assert calls(reply) == [expected]


async def test_an_id_goes_to_the_parameter_its_prefix_abbreviates() -> None:
    both = _tool("link_order", "Link an order to a customer", {"customer_id": STRING, "order_id": STRING}, ["order_id"])

    reply = await reply_to(UserText(text="link ORD-12 with CUST-34"), tools=[both])

    assert calls(reply) == [("link_order", {"customer_id": "CUST-34", "order_id": "ORD-12"})]


async def test_numbers_and_booleans_follow_the_schema_types_and_bounds() -> None:
    tool = _tool(
        "list_orders",
        "List a customer's recent orders",
        {
            "customer_id": STRING,
            "limit": {"type": "integer", "minimum": 1, "maximum": 20},
            "include_cancelled": {"type": "boolean"},
        },
        ["customer_id"],
    )

    within = await reply_to(UserText(text="list the last 7 orders of CUST-1, without cancelled ones"), tools=[tool])
    beyond = await reply_to(UserText(text="list 50 orders of CUST-1 including cancelled"), tools=[tool])

    assert calls(within) == [("list_orders", {"customer_id": "CUST-1", "limit": 7, "include_cancelled": False})]
    assert calls(beyond) == [("list_orders", {"customer_id": "CUST-1", "include_cancelled": True})]


# --- routing --------------------------------------------------------------------------------


async def test_a_namespaced_function_still_routes_and_is_called_by_its_model_facing_name() -> None:
    tools = [ToolDef(name=f"shop__{t.name}", description=t.description, parameters=t.parameters) for t in ECOMMERCE] + [
        ToolDef(name="crm__get_customer_profile", description=CRM[0].description, parameters=CRM[0].parameters)
    ]
    rendered = GUIDE_PROMPT.replace("{{function.check_order_status(order_id)}}", "shop__check_order_status(order_id)")

    for system in (GUIDE_PROMPT, rendered):
        reply = await reply_to(UserText(text="Check my order ORD-001"), system=system, tools=tools)
        assert calls(reply) == [("shop__check_order_status", {"order_id": "ORD-001"})]


async def test_the_prompt_lines_that_reference_a_function_steer_routing() -> None:
    tools = [
        _tool("lookup_a", "Look up a record", {"serial": STRING}, ["serial"]),
        _tool("lookup_b", "Look up a record", {"serial": STRING}, ["serial"]),
    ]
    system = (
        "Use {{function.lookup_a(serial)}} for billing questions.\n"
        "Use {{function.lookup_b(serial)}} for warranty claims."
    )

    warranty = await reply_to(UserText(text="Is my warranty still valid? serial: SN-123"), system=system, tools=tools)
    billing = await reply_to(UserText(text="I have a billing question, serial: SN-123"), system=system, tools=tools)

    assert calls(warranty) == [("lookup_b", {"serial": "SN-123"})]
    assert calls(billing) == [("lookup_a", {"serial": "SN-123"})]


# --- the provider itself --------------------------------------------------------------------


async def test_the_same_request_gets_the_same_reply_and_call_ids_follow_the_conversation() -> None:
    history: list[Part] = [UserText(text="Check my order ORD-001")]

    first = await OfflineProvider().complete(request(*history))
    again = await OfflineProvider().complete(request(*history))
    later = await OfflineProvider().complete(
        request(UserText(text="hi"), AssistantText(text="Hello!"), UserText(text="Check my order ORD-001"))
    )

    assert first == again
    assert first.calls[0].call_id.startswith("call_")
    assert later.calls[0].call_id != first.calls[0].call_id


async def test_streamed_text_comes_in_word_groups_that_join_to_the_reply() -> None:
    events = [event async for event in OfflineProvider().stream(request(UserText(text="hello")))]

    deltas = [event.text for event in events if isinstance(event, TextDelta)]
    assert isinstance(events[-1], ReplyDone)
    assert sum(isinstance(event, ReplyDone) for event in events) == 1
    assert len(deltas) > 3
    assert "".join(deltas) == events[-1].reply.text
    assert events[-1].reply.text.startswith("Hello! Here's what I can help with:\n- Get current order status")


async def test_it_is_a_provider_named_offline_that_counts_usage_in_words() -> None:
    provider = OfflineProvider()
    reply = await provider.complete(request(UserText(text="where is my order?")))
    await provider.aclose()

    assert isinstance(provider, Provider)
    assert provider.name == "OFFLINE"
    assert reply.usage.input_tokens > len(RENDERED_PROMPT.split())
    assert reply.usage.output_tokens == len(reply.text.split())
