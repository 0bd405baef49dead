"""What the CLI decides before any request: usage errors (exit 2), a missing key, no server."""

from __future__ import annotations

import pytest

from plati.cli.main import app
from tests.plati.cli.support import closed_port, one_error_line, run

KEY = ["--api-key", "plati_" + "x" * 43]


@pytest.mark.parametrize(
    "args",
    [
        ["mcp", "add", "shop"],  # neither --url nor --command
        ["mcp", "add", "shop", "--url", "http://x", "--header", "no colon"],
        ["mcp", "add", "shop", "--command", "srv", "--env", "NOEQUALS"],
        ["mcp", "add", "shop", "--url", "http://x", "--transport", "carrier-pigeon"],
        ["mcp", "call", "mcp_1", "f", "--args", "{}", "--arg", "a=1"],
        ["mcp", "call", "mcp_1", "f", "--args", "[1, 2]"],
        ["mcp", "call", "mcp_1", "f", "--args", "{not json"],
        ["mcp", "call", "mcp_1", "f", "--arg", "novalue"],
        ["assistant", "create", "a", "--instructions", "x", "--instructions-file", "p.txt"],
        ["assistant", "create", "a", "--provider", "nobody"],
        ["mcp", "show"],
        ["channel", "create"],
    ],
)
def test_usage_errors_exit_2_before_any_request(args: list[str]) -> None:
    result = run(["--url", f"http://127.0.0.1:{closed_port()}", *KEY, *args])
    assert result.exit_code == 2, result.output
    assert result.stdout == ""


def test_api_commands_without_a_key_say_where_to_get_one() -> None:
    line = one_error_line(run(["mcp", "list"]))
    assert "PLATI_API_KEY" in line


def test_unreachable_api_is_one_line_naming_the_url() -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    line = one_error_line(run(["--url", url, *KEY, "assistant", "list", "--json"]))
    assert line == f"cannot reach the Plati API at {url} (is `plati serve` running?)"


def test_url_and_key_come_from_the_environment() -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    line = one_error_line(run(["channel", "list"], env={"PLATI_URL": url, "PLATI_API_KEY": "plati_k"}))
    assert url in line


def test_every_resource_command_offers_json() -> None:
    import typer.main

    root = typer.main.get_command(app)
    for group in ("mcp", "assistant", "channel", "keys"):
        sub = root.commands[group]  # type: ignore[attr-defined]
        for name, command in sub.commands.items():
            assert "--json" in {opt for param in command.params for opt in param.opts}, f"{group} {name}"
    assert "--json" in {opt for param in root.commands["init"].params for opt in param.opts}  # type: ignore[attr-defined]
