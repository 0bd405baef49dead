"""``plati chat``: the terminal chat, driven through stdin against the real platform over SSE."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from plati.cli import output
from plati.cli.chat import Renderer, sse_events
from plati.cli.demo import GUIDE_PROMPT
from tests.plati.cli.support import CliPlatform, closed_port, run


@dataclass
class Shop:
    http: httpx.Client
    assistant_id: str
    channel_id: str


@pytest.fixture
def shop_setup(platform: CliPlatform, shop: str) -> Iterator[Shop]:
    """The guide's setup: the shop registered, an assistant with the guide's prompt, a channel."""
    headers = {"Authorization": f"Bearer {platform.api_key}"}
    with httpx.Client(base_url=platform.url, headers=headers, timeout=30) as http:
        mcp = http.post("/workspace/mcps", json={"name": "Order Management System", "url": shop}).json()["data"]
        assistant = http.post("/assistant", json={"name": "Support", "instructions": GUIDE_PROMPT}).json()["data"]
        http.put(f"/assistant/{assistant['id']}/mcp/{mcp['id']}").raise_for_status()
        channel = http.post("/channels", json={"name": "web", "assistant_id": assistant["id"]}).json()["data"]
        yield Shop(http, assistant["id"], channel["id"])


def chat(platform: CliPlatform, *args: str, stdin: str) -> tuple[int, str, str]:
    result = run(["--url", platform.url, "--api-key", platform.api_key, "chat", *args], env=platform.env, stdin=stdin)
    return result.exit_code, result.stdout, result.stderr


def test_chat_on_a_channel_shows_the_call_its_result_and_the_reply(platform: CliPlatform, shop_setup: Shop) -> None:
    code, out, err = chat(platform, shop_setup.channel_id, stdin="Check my order ORD-001\n/quit\n")
    assert code == 0, (out, err)
    assert err == ""
    lines = out.splitlines()
    assert lines[0].startswith(f"Chatting with Support ({shop_setup.assistant_id}) on channel {shop_setup.channel_id}")
    start = lines.index("you> Check my order ORD-001")
    call, result, reply = lines[start + 1 : start + 4]
    assert call == '  call check_order_status {"order_id": "ORD-001"}'
    assert re.fullmatch(r"  ok   check_order_status \(\d+ ms\)", result)
    assert reply.startswith("assistant> ")
    assert "shipped" in reply
    assert "1Z999AA1234567890" in reply
    assert lines[start + 4 :] == ["you> /quit"]
    # The turn is stored under the CLI's identity.
    conversations = shop_setup.http.get("/conversations", params={"identity_id": "cli-user"}).json()["data"]
    assert [c["channel_id"] for c in conversations["conversations"]] == [shop_setup.channel_id]


def test_the_conversation_goes_on_across_lines_and_ends_at_eof(platform: CliPlatform, shop_setup: Shop) -> None:
    code, out, err = chat(
        platform,
        shop_setup.channel_id,
        "--identity",
        "alice",
        stdin="where is my order?\nORD-002\n\nCheck my order ORD-999\n",
    )
    assert code == 0, (out, err)
    lines = out.splitlines()
    asked = lines[lines.index("you> where is my order?") + 1]
    assert asked.startswith("assistant> ")
    assert "order number" in asked.lower()
    assert lines[lines.index("you> ORD-002") + 1] == '  call check_order_status {"order_id": "ORD-002"}'
    # A function that fails is shown as failed, and the assistant says so.
    failed = lines[lines.index("you> Check my order ORD-999") + 2]
    assert re.fullmatch(r"  fail check_order_status \(\d+ ms\): Order ORD-999 not found", failed)
    assert "ORD-999 not found" in lines[lines.index("you> Check my order ORD-999") + 3]
    conversations = shop_setup.http.get("/conversations", params={"identity_id": "alice"}).json()["data"]
    assert len(conversations["conversations"]) == 1


def test_chat_with_an_assistant_creates_a_channel_once(platform: CliPlatform, shop_setup: Shop) -> None:
    other = shop_setup.http.post("/assistant", json={"name": "Orders", "instructions": GUIDE_PROMPT}).json()["data"]
    mcp_id = shop_setup.http.get("/workspace/mcps").json()["data"][0]["id"]
    shop_setup.http.put(f"/assistant/{other['id']}/mcp/{mcp_id}").raise_for_status()

    code, out, err = chat(platform, other["id"], stdin="Check my order ORD-001\n/quit\n")
    assert code == 0, (out, err)
    channels = [c for c in shop_setup.http.get("/channels").json()["data"] if c["assistant_id"] == other["id"]]
    assert [(c["name"], c["type"], c["active"]) for c in channels] == [("plati-chat", "api", True)]
    assert f"on channel {channels[0]['id']} (created) as cli-user" in out
    assert '  call check_order_status {"order_id": "ORD-001"}' in out
    assert "1Z999AA1234567890" in out

    code, out, err = chat(platform, other["id"], stdin="hello\n")
    assert code == 0, (out, err)
    assert f"on channel {channels[0]['id']} as cli-user" in out
    assert len(shop_setup.http.get("/channels").json()["data"]) == 2  # reused, not made again


def test_chat_with_an_assistant_uses_its_active_api_channel(platform: CliPlatform, shop_setup: Shop) -> None:
    code, out, err = chat(platform, shop_setup.assistant_id, stdin="/quit\n")
    assert code == 0, (out, err)
    assert f"on channel {shop_setup.channel_id} as cli-user" in out
    assert len(shop_setup.http.get("/channels").json()["data"]) == 1


def test_an_api_error_prints_one_line_and_the_chat_goes_on(platform: CliPlatform, shop_setup: Shop) -> None:
    too_long = "x" * 32_001
    code, out, err = chat(platform, shop_setup.channel_id, stdin=f"{too_long}\nCheck my order ORD-001\n")
    assert code == 0, (out, err)
    [line] = err.splitlines()
    assert line.startswith("error (422 validation_error): Invalid request: text:")
    assert "1Z999AA1234567890" in out


def test_unknown_targets_and_unusable_channels_fail_at_once(platform: CliPlatform, shop_setup: Shop) -> None:
    code, out, err = chat(platform, "nothing", stdin="")
    assert (code, out, err) == (1, "", "no channel or assistant 'nothing' in this workspace\n")
    code, out, err = chat(platform, "asst_missing", stdin="")
    assert (code, err) == (1, "no channel or assistant 'asst_missing' in this workspace\n")
    code, out, err = chat(platform, "chn_missing", stdin="")
    assert code == 1
    assert err.startswith("error (404 not_found): No channel chn_missing")
    shop_setup.http.put(f"/channels/{shop_setup.channel_id}", json={"active": False}).raise_for_status()
    code, out, err = chat(platform, shop_setup.channel_id, stdin="")
    assert (code, err) == (1, f"channel {shop_setup.channel_id} is inactive; switch it on first\n")


def test_an_unreachable_platform_is_one_line(shop_setup: Shop) -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    result = run(["--url", url, "--api-key", "plati_x", "chat", shop_setup.channel_id], stdin="hi\n")
    assert result.exit_code == 1
    assert result.stderr == f"cannot reach the Plati API at {url} (is `plati serve` running?)\n"


def test_sse_parsing_and_rendering_of_streamed_tokens(capsys: pytest.CaptureFixture[str]) -> None:
    stream = [
        ": a comment",
        'data: {"type": "token", "content": "Let me "}',
        "",
        'data: {"type": "token", "content": "check."}',
        "",
        'data: {"type": "function_call", "name": "f", "arguments": {"a": 1}}',
        "",
        'data: {"type": "function_result", "name": "f", "success": false, "error": "nope", "duration_ms": 2.4}',
        "",
        'data: {"type": "token", "content": "It failed."}',
        "",
        'data: {"type": "complete", "content": "Let me check.It failed."}',
    ]
    renderer = Renderer(output.console())
    for event in sse_events(stream):
        renderer.handle(event)
    renderer.finish()
    assert capsys.readouterr().out.splitlines() == [
        "assistant> Let me check.",
        '  call f {"a": 1}',
        "  fail f (2 ms): nope",
        "assistant> It failed.",
    ]
