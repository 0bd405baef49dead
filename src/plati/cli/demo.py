"""``plati demo``: the whole platform on one machine, with nothing configured.

It makes a data dir (a new one under the system temp dir, or ``--data-dir``), serves the platform
(SQLite, the OFFLINE engine) and the guide's e-commerce function server on loopback, creates a
workspace and an API key, and then acts as a client of the HTTP API would: registers the shop,
creates an assistant with the guide's customer-service prompt, attaches the shop, opens a channel
and plays the guide's conversation, printing every message, function call and reply. Afterwards it
keeps serving (Ctrl-C stops it) and prints what to paste to go on — or, with ``--once``, exits.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import secrets
import shlex
import shutil
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

import typer
from rich.console import Console
from rich.panel import Panel
from rich.rule import Rule
from rich.table import Table
from rich.text import Text

from . import output
from .client import ApiClient, CliError

# The guide's customer-service prompt, verbatim ("Using MCP Functions in Prompts").
GUIDE_PROMPT = """You are a customer service specialist with access to our order management system.

Available functions:
- {{function.check_order_status(order_id)}} - Get order status and tracking
- {{function.process_return(order_id, reason)}} - Initiate returns
- {{function.apply_discount(customer_id, code)}} - Apply discount codes
- {{function.get_customer_profile(customer_id)}} - Get customer details

When customer asks about their order:
1. Ask for order number if not provided
2. Call {{function.check_order_status(order_id)}}
3. Provide helpful summary of the results

For return requests:
1. Get order details first
2. Confirm return eligibility
3. Call {{function.process_return(order_id, reason)}}
4. Explain next steps to customer

Always validate order numbers and handle errors gracefully."""

IDENTITY = "test_user"
MCP_NAME = "Order Management System"
ASSISTANT_NAME = "Customer Service"
CHANNEL_NAME = "demo"
_THREAD_PREFIX = "plati-demo:"


@dataclass(frozen=True)
class Step:
    """One user message of the scenario and the function calls it must lead to (in order)."""

    text: str
    expected_calls: tuple[str, ...]


# The guide's scenario: an order check, a question without an order number (the assistant asks
# for it), the number on its own, and a return.
SCENARIO = (
    Step("Check my order ORD-001", ("check_order_status",)),
    Step("where is my order?", ()),
    Step("ORD-002", ("check_order_status",)),
    Step("I want to return order ORD-003 because the shoes are too small", ("process_return",)),
)


@dataclass(frozen=True)
class DemoSetup:
    """What the demo created, to print and to test against."""

    url: str
    shop_url: str
    data_dir: Path
    workspace_id: str
    api_key: str
    mcp_id: str
    assistant_id: str
    channel_id: str


def demo(
    once: Annotated[
        bool, typer.Option("--once", help="Play the scenario, then stop (exit code 1 if a step fails).")
    ] = False,
    host: Annotated[str, typer.Option(help="The address the platform listens on.")] = "127.0.0.1",
    port: Annotated[
        int | None,
        typer.Option(min=1, max=65535, help="The platform's port (default: a free one).", show_default=False),
    ] = None,
    data_dir: Annotated[
        Path | None,
        typer.Option(
            "--data-dir",
            file_okay=False,
            help="Keep the demo's databases here (default: a new temporary dir, removed at the end).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Run the guide's scenario on a local platform: shop server, assistant, channel, conversation.

    Needs nothing configured: SQLite and the built-in OFFLINE model engine, everything on
    loopback. Without --once the platform keeps serving until Ctrl-C, so you can go on with curl or
    `plati chat`.
    """
    out = output.console()
    with ExitStack() as stack:
        if data_dir is None:
            made = Path(tempfile.mkdtemp(prefix="plati-demo-"))
            stack.callback(shutil.rmtree, made, ignore_errors=True)
            directory, temporary = made, True
        else:
            directory, temporary = data_dir.expanduser().resolve(), False
        try:
            setup = stack.enter_context(_running_demo(out, directory, temporary, host, port))
            play(out, setup)
            if once:
                calls = sum(len(step.expected_calls) for step in SCENARIO)
                out.print(
                    Text(f"\nDemo finished: {len(SCENARIO)} messages, {calls} function calls.", style="bold green")
                )
                return
            show_next_steps(out, setup, temporary)
            _serve_forever()
        except KeyboardInterrupt:
            out.print(Text("\nStopping the demo ...", style="dim"))
        except CliError as exc:
            raise CliError(f"demo failed: {exc.message}") from None


@contextmanager
def _running_demo(out: Console, data_dir: Path, temporary: bool, host: str, port: int | None) -> Iterator[DemoSetup]:
    """Serve the platform and the shop, create the workspace and the resources; yield them."""
    from ..admin import create_workspace
    from ..app import create_app
    from ..settings import Settings

    shop_db_module, shop_server_module = _shop_modules()
    data_dir.mkdir(parents=True, exist_ok=True)
    # Only the demo's own settings: nothing from the shell's PLATI_* or provider variables.
    settings = Settings.load(env={"PLATI_DATA_DIR": str(data_dir)})
    shop_db = data_dir / "shop.db"
    for stale in (shop_db, shop_db.with_name("shop.db-wal"), shop_db.with_name("shop.db-shm")):
        stale.unlink(missing_ok=True)  # a fresh shop each run: returns from an earlier run would refuse
    shop_db_module.create_database(shop_db)
    shop_token = "demo-" + secrets.token_urlsafe(16)
    shop = shop_server_module.create_server(shop_db, auth_tokens=[shop_token])

    out.print(Rule(Text("Plati demo", style="bold")))
    with (
        _serve(create_app(settings), host, port, "the platform") as platform_port,
        _serve(shop.app, "127.0.0.1", None, "the shop server") as shop_port,
    ):
        url = f"http://{_client_host(host)}:{platform_port}"
        shop_url = f"http://127.0.0.1:{shop_port}"
        fields = Table.grid(padding=(0, 2))
        fields.add_column(style="bold")
        fields.add_column()
        fields.add_row("data dir", Text(f"{data_dir}" + ("  (temporary)" if temporary else "")))
        fields.add_row("platform", Text(f"{url}  (SQLite, OFFLINE engine)"))
        fields.add_row("shop server", Text(f"{shop_url}  (examples/ecommerce: /tools, /call, /mcp)"))
        out.print(fields)
        out.print()

        workspace_id, api_key = asyncio.run(create_workspace(settings, "demo"))
        _done(out, "workspace", workspace_id, "and a read-write API key")
        with ApiClient(url, api_key) as client:
            # The guide's registration body, header and all: the shop wants a bearer token.
            mcp = client.post(
                "/workspace/mcps",
                {
                    "name": MCP_NAME,
                    "transport": "http",
                    "url": shop_url,
                    "headers": [{"key": "Authorization", "value": f"Bearer {shop_token}"}],
                },
            )
            tools = client.get(f"/workspace/mcps/{mcp['id']}/tools")
            names = ", ".join(str(tool.get("name")) for tool in tools)
            _done(out, "MCP", mcp["id"], f"{MCP_NAME!r} ({mcp.get('protocol')} protocol): {names}")
            assistant = client.post(
                "/assistant", {"name": ASSISTANT_NAME, "instructions": GUIDE_PROMPT, "provider": "OFFLINE"}
            )
            _done(out, "assistant", assistant["id"], f"{ASSISTANT_NAME!r} with the guide's customer-service prompt")
            client.put(f"/assistant/{assistant['id']}/mcp/{mcp['id']}")
            attached = client.get(f"/assistant/{assistant['id']}")
            unresolved = attached.get("unresolved_functions") or []
            detail = f"; not offered by the shop: {', '.join(unresolved)}" if unresolved else ""
            _done(out, "attached", mcp["id"], f"to {assistant['id']}{detail}")
            channel = client.post(
                "/channels", {"name": CHANNEL_NAME, "type": "api", "assistant_id": assistant["id"], "active": True}
            )
            _done(out, "channel", channel["id"], f"{CHANNEL_NAME!r} (api)")
        yield DemoSetup(
            url=url,
            shop_url=shop_url,
            data_dir=data_dir,
            workspace_id=workspace_id,
            api_key=api_key,
            mcp_id=mcp["id"],
            assistant_id=assistant["id"],
            channel_id=channel["id"],
        )


def play(out: Console, setup: DemoSetup) -> None:
    """Send the scenario's messages through the chat API and print each turn.

    Raises:
        CliError: a request failed, or a turn did not call the functions the scenario expects.
    """
    out.print()
    out.print(Rule(Text(f"Conversation  ({IDENTITY} on channel {setup.channel_id})", style="bold")))
    with ApiClient(setup.url, setup.api_key) as client:
        for number, step in enumerate(SCENARIO, 1):
            out.print()
            out.print(Text.assemble((f"{IDENTITY}> ", "bold cyan"), step.text))
            data = client.post(f"/conversation/{IDENTITY}/chat/{setup.channel_id}", {"text": step.text})
            calls = data.get("function_calls") or []
            for call in calls:
                out.print(function_call_line(call))
            out.print(Text.assemble(("assistant> ", "bold magenta"), str(data.get("reply", ""))))
            names = tuple(str(call.get("name")) for call in calls)
            if names != step.expected_calls:
                expected = ", ".join(step.expected_calls) or "no function call"
                raise CliError(
                    f"step {number} ({step.text!r}): expected {expected}, got {', '.join(names) or 'no function call'}"
                )
            failed = [call for call in calls if not call.get("success")]
            if failed:
                raise CliError(
                    f"step {number} ({step.text!r}): {failed[0].get('name')} failed: {failed[0].get('error')}"
                )


def function_call_line(call: dict[str, Any]) -> Text:
    """``  ⚙ name {"arg": ...}  ✓ ok 12 ms`` (or ``✗ failed ...: error``) for one function call."""
    arguments = json.dumps(call.get("arguments") or {}, ensure_ascii=False)
    line = Text.assemble("  ", ("fn ", "dim"), (str(call.get("name")), "bold yellow"), " ", (arguments, "yellow"), "  ")
    duration = call.get("duration_ms")
    took = f" {duration:.0f} ms" if isinstance(duration, int | float) else ""
    if call.get("success"):
        line.append(f"ok{took}", style="green")
    else:
        line.append(f"failed{took}: {call.get('error')}", style="red")
    return line


def console_url(setup: DemoSetup) -> str:
    """The web console, already signed in: the key travels in the URL's fragment, which the
    browser never sends to a server; the console moves it to the tab's session storage."""
    return f"{setup.url}/#key={quote(setup.api_key, safe='')}"


def show_next_steps(out: Console, setup: DemoSetup, temporary: bool) -> None:
    """The platform's address, the key, the channel, and commands to paste."""
    chat_url = f"{setup.url}/conversation/{IDENTITY}/chat/{setup.channel_id}"
    curl = (
        f"curl -X POST {chat_url} \\\n"
        f'  -H "Authorization: Bearer {setup.api_key}" \\\n'
        '  -H "Content-Type: application/json" \\\n'
        """  -d '{"text": "Check my order ORD-001"}'"""
    )
    stream = (
        f"curl -N -G {setup.url}/conversation/{IDENTITY}/streaming \\\n"
        f'  -H "Authorization: Bearer {setup.api_key}" \\\n'
        f"  --data-urlencode channel_id={setup.channel_id} \\\n"
        """  --data-urlencode 'text=I want to return order ORD-001 because it arrived damaged'"""
    )
    plati, activate = plati_command()
    chat = f"{plati} --url {setup.url} --api-key {setup.api_key} chat {setup.channel_id}"
    fields = Table.grid(padding=(0, 2))
    fields.add_column(style="bold")
    fields.add_column()
    for label, value in (
        ("console", f"{console_url(setup)}  (signed in; the key stays in that browser tab)"),
        ("platform", f"{setup.url}  (API docs: {setup.url}/docs)"),
        ("API key", setup.api_key),
        ("workspace", setup.workspace_id),
        ("assistant", setup.assistant_id),
        ("channel", setup.channel_id),
        ("shop MCP", f"{setup.mcp_id}  ({setup.shop_url})"),
        ("data dir", f"{setup.data_dir}" + ("  (removed when the demo stops)" if temporary else "")),
    ):
        fields.add_row(label, Text(value))
    out.print()
    out.print(Panel(fields, title="The demo platform is running", title_align="left", expand=False))
    out.print(Text("\nChat like the guide's test (JSON reply):", style="bold"))
    out.print(Text(curl), soft_wrap=True)
    out.print(Text("\nThe same as Server-Sent Events:", style="bold"))
    out.print(Text(stream), soft_wrap=True)
    out.print(Text("\nOr chat in the terminal:", style="bold"))
    out.print(Text(chat), soft_wrap=True)
    if activate:
        out.print(Text(f"(to type `plati` alone in a new shell: source {activate})", style="dim"), soft_wrap=True)
    out.print(Text("\nPress Ctrl-C to stop.", style="dim"))


def plati_command() -> tuple[str, str | None]:
    """How to run ``plati`` from a fresh shell: ``("plati", None)`` when the PATH finds this very
    installation, else the console script's full path (or ``python -m``) and the environment's
    ``activate`` script that would put ``plati`` on the PATH."""
    bin_dir = Path(sys.executable).parent
    script = bin_dir / ("plati.exe" if sys.platform == "win32" else "plati")
    found = shutil.which("plati")
    if found is not None and script.exists() and Path(found).resolve() == script.resolve():
        return "plati", None
    activate = bin_dir / "activate"
    hint = str(activate) if activate.exists() else None
    if script.exists():
        return shlex.quote(str(script)), hint
    return f"{shlex.quote(sys.executable)} -m plati.cli.main", hint


def _done(out: Console, what: str, ident: str, detail: str) -> None:
    out.print(Text.assemble(("  ok ", "green"), (f"{what:<10}", "bold"), (ident, "cyan"), "  ", detail))


def _serve_forever() -> None:
    """Block until Ctrl-C (or until a server thread dies, which is an error)."""
    while True:
        time.sleep(0.5)
        running = [thread for thread in threading.enumerate() if thread.name.startswith(_THREAD_PREFIX)]
        if len(running) < 2:
            raise CliError("a server of the demo stopped unexpectedly (see the log above)")


def _client_host(host: str) -> str:
    """The host a client uses to reach a server listening on ``host``."""
    if host in ("0.0.0.0", ""):
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    return f"[{host}]" if ":" in host else host


@contextmanager
def _serve(app: Any, host: str, port: int | None, what: str) -> Iterator[int]:
    """Serve ``app`` with uvicorn on ``host:port`` (a free port when ``None``) in a thread;
    yield the port once it accepts connections, stop the server on exit."""
    import uvicorn

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port or 0))
        sock.listen(128)
    except OSError as exc:
        sock.close()
        reason = exc.strerror or str(exc)
        raise CliError(f"cannot listen on {host}:{port or 0} for {what}: {reason}") from None
    bound: int = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", lifespan="on", timeout_graceful_shutdown=5)
    server = uvicorn.Server(config)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name=f"{_THREAD_PREFIX}{bound}", daemon=True
    )
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not server.started:
            if not thread.is_alive():
                raise CliError(f"{what} did not start (see the log above)")
            if time.monotonic() > deadline:
                raise CliError(f"{what} did not start within 30 seconds")
            time.sleep(0.01)
        yield bound
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def _shop_modules() -> tuple[Any, Any]:
    """``examples.ecommerce.db`` and ``examples.ecommerce.server`` from the source checkout.

    The examples are not part of the installed package; with an editable install (``dev.py``)
    they sit next to ``src/``, which is put on ``sys.path`` when the console script runs from
    elsewhere.
    """
    root = Path(__file__).resolve().parents[3]
    if (root / "examples" / "ecommerce" / "server.py").is_file() and str(root) not in sys.path:
        sys.path.insert(0, str(root))
    try:
        return (
            importlib.import_module("examples.ecommerce.db"),
            importlib.import_module("examples.ecommerce.server"),
        )
    except ModuleNotFoundError as exc:
        raise CliError(
            "plati demo needs the e-commerce example (examples/ecommerce) of a Plati source checkout; "
            f"run it from one with `python3 dev.py demo` ({exc})"
        ) from None
