"""stdio MCPs run a command on the platform's host: the operator's switch and allowlist are
enforced where processes start, whatever is stored, and on every registration and update."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from .conftest import Platform, another_process

SERVER = """
import sys
from pathlib import Path

with Path(sys.argv[1]).open("a") as starts:  # one line per process start
    starts.write("started\\n")

from plati_mcp import MCP

mcp = MCP(name="stdio-orders")

@mcp.function
def check_order_status(order_id: str) -> dict:
    return {"order_id": order_id, "status": "shipped"}

if __name__ == "__main__":
    mcp.run(transport="stdio")
"""

SRC = str(Path(__file__).resolve().parents[3] / "src")


@pytest.fixture
def platform_env() -> dict[str, str]:
    return {"PLATI_ALLOW_STDIO": "1"}


@pytest.fixture
def server(tmp_path: Path) -> tuple[Path, Path]:
    script, starts = tmp_path / "server.py", tmp_path / "starts.log"
    script.write_text(SERVER)
    return script, starts


def started(starts: Path) -> int:
    return len(starts.read_text().splitlines()) if starts.exists() else 0


def stdio_body(script: Path, starts: Path, **extra: object) -> dict[str, object]:
    body: dict[str, object] = {
        "name": "local",
        "transport": "stdio",
        "command": sys.executable,
        "args": [str(script), str(starts)],
    }
    body.update(extra)
    return body


def test_a_stdio_mcp_stored_while_allowed_never_starts_once_stdio_is_off(
    platform: Platform, server: tuple[Path, Path]
) -> None:
    script, starts = server
    with platform.client() as http:
        created = http.post("/workspace/mcps", json=stdio_body(script, starts, env={"PYTHONPATH": SRC}))
        assert created.status_code == 201, created.text
        mcp_id = created.json()["data"]["id"]
        assistant = http.post("/assistant", json={"name": "A", "instructions": "Check orders."}).json()["data"]["id"]
        http.put(f"/assistant/{assistant}/mcp/{mcp_id}")
        channel = http.post("/channels", json={"name": "c", "assistant_id": assistant}).json()["data"]["id"]
    assert started(starts) == 1
    off = {"PLATI_ALLOW_STDIO": "0", "PLATI_TOOLS_TTL_SECONDS": "0"}
    with another_process(platform, **off) as locked, locked.client() as http:
        for change in ({"command": "/bin/sh"}, {"args": ["-c", "id"]}, {"env": {"X": "1"}}, {"transport": "stdio"}):
            refused = http.patch(f"/workspace/mcps/{mcp_id}", json=change)
            assert (refused.status_code, refused.json()["error"]["code"]) == (403, "stdio_disabled"), change
        assert http.patch(f"/workspace/mcps/{mcp_id}", json={"name": "renamed"}).status_code == 200
        tools = http.get(f"/workspace/mcps/{mcp_id}/tools")
        assert [tool["name"] for tool in tools.json()["data"]] == ["check_order_status"]  # the cached list
        refresh = http.post(f"/workspace/mcps/{mcp_id}/refresh")
        call = http.post(
            f"/workspace/mcps/{mcp_id}/call", json={"name": "check_order_status", "arguments": {"order_id": "A1"}}
        )
        turn = http.post(f"/conversation/u/chat/{channel}", json={"text": "Check order A1"}).json()["data"]
        stored = http.get(f"/workspace/mcps/{mcp_id}").json()["data"]
    assert (refresh.status_code, refresh.json()["error"]["code"]) == (403, "stdio_disabled")
    assert (call.status_code, call.json()["error"]["code"]) == (403, "stdio_disabled")
    [record] = turn["function_calls"]
    assert (record["success"], record["error_code"]) == (False, "stdio_disabled")
    assert "PLATI_ALLOW_STDIO" in record["error_detail"]
    assert sys.executable not in turn["reply"] and "PLATI_ALLOW_STDIO" not in turn["reply"]
    assert stored["command"] == sys.executable and stored["name"] == "renamed"
    assert started(starts) == 1  # nothing ran again


def test_the_operator_allowlist_limits_which_commands_may_run(platform: Platform, server: tuple[Path, Path]) -> None:
    script, starts = server
    with platform.client() as http:
        # Registered before the operator narrowed stdio to an allowlist.
        body = {"name": "shell", "transport": "stdio", "command": "/bin/sh", "args": ["-c", "exit"], "validate": False}
        shell = http.post("/workspace/mcps", json=body).json()["data"]["id"]
    allowlist = {"PLATI_ALLOW_STDIO": "1", "PLATI_STDIO_COMMANDS": sys.executable}
    with another_process(platform, **allowlist) as narrowed, narrowed.client() as http:
        refused = http.post("/workspace/mcps", json={**stdio_body(script, starts), "command": "/bin/sh"})
        assert (refused.status_code, refused.json()["error"]["code"]) == (403, "command_not_allowed")
        injected = http.post("/workspace/mcps", json=stdio_body(script, starts, env={"LD_PRELOAD": "/tmp/x.so"}))
        assert (injected.status_code, injected.json()["error"]["details"]["field"]) == (403, "env")
        allowed = http.post("/workspace/mcps", json=stdio_body(script, starts))
        assert allowed.status_code == 201, allowed.text
        mcp_id = allowed.json()["data"]["id"]
        switched = http.patch(f"/workspace/mcps/{mcp_id}", json={"command": "/bin/sh"})
        assert (switched.status_code, switched.json()["error"]["code"]) == (403, "command_not_allowed")
        old = http.post(f"/workspace/mcps/{shell}/refresh")
        assert (old.status_code, old.json()["error"]["code"]) == (403, "command_not_allowed")
    assert started(starts) == 1  # only the allowed registration ran the server
