"""mcp / assistant / channel commands against the real API on loopback, table and --json forms."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.plati.cli.support import CliPlatform, one_error_line, run

SHOP_FUNCTIONS = {"check_order_status", "process_return", "apply_discount", "get_product_recommendations"}


def add_shop(platform: CliPlatform, shop: str, *extra: str) -> dict[str, Any]:
    mcp: dict[str, Any] = platform.json("mcp", "add", "shop", "--url", shop, *extra)
    return mcp


def test_mcp_add_discovers_the_tools_and_shows_the_detected_protocol(platform: CliPlatform, shop: str) -> None:
    result = platform.plati("mcp", "add", "shop", "--url", shop, "-H", "Authorization: Bearer s3cr3t-value-123")
    assert result.exit_code == 0, result.stderr
    assert "MCP registered: shop" in result.stdout
    assert "http (rest)" in result.stdout  # the SDK server at its base URL answers the simple protocol
    assert "4 tool(s) discovered" in result.stdout
    assert "s3cr3t-value-123" not in result.stdout


def test_mcp_add_json_is_the_api_object_with_masked_headers(platform: CliPlatform, shop: str) -> None:
    mcp = add_shop(platform, shop, "--header", "X-Api-Key: s3cr3t-value-123", "--timeout", "5")
    assert mcp["name"] == "shop"
    assert mcp["tools_count"] == 4
    assert mcp["timeout_seconds"] == 5
    assert mcp["status"] == "ok"
    [header] = mcp["headers"]
    assert header["key"] == "X-Api-Key"
    assert "s3cr3t-value-123" not in header["value"]
    # The table shows the masked value exactly as the API returned it.
    shown = platform.plati("mcp", "show", mcp["id"])
    assert f"X-Api-Key: {header['value']}" in shown.stdout


def test_mcp_add_without_validation_registers_without_contacting_the_server(platform: CliPlatform) -> None:
    mcp = platform.json("mcp", "add", "later", "--url", "http://127.0.0.1:9/nowhere", "--no-validate")
    assert (mcp["status"], mcp["tools_count"]) == ("unknown", 0)


def test_mcp_list_show_tools_refresh_in_both_forms(platform: CliPlatform, shop: str) -> None:
    mcp_id = add_shop(platform, shop)["id"]

    assert [m["id"] for m in platform.json("mcp", "list")] == [mcp_id]
    listed = platform.plati("mcp", "list")
    assert listed.exit_code == 0
    assert mcp_id in listed.stdout and "shop" in listed.stdout and "ok" in listed.stdout

    assert platform.json("mcp", "show", mcp_id)["id"] == mcp_id
    shown = platform.plati("mcp", "show", mcp_id)
    assert shown.exit_code == 0 and mcp_id in shown.stdout and shop in shown.stdout

    tools = platform.json("mcp", "tools", mcp_id)
    assert {tool["name"] for tool in tools} == SHOP_FUNCTIONS
    table = platform.plati("mcp", "tools", mcp_id)
    assert "check_order_status" in table.stdout and "order_id*" in table.stdout

    refreshed = platform.json("mcp", "refresh", mcp_id)
    assert {tool["name"] for tool in refreshed["tools"]} == SHOP_FUNCTIONS
    table = platform.plati("mcp", "refresh", mcp_id)
    assert table.exit_code == 0 and "Tools refreshed" in table.stdout and "apply_discount" in table.stdout


def test_mcp_call_with_json_args_and_typed_key_value_args(platform: CliPlatform, shop: str) -> None:
    mcp_id = add_shop(platform, shop)["id"]

    result = platform.json("mcp", "call", mcp_id, "check_order_status", "--args", '{"order_id": "ORD-001"}')
    assert result["success"] is True
    assert result["data"]["order_id"] == "ORD-001"

    # limit is an integer in the schema, customer_id a string: each --arg is sent as its type.
    result = platform.json(
        "mcp", "call", mcp_id, "get_product_recommendations", "--arg", "customer_id=CUST-001", "--arg", "limit=1"
    )
    assert result["success"] is True, result
    assert len(result["data"]["products"]) <= 1

    table = platform.plati("mcp", "call", mcp_id, "check_order_status", "--arg", "order_id=ORD-001")
    assert table.exit_code == 0
    assert "check_order_status: ok" in table.stdout and "ORD-001" in table.stdout


def test_a_function_that_reports_failure_exits_1_with_its_error(platform: CliPlatform, shop: str) -> None:
    mcp_id = add_shop(platform, shop)["id"]
    result = platform.plati("mcp", "call", mcp_id, "check_order_status", "--arg", "order_id=ORD-999", "--json")
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert data["success"] is False and data["error"]
    table = platform.plati("mcp", "call", mcp_id, "check_order_status", "--arg", "order_id=ORD-999")
    assert table.exit_code == 1 and "check_order_status: failed" in table.stdout


def test_arguments_that_do_not_fit_the_schema_are_one_422_line(platform: CliPlatform, shop: str) -> None:
    mcp_id = add_shop(platform, shop)["id"]
    line = one_error_line(platform.plati("mcp", "call", mcp_id, "get_product_recommendations", "--arg", "limit=0"))
    assert line.startswith("error (422 validation_error): ")


def test_mcp_rm_removes_it(platform: CliPlatform, shop: str) -> None:
    first = add_shop(platform, shop)["id"]
    second = platform.json("mcp", "add", "again", "--url", shop, "--no-validate")["id"]
    assert platform.json("mcp", "rm", first) == {"id": first}
    removed = platform.plati("mcp", "rm", second)
    assert removed.exit_code == 0 and second in removed.stdout
    assert platform.json("mcp", "list") == []
    assert "No MCPs yet" in platform.plati("mcp", "list").stdout


def test_duplicate_name_is_a_409_line(platform: CliPlatform, shop: str) -> None:
    add_shop(platform, shop)
    line = one_error_line(platform.plati("mcp", "add", "shop", "--url", shop))
    assert line.startswith("error (409 conflict): ")
    assert "shop" in line


def test_unknown_ids_are_404_lines_for_every_resource(platform: CliPlatform) -> None:
    for args in (
        ["mcp", "show", "mcp_nope"],
        ["mcp", "tools", "mcp_nope"],
        ["mcp", "refresh", "mcp_nope"],
        ["mcp", "call", "mcp_nope", "f", "--arg", "x=1"],
        ["mcp", "rm", "mcp_nope"],
        ["assistant", "show", "asst_nope"],
        ["assistant", "attach", "asst_nope", "mcp_nope"],
        ["assistant", "rm", "asst_nope", "--json"],
        ["channel", "rm", "chn_nope"],
        ["channel", "create", "c", "--assistant", "asst_nope"],
    ):
        line = one_error_line(platform.plati(*args))
        assert line.startswith("error (404 not_found): "), (args, line)


def test_a_wrong_key_is_a_401_line(platform: CliPlatform) -> None:
    line = one_error_line(platform.plati("assistant", "list", key="plati_" + "x" * 43))
    assert line.startswith("error (401 unauthorized): ")


def test_assistant_lifecycle_with_attach_detach(platform: CliPlatform, shop: str, tmp_path: Path) -> None:
    mcp_id = add_shop(platform, shop)["id"]
    prompt = tmp_path / "prompt.txt"
    prompt.write_text("Help with orders: {{function.check_order_status(order_id)}}.", encoding="utf-8")

    created = platform.json("assistant", "create", "Support", "--instructions-file", str(prompt))
    assistant_id = created["id"]
    assert created["provider"] == "OFFLINE"
    assert created["unresolved_functions"] == ["check_order_status"]

    attached = platform.json("assistant", "attach", assistant_id, mcp_id)
    assert attached["mcp_ids"] == [mcp_id]
    assert attached["unresolved_functions"] == []

    shown = platform.plati("assistant", "show", assistant_id)
    assert shown.exit_code == 0
    assert "Assistant: Support" in shown.stdout and "get_product_recommendations" in shown.stdout
    assert platform.json("assistant", "show", assistant_id)["mcp_ids"] == [mcp_id]

    listed = platform.plati("assistant", "list")
    assert assistant_id in listed.stdout and "OFFLINE" in listed.stdout
    assert [a["id"] for a in platform.json("assistant", "list")] == [assistant_id]

    detached = platform.plati("assistant", "detach", assistant_id, mcp_id)
    assert detached.exit_code == 0
    assert "check_order_status" in detached.stderr  # the reference is unresolved again: a warning
    line = one_error_line(platform.plati("assistant", "detach", assistant_id, mcp_id))
    assert line.startswith("error (404 not_found): ")

    assert platform.json("assistant", "rm", assistant_id) == {"id": assistant_id}
    assert platform.json("assistant", "list") == []


def test_assistant_create_table_form_with_provider_and_model(platform: CliPlatform) -> None:
    result = platform.plati(
        "assistant", "create", "Writer", "--instructions", "Be brief.", "--provider", "openai", "--model", "gpt-x"
    )
    assert result.exit_code == 0, result.stderr
    assert "Assistant created: Writer" in result.stdout
    assert "OPENAI" in result.stdout and "gpt-x" in result.stdout and "Be brief." in result.stdout
    second = platform.plati("assistant", "create", "Other", "--json")
    assert second.exit_code == 0
    attach = platform.plati("assistant", "attach", json.loads(second.stdout)["id"], "mcp_nope")
    assert attach.exit_code == 1


def test_instructions_can_come_from_stdin(platform: CliPlatform) -> None:
    result = run(
        [
            "--url",
            platform.url,
            "--api-key",
            platform.api_key,
            "assistant",
            "create",
            "A",
            "--instructions-file",
            "-",
            "--json",
        ],
        stdin="From stdin.",
    )
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["instructions"] == "From stdin."


def test_channels_create_list_rm(platform: CliPlatform) -> None:
    assistant_id = platform.json("assistant", "create", "Support")["id"]
    channel = platform.json("channel", "create", "web", "--assistant", assistant_id)
    assert (channel["type"], channel["assistant_id"], channel["active"]) == ("api", assistant_id, True)
    off = platform.plati("channel", "create", "paused", "--inactive")
    assert off.exit_code == 0 and "Channel created" in off.stdout and "paused" in off.stdout

    listed = platform.json("channel", "list")
    assert [(c["name"], c["active"]) for c in listed] == [("web", True), ("paused", False)]
    table = platform.plati("channel", "list")
    assert channel["id"] in table.stdout and assistant_id in table.stdout

    assert platform.json("channel", "rm", channel["id"]) == {"id": channel["id"]}
    removed = platform.plati("channel", "rm", listed[1]["id"])
    assert removed.exit_code == 0
    assert platform.json("channel", "list") == []
    assert "No channels yet" in platform.plati("channel", "list").stdout


def test_tables_fit_80_columns_with_whole_ids_and_an_ellipsis_for_long_values(
    platform: CliPlatform, shop: str
) -> None:
    long_url = shop + "/" + "a-very-long-path-segment/" * 3 + "mcp"
    mcp = platform.json("mcp", "add", "a shop with a rather long name indeed", "--url", long_url, "--no-validate")
    assistant = platform.json("assistant", "create", "Support")
    channel = platform.json("channel", "create", "web", "--assistant", assistant["id"])
    narrow = {**platform.env, "COLUMNS": "80"}
    base = ["--url", platform.url, "--api-key", platform.api_key]
    for args, ids in (
        (["mcp", "list"], [mcp["id"]]),
        (["channel", "list"], [channel["id"], assistant["id"]]),
        (["assistant", "list"], [assistant["id"]]),
    ):
        result = run([*base, *args], env=narrow)
        assert result.exit_code == 0, result.stderr
        lines = result.stdout.splitlines()
        assert all(len(line) <= 80 for line in lines), result.stdout
        for ident in ids:
            assert any(ident in line for line in lines), (ident, result.stdout)
    listed = run([*base, "mcp", "list"], env=narrow).stdout
    assert "…" in listed and long_url not in listed
