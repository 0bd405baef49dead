"""``plati demo``: the guide's scenario on a platform of its own, run in process."""

from __future__ import annotations

import re
import socket
import subprocess
import tempfile
from pathlib import Path

import pytest

from plati.cli import demo
from tests.plati.cli.support import run


def test_demo_once_plays_the_guide_scenario(tmp_path: Path) -> None:
    data_dir = tmp_path / "demo"
    result = run(["demo", "--once", "--data-dir", str(data_dir)])
    assert result.exit_code == 0, (result.stdout, result.stderr)
    out = result.stdout
    lines = out.splitlines()

    def after(prefix: str) -> str:
        return lines[lines.index(prefix) + 1]

    assert re.search(
        r'check_order_status \{"order_id": "ORD-001"\}\s+ok \d+ ms', after("test_user> Check my order ORD-001")
    )
    assert "1Z999AA1234567890" in out
    # No order number: no call, the assistant asks for it.
    asked = after("test_user> where is my order?")
    assert asked.startswith("assistant> ")
    assert "order number" in asked.lower()
    assert re.search(r'check_order_status \{"order_id": "ORD-002"\}\s+ok', after("test_user> ORD-002"))
    returned = after("test_user> I want to return order ORD-003 because the shoes are too small")
    assert re.search(r'process_return \{"order_id": "ORD-003", "reason": "[^"]*too small[^"]*".*ok \d+ ms', returned)
    assert "Demo finished: 4 messages, 3 function calls." in out
    # Every resource the demo made, through the API.
    for label in ("workspace ws_", "MCP       mcp_", "assistant asst_", "channel   chn_"):
        assert label in out
    assert "'Order Management System'" in out
    # --data-dir is kept, with the platform's and the shop's databases.
    assert (data_dir / "plati.db").is_file()
    assert (data_dir / "shop.db").is_file()


def test_demo_runs_again_in_the_same_data_dir(tmp_path: Path) -> None:
    """A fresh shop each run: the return of ORD-003 is not refused as already open."""
    for _ in range(2):
        result = run(["demo", "--once", "--data-dir", str(tmp_path)])
        assert result.exit_code == 0, (result.stdout, result.stderr)


def test_demo_without_data_dir_uses_a_new_temporary_dir_and_removes_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    result = run(["demo", "--once"])
    assert result.exit_code == 0, (result.stdout, result.stderr)
    assert f"data dir     {tmp_path}/plati-demo-" in result.stdout
    assert list(tmp_path.iterdir()) == []


def test_demo_keeps_serving_and_prints_what_to_paste(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without --once it prints the URL, key, channel, curl and `plati chat` commands, then serves
    until Ctrl-C (here: the wait is interrupted at once) and stops cleanly."""
    seen: dict[str, object] = {}

    def interrupted() -> None:
        seen["serving"] = True
        raise KeyboardInterrupt

    monkeypatch.setattr(demo, "_serve_forever", interrupted)
    result = run(["demo", "--data-dir", str(tmp_path)])
    assert result.exit_code == 0, (result.stdout, result.stderr)
    assert seen == {"serving": True}
    out = result.stdout
    url = re.search(r"platform   (http://127\.0\.0\.1:\d+)", out)
    key = re.search(r"API key    (plati_\S+)", out)
    channel = re.search(r"channel    (chn_\w+)", out)
    assert url and key and channel
    assert f"curl -X POST {url[1]}/conversation/test_user/chat/{channel[1]}" in out
    assert f'-H "Authorization: Bearer {key[1]}"' in out
    assert """-d '{"text": "Check my order ORD-001"}'""" in out
    plati, _ = demo.plati_command()
    assert f"{plati} --url {url[1]} --api-key {key[1]} chat {channel[1]}" in out
    assert f"console    {url[1]}/#key={key[1]}" in out
    assert "Stopping the demo" in out


def test_the_plati_command_the_demo_prints_runs_in_a_fresh_shell() -> None:
    plati, activate = demo.plati_command()
    fresh = {"PATH": "/usr/bin:/bin", "HOME": str(Path.home())}
    completed = subprocess.run(
        ["/bin/sh", "-c", f"{plati} --help"], env=fresh, capture_output=True, text=True, timeout=60, check=False
    )
    assert completed.returncode == 0, completed.stderr
    assert "Plati: self-hosted assistants" in completed.stdout
    if activate is not None:
        sourced = subprocess.run(
            ["/bin/bash", "-c", f". {activate} && plati --help"],
            env=fresh,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert sourced.returncode == 0, sourced.stderr


def test_demo_on_a_port_in_use_fails_with_one_line(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = run(["demo", "--once", "--port", str(port), "--data-dir", str(tmp_path)])
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        f"demo failed: cannot listen on 127.0.0.1:{port} for the platform: Address already in use"
    ]


def test_demo_fails_clearly_when_a_step_goes_wrong(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(demo, "SCENARIO", (demo.Step("Check my order ORD-999", ("check_order_status",)),))
    result = run(["demo", "--once", "--data-dir", str(tmp_path)])
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        "demo failed: step 1 ('Check my order ORD-999'): check_order_status failed: Order ORD-999 not found"
    ]
    assert re.search(
        r'check_order_status \{"order_id": "ORD-999"\}\s+failed \d+ ms: Order ORD-999 not found', result.stdout
    )


def test_the_shipped_prompt_file_is_the_demos_prompt() -> None:
    shipped = Path(__file__).resolve().parents[3] / "examples" / "prompt.txt"
    assert shipped.read_text(encoding="utf-8") == demo.GUIDE_PROMPT + "\n"


def test_the_prompt_is_the_guides() -> None:
    assert demo.GUIDE_PROMPT.startswith("You are a customer service specialist with access to our order management")
    assert (
        "1. Ask for order number if not provided\n2. Call {{function.check_order_status(order_id)}}"
        in demo.GUIDE_PROMPT
    )
    assert demo.GUIDE_PROMPT.endswith("Always validate order numbers and handle errors gracefully.")
