"""Model-facing names: a function keeps its name unless two MCPs share it; names are always safe
for model providers; prompt references resolve against them."""

from __future__ import annotations

import re

from plati.naming import assign_model_names, safe_name
from plati.prompt import ambiguous_functions, function_references, resolve_reference, unresolved_functions

PROVIDER_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def test_names_are_kept_when_unique_and_namespaced_only_on_collisions() -> None:
    refs = assign_model_names(
        [
            ("mcp_1", "Order Management", "check_order_status"),
            ("mcp_1", "Order Management", "process_return"),
            ("mcp_2", "CRM", "check_order_status"),
            ("mcp_2", "CRM", "get_customer_profile"),
        ]
    )
    assert [ref.model_name for ref in refs] == [
        "order_management__check_order_status",
        "process_return",
        "crm__check_order_status",
        "get_customer_profile",
    ]
    assert refs[2].mcp_id == "mcp_2"
    assert refs[2].function == "check_order_status"


def test_mcps_whose_names_slug_alike_stay_distinct() -> None:
    refs = assign_model_names([("mcp_aaaa1111", "Shop!", "f"), ("mcp_bbbb2222", "shop", "f")])
    assert len({ref.model_name for ref in refs}) == 2


def test_unsafe_and_long_names_become_provider_safe() -> None:
    assert safe_name("files.read/all") == "files_read_all"
    long_a, long_b = "a" * 80, "a" * 79 + "b"
    assert PROVIDER_NAME.match(safe_name(long_a))
    assert safe_name(long_a) != safe_name(long_b)
    for ref in assign_model_names([("m1", "x" * 100, "y" * 100), ("m2", "x" * 100, "y" * 100)]):
        assert PROVIDER_NAME.match(ref.model_name), ref.model_name


def test_prompt_references_are_found_and_resolved() -> None:
    prompt = (
        "Use {{function.check_order_status(order_id)}} then {{ function.process_return }} "
        "and {{function.check_order_status(x)}}"
    )
    assert function_references(prompt) == ["check_order_status", "process_return"]
    refs = assign_model_names([("m1", "Shop", "check_order_status"), ("m2", "CRM", "check_order_status")])
    assert resolve_reference("check_order_status", refs) is None  # ambiguous without the namespace
    ref = resolve_reference("crm__check_order_status", refs)
    assert ref is not None
    assert ref.mcp_id == "m2"
    assert unresolved_functions(prompt, refs) == ["process_return"]
    assert unresolved_functions(None, refs) == []


def test_a_reference_two_mcps_offer_is_ambiguous_with_the_names_the_model_sees() -> None:
    prompt = "Call {{function.check_order_status(order_id)}}; never {{function.refund}}."
    refs = assign_model_names([("m1", "Shop", "check_order_status"), ("m2", "CRM", "check_order_status")])
    assert ambiguous_functions(prompt, refs) == {
        "check_order_status": ["shop__check_order_status", "crm__check_order_status"]
    }
    assert unresolved_functions(prompt, refs) == ["refund"]


def test_an_ambiguous_reference_renders_as_every_name_the_model_can_call() -> None:
    from datetime import UTC, datetime

    from plati.engine.templating import TemplateContext, render_instructions

    refs = assign_model_names([("m1", "Shop", "check_order_status"), ("m2", "CRM", "check_order_status")])
    context = TemplateContext(identity_id="u", identity_name=None, conversation_id="c", now=datetime.now(UTC))
    rendered = render_instructions("Call {{function.check_order_status(order_id)}}.", refs, context)
    assert rendered == "Call shop__check_order_status(order_id) or crm__check_order_status(order_id)."
