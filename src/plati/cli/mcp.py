"""``plati mcp``: register, inspect, refresh, try and remove function servers (over the API)."""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Annotated, Any

import typer
from rich.console import RenderableType
from rich.text import Text

from . import output
from .client import ApiClient, CliError
from .common import Json, api, parse_pairs

app = typer.Typer(help="Function servers (MCPs) of the workspace.", no_args_is_help=True)


class Transport(StrEnum):
    http = "http"
    rest = "rest"
    streamable_http = "streamable-http"
    sse = "sse"
    stdio = "stdio"


def _path(mcp_id: str, suffix: str = "") -> str:
    return f"/workspace/mcps/{mcp_id}{suffix}"


def _target(mcp: dict[str, Any]) -> str | None:
    if mcp.get("command"):
        return " ".join([mcp["command"], *mcp.get("args", [])])
    url: str | None = mcp.get("url")
    return url


def _protocol(mcp: dict[str, Any]) -> str:
    transport = str(mcp.get("transport"))
    protocol = mcp.get("protocol")
    if transport == "http" and protocol:
        return f"http ({protocol})"
    return transport


def _status(mcp: dict[str, Any]) -> Text:
    status = str(mcp.get("status"))
    style = {"ok": "green", "error": "red"}.get(status, "yellow")
    return Text(status, style=style)


def render_mcp(mcp: dict[str, Any], title: str = "MCP") -> RenderableType:
    headers = mcp.get("headers") or []
    env = mcp.get("env") or {}
    fields: list[tuple[str, output.Cell]] = [
        ("id", mcp.get("id")),
        ("name", mcp.get("name")),
        ("transport", _protocol(mcp)),
        ("target", _target(mcp)),
        *([("endpoint", mcp["endpoint"])] if mcp.get("endpoint") and mcp.get("endpoint") != mcp.get("url") else []),
        ("status", _status(mcp)),
    ]
    if mcp.get("last_error"):
        fields.append(("last error", Text(str(mcp["last_error"]), style="red")))
    fields += [
        ("tools", mcp.get("tools_count")),
        ("tools refreshed", output.when(mcp.get("tools_refreshed_at"))),
        ("enabled", mcp.get("enabled")),
        ("timeout", f"{mcp.get('timeout_seconds')} s"),
        ("max response", f"{mcp.get('max_response_bytes')} bytes"),
    ]
    if headers:
        fields.append(("headers", "\n".join(f"{item['key']}: {item['value']}" for item in headers)))
    if env:
        fields.append(("env", "\n".join(f"{name}={value}" for name, value in env.items())))
    fields.append(("created", output.when(mcp.get("created_at"))))
    return output.panel(f"{title}: {mcp.get('name')}", fields)


def _arguments(schema: Any) -> str:
    if not isinstance(schema, dict):
        return ""
    properties = schema.get("properties") or {}
    required = set(schema.get("required") or [])
    parts = []
    for name, prop in properties.items():
        kind = _types(prop)
        shown = f"{name}{'*' if name in required else ''}"
        parts.append(f"{shown}: {'|'.join(kind)}" if kind else shown)
    return ", ".join(parts)


def _types(schema: Any) -> list[str]:
    """The JSON types a property accepts (through ``anyOf``/``oneOf`` too), in order."""
    if not isinstance(schema, dict):
        return []
    found: list[str] = []
    kind = schema.get("type")
    if isinstance(kind, str):
        found.append(kind)
    elif isinstance(kind, list):
        found.extend(str(item) for item in kind)
    for key in ("anyOf", "oneOf"):
        for option in schema.get(key) or []:
            found.extend(item for item in _types(option) if item not in found)
    return found


def render_tools(tools: list[dict[str, Any]], title: str | None = None) -> RenderableType:
    rows = [(tool.get("name"), tool.get("description") or "", _arguments(tool.get("input_schema"))) for tool in tools]
    return output.table(title, ["Name", "Description", "Arguments (* required)"], rows, empty="No tools.")


@app.command("add")
def add(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="A name, unique in the workspace.")],
    url: Annotated[str | None, typer.Option("--url", help="The function server's URL.")] = None,
    transport: Annotated[
        Transport | None,
        typer.Option(help="http auto-detects MCP or the simple protocol. Default: http, or stdio with --command."),
    ] = None,
    header: Annotated[
        list[str] | None, typer.Option("--header", "-H", help="'Key: Value' sent on every request (repeatable).")
    ] = None,
    command: Annotated[str | None, typer.Option("--command", help="stdio: the command to run.")] = None,
    arg: Annotated[list[str] | None, typer.Option("--arg", help="stdio: one argument (repeatable).")] = None,
    env: Annotated[list[str] | None, typer.Option("--env", help="stdio: KEY=VALUE (repeatable).")] = None,
    timeout: Annotated[float | None, typer.Option("--timeout", min=0.001, help="Seconds per call.")] = None,
    validate: Annotated[
        bool, typer.Option("--validate/--no-validate", help="Discover the tools now (default) or register only.")
    ] = True,
    as_json: Json = False,
) -> None:
    """Register a function server and discover its tools."""
    if url is None and command is None:
        raise typer.BadParameter("pass --url (or --command for a stdio server)", param_hint="--url")
    chosen = transport.value if transport else ("stdio" if command and not url else "http")
    body: dict[str, Any] = {
        "name": name,
        "transport": chosen,
        "headers": [{"key": k, "value": v} for k, v in parse_pairs(header or [], ":", "a header", "--header")],
        "validate": validate,
    }
    if url is not None:
        body["url"] = url
    if command is not None:
        body["command"] = command
    if arg:
        body["args"] = list(arg)
    if env:
        body["env"] = dict(parse_pairs(env, "=", "an environment variable", "--env"))
    if timeout is not None:
        body["timeout_seconds"] = timeout
    with api(ctx) as client:
        mcp = client.post("/workspace/mcps", body)
    if as_json:
        output.print_json(mcp)
        return
    output.show(render_mcp(mcp, "MCP registered"))
    if mcp.get("transport") == "http" and mcp.get("protocol"):
        output.note(f"Detected {mcp['protocol']} at {mcp.get('endpoint') or mcp.get('url')}.")
    if validate:
        output.note(f"{mcp.get('tools_count')} tool(s) discovered; list them with `plati mcp tools {mcp.get('id')}`.")


@app.command("list")
def list_(ctx: typer.Context, as_json: Json = False) -> None:
    """List the workspace's function servers."""
    with api(ctx) as client:
        mcps = client.get("/workspace/mcps")
    if as_json:
        output.print_json(mcps)
        return
    rows = [
        (
            m.get("id"),
            m.get("name"),
            m.get("protocol") or m.get("transport"),
            _target(m),
            _status(m) if m.get("enabled", True) else Text("disabled", style="dim"),
            m.get("tools_count"),
        )
        for m in mcps
    ]
    columns = ["ID", "Name", "Protocol", "Target", "Status", "Tools"]
    output.show(output.table(None, columns, rows, empty="No MCPs yet; register one with `plati mcp add`."))


@app.command("show")
def show(ctx: typer.Context, mcp_id: Annotated[str, typer.Argument(metavar="ID")], as_json: Json = False) -> None:
    """Show one function server (header values masked)."""
    with api(ctx) as client:
        mcp = client.get(_path(mcp_id))
    if as_json:
        output.print_json(mcp)
        return
    output.show(render_mcp(mcp))


@app.command("tools")
def tools(ctx: typer.Context, mcp_id: Annotated[str, typer.Argument(metavar="ID")], as_json: Json = False) -> None:
    """List the function server's tools (cached; refreshed first when expired)."""
    with api(ctx) as client:
        found = client.get(_path(mcp_id, "/tools"))
    if as_json:
        output.print_json(found)
        return
    output.show(render_tools(found))


@app.command("refresh")
def refresh(ctx: typer.Context, mcp_id: Annotated[str, typer.Argument(metavar="ID")], as_json: Json = False) -> None:
    """Discover the function server's tools again now."""
    with api(ctx) as client:
        mcp = client.post(_path(mcp_id, "/refresh"))
    if as_json:
        output.print_json(mcp)
        return
    output.show(render_mcp(mcp, "Tools refreshed"), render_tools(mcp.get("tools") or []))


def _coerce(raw: str, schema: Any) -> Any:
    """A ``--arg`` value: text for string properties, else JSON (``3``, ``true``, ``[1]``), else text."""
    kinds = _types(schema)
    if "string" in kinds:
        return raw
    try:
        return json.loads(raw)
    except ValueError:
        return raw


def _schema_of(client: ApiClient, mcp_id: str, function: str) -> dict[str, Any]:
    try:
        found = client.get(_path(mcp_id, "/tools"))
    except CliError as exc:
        if exc.status == 404:
            raise
        return {}  # the call itself will report what is wrong
    for tool in found:
        if tool.get("name") == function and isinstance(tool.get("input_schema"), dict):
            properties = tool["input_schema"].get("properties")
            return properties if isinstance(properties, dict) else {}
    return {}


@app.command("call")
def call(
    ctx: typer.Context,
    mcp_id: Annotated[str, typer.Argument(metavar="ID")],
    function: Annotated[str, typer.Argument(help="The function's name.")],
    args_json: Annotated[
        str | None, typer.Option("--args", help='All arguments as one JSON object, e.g. \'{"order_id": "ORD-001"}\'.')
    ] = None,
    arg: Annotated[
        list[str] | None,
        typer.Option("--arg", help="key=value (repeatable); the value is JSON unless the schema wants a string."),
    ] = None,
    as_json: Json = False,
) -> None:
    """Try one function. Exits 1 when the function reports a failure."""
    if args_json is not None and arg:
        raise typer.BadParameter("use either --args or --arg, not both", param_hint="--args")
    pairs = parse_pairs(arg or [], "=", "an argument", "--arg")
    arguments: dict[str, Any] = {}
    if args_json is not None:
        try:
            arguments = json.loads(args_json)
        except ValueError as exc:
            raise typer.BadParameter(f"not valid JSON ({exc})", param_hint="--args") from None
        if not isinstance(arguments, dict):
            raise typer.BadParameter("must be a JSON object", param_hint="--args")
    with api(ctx) as client:
        if pairs:
            properties = _schema_of(client, mcp_id, function)
            arguments = {key: _coerce(value, properties.get(key)) for key, value in pairs}
        result = client.post(_path(mcp_id, "/call"), {"name": function, "arguments": arguments})
    succeeded = bool(result.get("success"))
    if as_json:
        output.print_json(result)
    else:
        duration = f"{result.get('duration_ms')} ms"
        if succeeded:
            title = f"{function}: ok ({duration})"
            body: RenderableType = output.pretty(result.get("data"))
        else:
            title = f"{function}: failed ({duration})"
            body = Text(str(result.get("error")), style="red")
        extra = [Text(f"task: {result['task_id']}", style="dim")] if result.get("task_id") else []
        output.show(output.panel(title, [], body, *extra))
    if not succeeded:
        raise typer.Exit(1)


@app.command("rm")
def remove(ctx: typer.Context, mcp_id: Annotated[str, typer.Argument(metavar="ID")], as_json: Json = False) -> None:
    """Remove a function server (and detach it from every assistant)."""
    with api(ctx) as client:
        data = client.delete(_path(mcp_id))
    if as_json:
        output.print_json(data)
        return
    output.note(f"Removed MCP {mcp_id}.")
