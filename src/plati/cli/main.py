"""The ``plati`` command (console script ``plati = "plati.cli.main:app"``).

``plati [--url URL] [--api-key KEY] COMMAND ...``: ``mcp``, ``assistant``, ``channel`` and ``chat``
talk to the HTTP API at ``--url``/``PLATI_URL`` with ``--api-key``/``PLATI_API_KEY``; ``serve``,
``init`` and ``keys`` use the platform settings and the database directly; ``demo`` runs a
throwaway platform of its own.
"""

from __future__ import annotations

import socket
from typing import TYPE_CHECKING, Annotated

import typer

from . import assistant, channel, chat, demo, keys, mcp
from .client import DEFAULT_URL
from .common import CliState, PlatiGroup

if TYPE_CHECKING:
    import uvicorn

app = typer.Typer(
    name="plati",
    cls=PlatiGroup,
    help="Plati: self-hosted assistants that call your function servers.",
    no_args_is_help=True,
    # Tracebacks must never print local variables: they hold API keys and header values.
    pretty_exceptions_show_locals=False,
)


@app.callback()
def root(
    ctx: typer.Context,
    url: Annotated[str, typer.Option("--url", envvar="PLATI_URL", help="The Plati API's base URL.")] = DEFAULT_URL,
    api_key: Annotated[
        str | None, typer.Option("--api-key", envvar="PLATI_API_KEY", help="A workspace API key.", show_default=False)
    ] = None,
) -> None:
    ctx.obj = CliState(url=url, api_key=api_key)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="The address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="The port to listen on.")] = 8000,
    workers: Annotated[
        int,
        typer.Option(
            min=1,
            max=64,
            help="API processes sharing the port (PostgreSQL only; set PLATI_REDIS_URL to share rate limits).",
        ),
    ] = 1,
) -> None:
    """Run the Plati API server and its web console (settings from PLATI_* variables or PLATI_CONFIG)."""
    import uvicorn
    from sqlalchemy.engine import make_url

    from ..app import create_app
    from ..settings import Settings

    settings = Settings.load()
    shown = _client_url(host, port)
    typer.echo(f"Plati console: {shown}/  (sign in with an API key; API docs at /docs)", err=True)
    if workers == 1:
        typer.echo(f"Starting the Plati API at {shown} (database migrations first) ...", err=True)
        config = uvicorn.Config(create_app(settings, freeze_gc=True), host=host, port=port)
        _run_announcing(config)
        return
    if make_url(settings.database_url).get_backend_name() == "sqlite":
        raise typer.BadParameter(
            "several workers need PostgreSQL (SQLite serves one process): set "
            "PLATI_DATABASE_URL=postgresql://... or drop --workers; see docs/deployment.md",
            param_hint="--workers",
        )
    # Each worker process builds its own app from the same settings (the environment).
    typer.echo(f"Starting {workers} Plati API workers at {shown} — docs at {shown}/docs ...", err=True)
    uvicorn.run("plati.app:app_from_environment", factory=True, host=host, port=port, workers=workers)


def _client_url(host: str, port: int) -> str:
    """The URL a client on this machine uses (a wildcard address is reached on loopback)."""
    shown = {"0.0.0.0": "127.0.0.1", "::": "[::1]", "": "127.0.0.1"}.get(host, host)
    if ":" in shown and not shown.startswith("["):
        shown = f"[{shown}]"
    return f"http://{shown}:{port}"


def _run_announcing(config: uvicorn.Config) -> None:
    """uvicorn's server, printing one line once it listens: ``ready at URL — docs at URL/docs``."""
    import uvicorn

    class AnnouncingServer(uvicorn.Server):
        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets=sockets)
            if not self.started:
                return
            port = self.config.port
            for server in getattr(self, "servers", []):
                for sock in server.sockets:
                    port = sock.getsockname()[1]
                    break
            url = _client_url(self.config.host, port)
            typer.echo(f"Plati API ready at {url} — docs at {url}/docs")

    AnnouncingServer(config).run()


app.command("init")(keys.init)
app.add_typer(keys.app, name="keys")
app.add_typer(mcp.app, name="mcp")
app.add_typer(assistant.app, name="assistant")
app.add_typer(channel.app, name="channel")
app.command("chat")(chat.chat)
app.command("demo")(demo.demo)


if __name__ == "__main__":
    app()
