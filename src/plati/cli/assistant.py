"""``plati assistant``: assistants and the function servers attached to them (over the API)."""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import RenderableType
from rich.text import Text

from . import output
from .common import Json, api

app = typer.Typer(help="Assistants of the workspace.", no_args_is_help=True)

AssistantId = Annotated[str, typer.Argument(metavar="ID", help="The assistant's id.")]
McpId = Annotated[str, typer.Argument(metavar="MCP_ID", help="The MCP's id.")]


class Provider(StrEnum):
    OFFLINE = "OFFLINE"
    OPENAI = "OPENAI"
    ANTHROPIC = "ANTHROPIC"


def render_assistant(assistant: dict[str, Any], title: str = "Assistant") -> RenderableType:
    unresolved = assistant.get("unresolved_functions") or []
    rows: list[tuple[str, output.Cell]] = [
        ("id", assistant.get("id")),
        ("name", assistant.get("name")),
        ("provider", assistant.get("provider")),
        ("model", assistant.get("model")),
        ("MCPs", ", ".join(assistant.get("mcp_ids") or []) or None),
    ]
    if assistant.get("languages"):
        rows.append(("languages", ", ".join(assistant["languages"])))
    if unresolved:
        rows.append(("unresolved", Text(", ".join(unresolved), style="bold yellow")))
    for item in assistant.get("ambiguous_functions") or []:
        rows.append(("ambiguous", Text(_ambiguous_line(item), style="bold yellow")))
    rows.append(("created", output.when(assistant.get("created_at"))))
    instructions = assistant.get("instructions") or ""
    extra = [Text(""), Text("instructions", style="bold"), Text(instructions)] if instructions else []
    return output.panel(f"{title}: {assistant.get('name')}", rows, *extra)


def _functions_table(functions: list[dict[str, Any]]) -> RenderableType:
    rows = [(fn.get("name"), fn.get("mcp_name"), fn.get("description") or "") for fn in functions]
    return output.table("Functions", ["Name", "MCP", "Description"], rows, empty="No functions: attach an MCP.")


def _ambiguous_line(item: dict[str, Any]) -> str:
    return f"{item.get('name')} (the model sees {' and '.join(item.get('model_names') or [])})"


def _warn_unresolved(assistant: dict[str, Any]) -> None:
    unresolved = assistant.get("unresolved_functions") or []
    if unresolved:
        output.warn(f"warning: the instructions name function(s) no attached MCP offers: {', '.join(unresolved)}")
    ambiguous = assistant.get("ambiguous_functions") or []
    if ambiguous:
        output.warn(
            "warning: the instructions name function(s) several attached MCPs offer: "
            + "; ".join(_ambiguous_line(item) for item in ambiguous)
            + ". Write one of those names to pick one."
        )


def _read_instructions(path: Path) -> str:
    if str(path) == "-":
        return sys.stdin.read()
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise typer.BadParameter(f"cannot read {path}: {exc.strerror}", param_hint="--instructions-file") from None


@app.command("create")
def create(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The assistant's name.")],
    instructions: Annotated[
        str | None, typer.Option("--instructions", help="The prompt; {{function.name(...)}} names a function.")
    ] = None,
    instructions_file: Annotated[
        Path | None, typer.Option("--instructions-file", help="Read the prompt from a file ('-' for stdin).")
    ] = None,
    provider: Annotated[Provider, typer.Option(case_sensitive=False, help="The model provider.")] = Provider.OFFLINE,
    model: Annotated[str | None, typer.Option(help="The provider's model name.")] = None,
    as_json: Json = False,
) -> None:
    """Create an assistant."""
    if instructions is not None and instructions_file is not None:
        raise typer.BadParameter("use either --instructions or --instructions-file", param_hint="--instructions")
    body: dict[str, Any] = {"name": name, "provider": provider.value}
    if instructions_file is not None:
        body["instructions"] = _read_instructions(instructions_file)
    elif instructions is not None:
        body["instructions"] = instructions
    if model is not None:
        body["model"] = model
    with api(ctx) as client:
        assistant = client.post("/assistant", body)
    if as_json:
        output.print_json(assistant)
        return
    output.show(render_assistant(assistant, "Assistant created"))
    _warn_unresolved(assistant)


@app.command("list")
def list_(ctx: typer.Context, as_json: Json = False) -> None:
    """List the workspace's assistants."""
    with api(ctx) as client:
        assistants = client.get("/assistants")
    if as_json:
        output.print_json(assistants)
        return
    rows = [
        (
            a.get("id"),
            a.get("name"),
            a.get("provider"),
            a.get("model"),
            len(a.get("mcp_ids") or []),
            ", ".join(
                [*(a.get("unresolved_functions") or []), *(f"{x['name']}?" for x in a.get("ambiguous_functions") or [])]
            )
            or None,
        )
        for a in assistants
    ]
    columns = ["ID", "Name", "Provider", "Model", "MCPs", "Unresolved"]
    output.show(output.table(None, columns, rows, empty="No assistants yet; create one with `plati assistant create`."))


@app.command("show")
def show(ctx: typer.Context, assistant_id: AssistantId, as_json: Json = False) -> None:
    """Show an assistant and every function it can call."""
    with api(ctx) as client:
        assistant = client.get(f"/assistant/{assistant_id}")
        if as_json:
            output.print_json(assistant)
            return
        functions = client.get(f"/assistant/{assistant_id}/mcp/tools")
    output.show(render_assistant(assistant), _functions_table(functions))


@app.command("attach")
def attach(ctx: typer.Context, assistant_id: AssistantId, mcp_id: McpId, as_json: Json = False) -> None:
    """Let the assistant call the MCP's functions."""
    with api(ctx) as client:
        assistant = client.put(f"/assistant/{assistant_id}/mcp/{mcp_id}")
    if as_json:
        output.print_json(assistant)
        return
    output.note(f"Attached MCP {mcp_id} to assistant {assistant_id}.")
    _warn_unresolved(assistant)


@app.command("detach")
def detach(ctx: typer.Context, assistant_id: AssistantId, mcp_id: McpId, as_json: Json = False) -> None:
    """Stop the assistant calling the MCP's functions."""
    with api(ctx) as client:
        assistant = client.delete(f"/assistant/{assistant_id}/mcp/{mcp_id}")
    if as_json:
        output.print_json(assistant)
        return
    output.note(f"Detached MCP {mcp_id} from assistant {assistant_id}.")
    _warn_unresolved(assistant)


@app.command("rm")
def remove(ctx: typer.Context, assistant_id: AssistantId, as_json: Json = False) -> None:
    """Delete an assistant (its channels stay, without an assistant)."""
    with api(ctx) as client:
        data = client.delete(f"/assistant/{assistant_id}")
    if as_json:
        output.print_json(data)
        return
    output.note(f"Deleted assistant {assistant_id}.")
