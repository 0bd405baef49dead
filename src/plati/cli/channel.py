"""``plati channel``: where conversations come in (over the API)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from . import output
from .common import Json, api

app = typer.Typer(help="Channels of the workspace.", no_args_is_help=True)


def _rows(channels: list[dict[str, Any]]) -> list[tuple[output.Cell, ...]]:
    return [
        (
            c.get("id"),
            c.get("name"),
            c.get("assistant_id"),
            c.get("active"),
        )
        for c in channels
    ]


# Two ids side by side still fit 80 columns; type and times are in `--json` and `channel list --json`.
_COLUMNS = ["ID", "Name", "Assistant ID", "Active"]


@app.command("create")
def create(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The channel's name.")],
    assistant: Annotated[str | None, typer.Option("--assistant", help="The id of the assistant that answers.")] = None,
    inactive: Annotated[bool, typer.Option("--inactive", help="Create it switched off.")] = False,
    as_json: Json = False,
) -> None:
    """Create an API channel."""
    body: dict[str, Any] = {"name": name, "type": "api", "active": not inactive}
    if assistant is not None:
        body["assistant_id"] = assistant
    with api(ctx) as client:
        channel = client.post("/channels", body)
    if as_json:
        output.print_json(channel)
        return
    output.show(output.table("Channel created", _COLUMNS, _rows([channel]), empty=""))


@app.command("list")
def list_(ctx: typer.Context, as_json: Json = False) -> None:
    """List the workspace's channels."""
    with api(ctx) as client:
        channels = client.get("/channels")
    if as_json:
        output.print_json(channels)
        return
    output.show(
        output.table(None, _COLUMNS, _rows(channels), empty="No channels yet; create one with `plati channel create`.")
    )


@app.command("rm")
def remove(
    ctx: typer.Context,
    channel_id: Annotated[str, typer.Argument(metavar="ID", help="The channel's id.")],
    as_json: Json = False,
) -> None:
    """Delete a channel."""
    with api(ctx) as client:
        data = client.delete(f"/channels/{channel_id}")
    if as_json:
        output.print_json(data)
        return
    output.note(f"Deleted channel {channel_id}.")
