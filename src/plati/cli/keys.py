"""``plati init`` and ``plati keys``: operator commands that work on the database directly.

They read the platform settings (``PLATI_DATA_DIR``, ``PLATI_DATABASE_URL``, ...) like
``plati serve`` does, not ``--url``/``--api-key``: they are how the first key comes to exist.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Annotated

import typer
from rich.text import Text

from . import output
from .common import Json

if TYPE_CHECKING:
    from ..settings import Settings

app = typer.Typer(
    help="Workspace API keys (works on the database; run where `plati serve` runs).", no_args_is_help=True
)

WorkspaceOpt = Annotated[
    str | None, typer.Option("--workspace", help="The workspace id (needed when there are several).")
]


def _settings() -> Settings:
    # Imported here, like the admin functions, so the API commands do not load the database stack.
    from ..settings import Settings

    return Settings.load()


def _show_new_key(title: str, fields: list[tuple[str, output.Cell]], api_key: str) -> None:
    key_line = Text(api_key, style="bold green")
    output.show(output.panel(title, [*fields, ("API key", key_line)]))
    output.warn("Store this key now: it is not saved anywhere and will not be shown again.")
    output.note(f"Use it with: export PLATI_API_KEY={api_key}")


def init(
    name: Annotated[str, typer.Option("--name", help="The workspace's name.")] = "default",
    another: Annotated[
        bool, typer.Option("--another", help="Create a workspace even though the database already has one.")
    ] = False,
    as_json: Json = False,
) -> None:
    """Create the database (if needed), a workspace and its first read-write API key.

    Refuses (exit 1) when a workspace exists, unless --another is given."""
    from ..admin import create_workspace

    workspace_id, api_key = asyncio.run(create_workspace(_settings(), name, another=another))
    if as_json:
        output.print_json({"workspace_id": workspace_id, "api_key": api_key})
        return
    _show_new_key("Workspace created", [("workspace", workspace_id), ("name", name)], api_key)


@app.command("create")
def create(
    workspace: WorkspaceOpt = None,
    name: Annotated[str, typer.Option("--name", help="A name to recognise the key by.")] = "cli",
    read_only: Annotated[bool, typer.Option("--read-only", help="The key may only read (403 on writes).")] = False,
    as_json: Json = False,
) -> None:
    """Create an API key; it is shown once."""
    from ..admin import create_api_key

    access = "read-only" if read_only else "read-write"
    key_id, api_key = asyncio.run(create_api_key(_settings(), workspace, name, access))
    if as_json:
        output.print_json({"id": key_id, "name": name, "access": access, "api_key": api_key})
        return
    _show_new_key("API key created", [("id", key_id), ("name", name), ("access", access)], api_key)


@app.command("list")
def list_(workspace: WorkspaceOpt = None, as_json: Json = False) -> None:
    """List API keys by id and display prefix (the keys themselves are never stored)."""
    from ..admin import list_api_keys

    keys = asyncio.run(list_api_keys(_settings(), workspace))
    if as_json:
        output.print_json(keys)
        return
    rows = [
        (
            k["id"],
            k["name"],
            k["access"],
            k["prefix"] + "…",
            output.when(k["created_at"]),
            output.when(k["last_used_at"]),
            Text(output.when(k["revoked_at"]) or "", style="red") if k["revoked_at"] else None,
        )
        for k in keys
    ]
    columns = ["ID", "Name", "Access", "Prefix", "Created", "Last used", "Revoked"]
    output.show(output.table(None, columns, rows, empty="No API keys."))


@app.command("revoke")
def revoke(
    key_id: Annotated[str, typer.Argument(metavar="KEY_ID", help="The key's id (see `plati keys list`).")],
    as_json: Json = False,
) -> None:
    """Revoke an API key: every later request with it gets 401."""
    from ..admin import revoke_api_key

    asyncio.run(revoke_api_key(_settings(), key_id))
    if as_json:
        output.print_json({"id": key_id, "revoked": True})
        return
    output.note(f"Revoked API key {key_id}.")
