"""Every example server starts with its documented command line and serves its functions."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from .support import free_port, running_module, wait_until_serving


@pytest.mark.parametrize(
    ("module", "function"),
    [
        ("examples.order_server", "check_order_status"),
        ("examples.ecommerce.server", "apply_discount"),
        ("examples.advanced.stateful", "get_order_history"),
        ("examples.advanced.reports", "generate_report"),
        ("examples.advanced.chaining", "process_order_issue"),
        ("examples.guide_flask.ecommerce_flask", "get_product_recommendations"),
    ],
)
def test_the_server_command_creates_its_database_and_serves(tmp_path: Path, module: str, function: str) -> None:
    db_path = tmp_path / "new.db"
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    with running_module(module, "--db", str(db_path), "--port", str(port)) as process:
        wait_until_serving(base_url, process)
        tools = httpx.get(f"{base_url}/tools", timeout=5.0).json()["tools"]
        called = httpx.post(
            f"{base_url}/call",
            json={"name": "no_such_function", "arguments": {}},
            timeout=5.0,
        )
    assert function in {tool["name"] for tool in tools}
    assert called.status_code == 404
    assert db_path.exists()
