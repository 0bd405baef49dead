"""Function definitions: schemas from the guide's compact form and from type hints, and the
decoration-time errors for definitions that cannot work."""

from __future__ import annotations

from typing import Annotated, Literal

import pytest
from pydantic import BaseModel, Field
from typing_extensions import TypedDict

from plati_mcp import MCP, Context, DefinitionError, Function


class Address(BaseModel):
    street: str
    city: str


class Receipt(BaseModel):
    return_id: str
    status: str


class Stock(TypedDict):
    sku: str
    quantity: int


def tools_by_name(mcp: MCP) -> dict[str, dict]:
    return {tool["name"]: tool for tool in mcp.test_client().list_tools()}


def test_guide_compact_parameters_become_a_json_schema_with_required_list() -> None:
    mcp = MCP(name="Order Management")

    @mcp.function(
        name="check_order_status",
        description="Check order status and tracking",
        parameters={"order_id": {"type": "string", "required": True}},
    )
    def check_order_status(order_id: str):
        return {"status": "shipped", "tracking": "123456"}

    tool = tools_by_name(mcp)["check_order_status"]
    assert tool == {
        "name": "check_order_status",
        "description": "Check order status and tracking",
        "input_schema": {
            "type": "object",
            "properties": {"order_id": {"type": "string"}},
            "required": ["order_id"],
        },
    }


def test_schema_comes_from_hints_defaults_docstring_annotated_and_literal() -> None:
    mcp = MCP()

    @mcp.function
    def get_product_recommendations(
        customer_id: Annotated[str, Field(description="Customer id like CUST-001")],
        category: Literal["shoes", "shirts"] | None = None,
        limit: int = 5,
    ) -> list[str]:
        """Get personalized product recommendations.

        Args:
            limit: how many products at most.
        """
        return []

    tool = tools_by_name(mcp)["get_product_recommendations"]
    assert tool["description"] == "Get personalized product recommendations."
    schema = tool["input_schema"]
    assert schema["required"] == ["customer_id"]
    assert schema["additionalProperties"] is False
    props = schema["properties"]
    assert props["customer_id"] == {"type": "string", "description": "Customer id like CUST-001"}
    assert {"enum": ["shoes", "shirts"], "type": "string"} in props["category"]["anyOf"]
    assert props["limit"] == {"type": "integer", "default": 5, "description": "how many products at most."}
    assert tool["output_schema"] == {
        "type": "object",
        "properties": {"result": {"type": "array", "items": {"type": "string"}}},
        "required": ["result"],
    }


def test_pydantic_model_parameters_arrive_as_model_instances() -> None:
    mcp = MCP()
    seen: list[Address] = []

    @mcp.function
    def ship_to(order_id: str, address: Address) -> Receipt:
        seen.append(address)
        return Receipt(return_id=order_id, status=address.city)

    result = mcp.test_client().call("ship_to", {"order_id": "ORD-1", "address": {"street": "1 Main", "city": "Oslo"}})
    assert result.status_code == 200
    assert result.data == {"return_id": "ORD-1", "status": "Oslo"}
    assert seen == [Address(street="1 Main", city="Oslo")]
    assert tools_by_name(mcp)["ship_to"]["output_schema"]["required"] == ["return_id", "status"]


def test_async_and_sync_functions_both_run() -> None:
    mcp = MCP()

    @mcp.function
    async def add(a: int, b: int) -> int:
        return a + b

    @mcp.function
    def stock(sku: str) -> Stock:
        return {"sku": sku, "quantity": 3}

    client = mcp.test_client()
    assert client.call("add", {"a": 2, "b": 3}).data == 5
    assert client.call("stock", {"sku": "A"}).data == {"sku": "A", "quantity": 3}


def test_explicit_function_objects_register_and_keep_their_options() -> None:
    mcp = MCP()

    def lookup(order_id: str) -> dict:
        return {"order_id": order_id}

    fn = mcp.add_function(
        Function(lookup, name="lookup_order", description="Find an order", annotations={"read_only": True})
    )
    assert fn.name == "lookup_order"
    tool = tools_by_name(mcp)["lookup_order"]
    assert tool["annotations"] == {"readOnlyHint": True}
    assert mcp.test_client().call("lookup_order", {"order_id": "X"}).data == {"order_id": "X"}


def test_decorated_function_stays_callable_from_python() -> None:
    mcp = MCP()

    @mcp.function
    def double(x: int) -> int:
        return 2 * x

    assert double(4) == 8


@pytest.mark.parametrize(
    ("define", "fragment"),
    [
        (lambda mcp: mcp.function(name="f")(lambda *items: None), "*items"),
        (lambda mcp: mcp.function(name="bad name!")(lambda: None), "not valid"),
        (lambda mcp: mcp.function(name="x" * 65)(lambda: None), "not valid"),
        (lambda mcp: mcp.function(name="f", parameters={"a": {"type": "str"}})(lambda a: None), "type 'str'"),
        (
            lambda mcp: mcp.function(name="f", parameters={"a": "string"})(lambda a: None),
            "must be a JSON Schema mapping",
        ),
        (
            lambda mcp: mcp.function(name="f", parameters={"b": {"type": "string", "required": True}})(
                lambda a: None
            ),
            "not arguments of the Python function",
        ),
        (
            lambda mcp: mcp.function(name="f", parameters={"a": {"type": "string"}})(lambda a: None),
            "no default",
        ),
        (lambda mcp: mcp.function(name="f", annotations={"fast": True})(lambda: None), "unknown annotation"),
    ],
)
def test_definitions_that_cannot_work_fail_at_decoration_time(define, fragment: str) -> None:
    with pytest.raises(DefinitionError) as excinfo:
        define(MCP())
    assert fragment in str(excinfo.value)


def test_positional_only_unsupported_types_and_generators_are_refused() -> None:
    mcp = MCP()

    def positional(a: int, /) -> None: ...

    class Opaque:
        pass

    def opaque(thing: Opaque) -> None: ...

    def gen(a: int):
        yield a

    for fn, fragment in ((positional, "positional-only"), (opaque, "'thing'"), (gen, "generator")):
        with pytest.raises(DefinitionError) as excinfo:
            mcp.function(fn)
        assert fragment in str(excinfo.value)


def test_registering_two_functions_with_one_name_is_refused() -> None:
    mcp = MCP()

    @mcp.function(name="same")
    def first() -> None: ...

    with pytest.raises(DefinitionError, match="already registered"):

        @mcp.function(name="same")
        def second() -> None: ...


def test_context_parameter_is_not_part_of_the_schema() -> None:
    mcp = MCP()

    @mcp.function
    def whoami(greeting: str, ctx: Context) -> str:
        return f"{greeting} {ctx.identity_id}"

    assert tools_by_name(mcp)["whoami"]["input_schema"]["properties"].keys() == {"greeting"}
    result = mcp.test_client().call("whoami", {"greeting": "hi"}, headers={"X-Plati-Identity": "alice"})
    assert result.data == "hi alice"
