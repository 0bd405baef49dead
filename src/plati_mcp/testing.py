"""``mcp.test_client()``: call a function server in-process from users' own tests."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from starlette.testclient import TestClient

if TYPE_CHECKING:
    from .server import MCP


@dataclass(frozen=True)
class CallResponse:
    """What ``POST /call`` answered."""

    status_code: int
    body: dict[str, Any]

    @property
    def success(self) -> bool:
        return bool(self.body.get("success"))

    @property
    def data(self) -> Any:
        return self.body.get("data")

    @property
    def error(self) -> str | None:
        error = self.body.get("error")
        return error if isinstance(error, str) else None

    @property
    def task_id(self) -> str | None:
        task_id = self.body.get("task_id")
        return task_id if isinstance(task_id, str) else None

    @property
    def details(self) -> list[dict[str, Any]]:
        details = self.body.get("details")
        return details if isinstance(details, list) else []


class FunctionTestClient:
    """A synchronous client over the server's ASGI app (no sockets); use it as a context manager
    or call :meth:`close` when done.

    ``http`` is the underlying Starlette ``TestClient`` for requests the helpers do not cover.
    """

    def __init__(self, server: MCP, token: str | None = None, headers: Mapping[str, str] | None = None) -> None:
        base_headers = dict(headers or {})
        if token is not None:
            base_headers["Authorization"] = f"Bearer {token}"
        self.http = TestClient(server.app, base_url="http://testserver", headers=base_headers)
        # One event loop for the client's lifetime (not one per request), so connections the
        # server opens (Redis, callbacks) stay usable between calls.
        self.http.__enter__()

    def list_tools(self) -> list[dict[str, Any]]:
        """The functions as ``GET /tools`` lists them.

        Raises:
            AssertionError: the server did not answer 200.
        """
        response = self.http.get("/tools")
        assert response.status_code == 200, f"GET /tools answered {response.status_code}: {response.text}"
        tools: list[dict[str, Any]] = response.json()["tools"]
        return tools

    def call(
        self,
        name: str,
        arguments: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> CallResponse:
        """``POST /call`` with ``{"name", "arguments"}``."""
        response = self.http.post(
            "/call", json={"name": name, "arguments": dict(arguments or {})}, headers=dict(headers or {})
        )
        return CallResponse(status_code=response.status_code, body=response.json())

    def get_task(self, task_id: str) -> dict[str, Any]:
        """``GET /tasks/{task_id}``; an unknown task gives ``{"error": "Task not found"}``."""
        document: dict[str, Any] = self.http.get(f"/tasks/{task_id}").json()
        return document

    def wait_for_task(self, task_id: str, timeout: float = 5.0, interval: float = 0.01) -> dict[str, Any]:
        """Poll a background task until it succeeded or failed.

        Raises:
            TimeoutError: it did not finish within ``timeout`` seconds.
        """
        deadline = time.monotonic() + timeout
        while True:
            document = self.get_task(task_id)
            if document.get("status") in ("succeeded", "failed"):
                return document
            if time.monotonic() > deadline:
                raise TimeoutError(f"Task {task_id} still {document.get('status')!r} after {timeout}s")
            time.sleep(interval)

    def close(self) -> None:
        """Stop the client's event loop (running the app's shutdown)."""
        self.http.__exit__(None, None, None)

    def __enter__(self) -> FunctionTestClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
