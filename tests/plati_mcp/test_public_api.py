"""The SDK's public surface is deliberate: this list changes only on purpose."""

import plati_mcp


def test_public_names_are_exactly_these() -> None:
    assert sorted(plati_mcp.__all__) == sorted(
        [
            "MCP",
            "ArgumentsInvalid",
            "CallResponse",
            "CallerInfo",
            "Context",
            "DefinitionError",
            "Function",
            "FunctionError",
            "FunctionTestClient",
            "PlatiMCPError",
            "UnknownFunction",
            "verify_signature",
        ]
    )
    for name in plati_mcp.__all__:
        assert hasattr(plati_mcp, name)


def test_the_guide_import_line_works() -> None:
    from plati_mcp import MCP, Function  # noqa: F401
