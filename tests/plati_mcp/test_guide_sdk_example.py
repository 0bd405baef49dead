"""The guide's "MCP SDK" example, verbatim, works with this SDK: in process, and as a script
started with `mcp.run(host=..., port=...)` answering the guide's curl calls over real HTTP."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

GUIDE_SDK_EXAMPLE = """
from plati_mcp import MCP, Function

mcp = MCP(name="Order Management")

@mcp.function(
    name="check_order_status",
    description="Check order status and tracking",
    parameters={
        "order_id": {"type": "string", "required": True}
    }
)
def check_order_status(order_id: str):
    # Your implementation
    return {"status": "shipped", "tracking": "123456"}

@mcp.function(
    name="process_return", 
    description="Process a return request",
    parameters={
        "order_id": {"type": "string", "required": True},
        "reason": {"type": "string", "required": True}
    }
)
def process_return(order_id: str, reason: str):
    # Your implementation
    return {"return_id": "RET-123", "status": "approved"}

if __name__ == '__main__':
    mcp.run(host='0.0.0.0', port=5000)
"""


def test_guide_sdk_example_runs_in_process() -> None:
    namespace: dict = {"__name__": "guide_example"}
    exec(compile(GUIDE_SDK_EXAMPLE, "guide_example.py", "exec"), namespace)
    client = namespace["mcp"].test_client()
    assert [tool["name"] for tool in client.list_tools()] == ["check_order_status", "process_return"]
    assert client.call("check_order_status", {"order_id": "ORD-001"}).body == {
        "success": True,
        "data": {"status": "shipped", "tracking": "123456"},
    }
    refused = client.call("process_return", {"order_id": "ORD-001"})
    assert refused.status_code == 400
    assert refused.details == [{"field": "reason", "message": "Field required"}]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_guide_sdk_example_serves_the_guide_curl_calls_with_mcp_run(tmp_path: Path) -> None:
    port = _free_port()
    script = tmp_path / "server.py"
    script.write_text(GUIDE_SDK_EXAMPLE.replace("host='0.0.0.0', port=5000", f"host='127.0.0.1', port={port}"))
    root = Path(__file__).resolve().parents[2]
    process = subprocess.Popen(
        [sys.executable, str(script)],
        cwd=root,
        env={"PYTHONPATH": str(root / "src"), "PATH": "/usr/bin:/bin"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 20
        while True:
            try:
                httpx.get(f"{base}/health", timeout=1)
                break
            except httpx.TransportError:
                assert process.poll() is None, process.stderr.read() if process.stderr else ""
                assert time.monotonic() < deadline, "the server did not start"
                time.sleep(0.05)
        tools = httpx.get(f"{base}/tools").json()["tools"]
        call = httpx.post(
            f"{base}/call",
            headers={"Content-Type": "application/json"},
            json={"name": "check_order_status", "arguments": {"order_id": "ORD-001"}},
        )
    finally:
        process.terminate()
        process.communicate(timeout=10)
    assert [tool["name"] for tool in tools] == ["check_order_status", "process_return"]
    assert call.json() == {"success": True, "data": {"status": "shipped", "tracking": "123456"}}
