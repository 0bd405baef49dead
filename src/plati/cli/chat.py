"""``plati chat``: talk to an assistant in the terminal.

Each line read from stdin is sent to the chat endpoint as a streaming request
(``POST /conversation/{identity}/chat/{channel_id}`` with ``Accept: text/event-stream``: the same
Server-Sent Events as ``GET .../streaming``, with the text in the body rather than the URL, so long
messages fit and stay out of access logs) and the reply is rendered as the events arrive: function
calls as they start, their results, the reply's tokens inline.
"""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Iterable, Iterator
from typing import Annotated, Any
from urllib.parse import quote

import httpx
import typer
from rich.console import Console
from rich.text import Text

from . import output
from .client import DEFAULT_TIMEOUT, ApiClient, CliError, unwrap
from .common import api, state

CHANNEL_NAME = "plati-chat"
DEFAULT_IDENTITY = "cli-user"
QUIT = frozenset({"/quit", "/exit"})


def chat(
    ctx: typer.Context,
    target: Annotated[
        str,
        typer.Argument(
            metavar="ASSISTANT_OR_CHANNEL",
            help="A channel id, or an assistant id (its active API channel is used, or one named "
            f"{CHANNEL_NAME!r} is created).",
        ),
    ],
    identity: Annotated[
        str, typer.Option("--identity", help="Who you are to the assistant (the conversation is kept per identity).")
    ] = DEFAULT_IDENTITY,
) -> None:
    """Chat with an assistant in the terminal; `/quit` or Ctrl-D leaves."""
    identity = identity.strip()
    if not identity:
        raise typer.BadParameter("must not be empty", param_hint="--identity")
    with api(ctx) as client:
        channel, assistant = resolve(client, target)
    current = state(ctx)
    out = output.console()
    errors = output.console(stderr=True)
    interactive = sys.stdin.isatty()
    if interactive:
        with contextlib.suppress(ImportError):
            import readline  # noqa: F401 - line editing and history for input()
    created = " (created)" if channel.get("_created") else ""
    out.print(
        Text.assemble(
            "Chatting with ",
            (str(assistant.get("name") or assistant.get("id")), "bold"),
            f" ({assistant.get('id')}) on channel ",
            (str(channel["id"]), "cyan"),
            f"{created} as ",
            (identity, "bold"),
            ". Type /quit or press Ctrl-D to leave.",
        )
    )
    with httpx.Client(timeout=DEFAULT_TIMEOUT) as http:
        turn = Turn(http, current.url, current.api_key or "", identity, str(channel["id"]))
        while True:
            try:
                line = input("you> ")
            except (EOFError, KeyboardInterrupt):
                out.print()
                return
            if not interactive:
                out.print(Text(line), soft_wrap=True)  # a transcript reads like a terminal session
            text = line.strip()
            if not text:
                continue
            if text in QUIT:
                return
            try:
                turn.send(text, out)
            except CliError as exc:
                errors.print(Text(exc.message, style="red"), soft_wrap=True)
            except KeyboardInterrupt:
                out.print(Text("\n(reply interrupted)", style="dim"))


def resolve(client: ApiClient, target: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The channel to chat on and its assistant, from a channel id or an assistant id.

    Given an assistant, its first active API channel is used (one named ``plati-chat`` first);
    when it has none, a ``plati-chat`` channel is created (marked ``"_created": True``).

    Raises:
        CliError: no such channel or assistant, or the channel cannot take messages.
    """
    target = target.strip()
    path_id = quote(target, safe="")
    if not target.startswith("asst_"):
        try:
            channel = client.get(f"/channels/{path_id}")
        except CliError as exc:
            if exc.status != 404 or target.startswith("chn_"):
                raise
        else:
            if not channel.get("active"):
                raise CliError(f"channel {channel['id']} is inactive; switch it on first")
            if not channel.get("assistant_id"):
                raise CliError(f"channel {channel['id']} has no assistant; set one on it first")
            assistant = client.get(f"/assistant/{quote(str(channel['assistant_id']), safe='')}")
            return channel, assistant
    try:
        assistant = client.get(f"/assistant/{path_id}")
    except CliError as exc:
        if exc.status == 404:
            raise CliError(f"no channel or assistant {target!r} in this workspace") from None
        raise
    candidates = [
        c
        for c in client.get("/channels")
        if c.get("assistant_id") == assistant["id"] and c.get("active") and c.get("type", "api") == "api"
    ]
    candidates.sort(key=lambda c: c.get("name") != CHANNEL_NAME)  # stable: otherwise oldest first
    if candidates:
        return candidates[0], assistant
    channel = client.post(
        "/channels", {"name": CHANNEL_NAME, "type": "api", "assistant_id": assistant["id"], "active": True}
    )
    return {**channel, "_created": True}, assistant


class Turn:
    """Sends one message over SSE and renders its events."""

    def __init__(self, http: httpx.Client, base_url: str, api_key: str, identity: str, channel_id: str) -> None:
        self.http = http
        self.base_url = base_url.rstrip("/")
        self.url = f"{self.base_url}/conversation/{quote(identity, safe='')}/chat/{quote(channel_id, safe='')}"
        self.headers = {"Authorization": f"Bearer {api_key}", "Accept": "text/event-stream"}

    def send(self, text: str, out: Console) -> None:
        """Send ``text`` and print the reply as it streams.

        Raises:
            CliError: the API refused the message, could not be reached, or the turn failed.
        """
        renderer = Renderer(out)
        try:
            with self.http.stream("POST", self.url, json={"text": text}, headers=self.headers) as response:
                if not response.is_success:
                    response.read()
                    unwrap(response, self.base_url)  # raises for any error status
                    raise CliError(f"error ({response.status_code}): unexpected reply")
                for event in sse_events(response.iter_lines()):
                    renderer.handle(event)
        except httpx.ConnectError:
            renderer.end_line()
            raise CliError(f"cannot reach the Plati API at {self.base_url} (is it running?)") from None
        except httpx.TimeoutException:
            renderer.end_line()
            raise CliError(f"the Plati API at {self.base_url} did not answer in time") from None
        except httpx.HTTPError as exc:
            renderer.end_line()
            raise CliError(f"the reply stream broke: {exc}") from None
        renderer.finish()


def sse_events(lines: Iterable[str]) -> Iterator[dict[str, Any]]:
    """The JSON ``data:`` payloads of a Server-Sent Events stream (other fields are ignored)."""
    data: list[str] = []
    for raw in lines:
        line = raw.rstrip("\r\n")
        if not line:
            if data:
                yield _decode("\n".join(data))
                data = []
            continue
        if line.startswith(":"):
            continue
        field, _, value = line.partition(":")
        if field == "data":
            data.append(value.removeprefix(" "))
    if data:
        yield _decode("\n".join(data))


def _decode(payload: str) -> dict[str, Any]:
    try:
        event = json.loads(payload)
    except ValueError:
        return {"type": "error", "content": f"unreadable event from the server: {payload[:200]}"}
    return event if isinstance(event, dict) else {"type": "error", "content": f"unexpected event: {payload[:200]}"}


class Renderer:
    """Prints a turn's events: calls and results on their own lines, tokens inline."""

    def __init__(self, out: Console) -> None:
        self.out = out
        self.in_text = False  # the cursor is after streamed tokens (not at a line start)
        self.streamed = False  # any token was printed this turn
        self.ended = False  # a complete or error event arrived

    def handle(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        if kind == "token":
            content = str(event.get("content") or "")
            if not content:
                return
            if not self.in_text:
                self.out.print(Text("assistant> ", style="bold magenta"), end="")
                self.in_text = True
            self.out.print(Text(content), end="", soft_wrap=True)
            self.streamed = True
        elif kind == "function_call":
            self.end_line()
            arguments = json.dumps(event.get("arguments") or {}, ensure_ascii=False)
            self.out.print(
                Text.assemble(("  call ", "dim"), (str(event.get("name")), "bold yellow"), " ", (arguments, "yellow")),
                soft_wrap=True,
            )
        elif kind == "function_result":
            self.end_line()
            duration = event.get("duration_ms")
            took = f" ({duration:.0f} ms)" if isinstance(duration, int | float) else ""
            name = (str(event.get("name")), "bold")
            if event.get("success"):
                line = Text.assemble(("  ok   ", "green"), name, (took, "dim"))
            else:
                line = Text.assemble(("  fail ", "red"), name, (took, "dim"), (f": {event.get('error')}", "red"))
            self.out.print(line, soft_wrap=True)
        elif kind == "complete":
            content = str(event.get("content") or "")
            if not self.streamed and content:
                self.end_line()
                self.out.print(Text.assemble(("assistant> ", "bold magenta"), content), soft_wrap=True)
            self.end_line()
            self.ended = True
        elif kind == "error":
            self.end_line()
            self.ended = True
            raise CliError(f"error: {' '.join(str(event.get('content') or 'the turn failed').split())}")

    def end_line(self) -> None:
        if self.in_text:
            self.out.print()
            self.in_text = False

    def finish(self) -> None:
        self.end_line()
        if not self.ended:
            raise CliError("error: the reply stream ended before the reply was complete")
