"""The provider-neutral message model: kind-discriminated parts that persist as they are, and the
grouping the provider adapters build on."""

from __future__ import annotations

import pydantic
import pytest

from plati.engine.messages import (
    AssistantText,
    ErrorPart,
    FunctionCall,
    FunctionResult,
    Part,
    Step,
    UserText,
    part_adapter,
    parts_adapter,
    result_text,
    step_groups,
)

CONVERSATION: list[Part] = [
    UserText(text="Where is A1?"),
    AssistantText(text="Checking."),
    FunctionCall(call_id="c1", name="check_order_status", arguments={"order_id": "A1"}),
    FunctionResult(call_id="c1", name="check_order_status", success=True, result={"status": "shipped"}),
    FunctionResult(call_id="c2", name="x", success=False, error="boom", truncated=False),
    ErrorPart(message="The provider timed out."),
    AssistantText(text="Shipped."),
]


def test_parts_round_trip_through_their_json_form() -> None:
    dumped = [part.model_dump(mode="json") for part in CONVERSATION]

    assert [row["kind"] for row in dumped] == [
        "user_text",
        "assistant_text",
        "function_call",
        "function_result",
        "function_result",
        "error",
        "assistant_text",
    ]
    assert parts_adapter.validate_python(dumped) == CONVERSATION
    assert part_adapter.validate_json(CONVERSATION[2].model_dump_json()) == CONVERSATION[2]
    assert dumped[3] == {
        "kind": "function_result",
        "call_id": "c1",
        "name": "check_order_status",
        "success": True,
        "result": {"status": "shipped"},
        "error": None,
        "truncated": False,
    }


def test_an_unknown_kind_is_rejected() -> None:
    with pytest.raises(pydantic.ValidationError):
        part_adapter.validate_python({"kind": "image", "url": "x"})


def test_a_failed_result_needs_an_error_message() -> None:
    with pytest.raises(pydantic.ValidationError):
        FunctionResult(call_id="c", name="f", success=False)


def test_parts_are_immutable() -> None:
    with pytest.raises(pydantic.ValidationError):
        setattr(UserText(text="a"), "text", "b")  # noqa: B010


def test_step_groups_skip_errors_and_orphan_results_and_group_a_step() -> None:
    steps = step_groups(CONVERSATION)

    assert [step.role for step in steps] == ["user", "assistant", "results", "assistant"]
    assert steps[1].text == "Checking."
    assert [c.call_id for c in steps[1].calls] == ["c1"]
    assert [r.call_id for r in steps[2].results] == ["c1"]  # c2 answers no call: dropped


def test_a_call_left_without_a_result_gets_a_failed_one() -> None:
    history: list[Part] = [
        UserText(text="Check A1"),
        FunctionCall(call_id="c1", name="f", arguments={}),
        FunctionCall(call_id="c2", name="g", arguments={}),
        FunctionResult(call_id="c2", name="g", success=True, result=1),
        UserText(text="Hello?"),
    ]

    steps = step_groups(history)

    assert [step.role for step in steps] == ["user", "assistant", "results", "user"]
    [answered, synthesized] = steps[2].results
    assert answered.call_id == "c2"
    assert (synthesized.call_id, synthesized.success) == ("c1", False)


def test_a_trailing_call_without_a_result_gets_a_failed_one() -> None:
    steps = step_groups([UserText(text="x"), FunctionCall(call_id="c1", name="f")])

    assert steps[-1] == Step(
        "results",
        (FunctionResult(call_id="c1", name="f", success=False, error=steps[-1].results[0].error),),
    )


def test_result_text_encodes_json_and_marks_truncation() -> None:
    assert result_text(FunctionResult(call_id="c", name="f", success=True, result={"a": "é"})) == '{"a":"é"}'
    assert result_text(FunctionResult(call_id="c", name="f", success=True, result="plain")) == "plain"
    assert result_text(FunctionResult(call_id="c", name="f", success=False, error="boom")) == "boom"
    assert "truncated" in result_text(FunctionResult(call_id="c", name="f", success=True, result="x", truncated=True))
