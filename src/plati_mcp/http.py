"""Small ASGI helpers shared by both protocols: request bodies with a size cap, JSON replies."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic_core import to_json
from starlette.types import Receive, Scope, Send

JSON_HEADERS = [(b"content-type", b"application/json")]


class BodyTooLarge(Exception):
    def __init__(self, limit: int) -> None:
        super().__init__(f"Request body larger than {limit} bytes")
        self.limit = limit


class ClientGone(Exception):
    """The client disconnected before sending its whole request."""


def header_dict(scope: Scope) -> dict[str, str]:
    """Request headers with lower-case names; for a repeated header the last value wins."""
    return {key.decode("latin-1"): value.decode("latin-1") for key, value in scope["headers"]}


async def read_body(scope: Scope, receive: Receive, limit: int, headers: Mapping[str, str]) -> bytes:
    """Read the request body, refusing (before reading it all) anything over ``limit`` bytes.

    Raises:
        BodyTooLarge: the declared or actual size is over the limit.
        ClientGone: the client disconnected mid-body.
    """
    declared = headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge(limit)
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone()
        chunk = message.get("body", b"")
        if chunk:
            size += len(chunk)
            if size > limit:
                raise BodyTooLarge(limit)
            chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


async def send_json(
    send: Send,
    status: int,
    body: Any,
    extra_headers: list[tuple[bytes, bytes]] | None = None,
) -> None:
    payload = to_json(body)
    await send_bytes(send, status, payload, extra_headers)


async def send_bytes(
    send: Send,
    status: int,
    payload: bytes,
    extra_headers: list[tuple[bytes, bytes]] | None = None,
    content_type: bytes = b"application/json",
) -> None:
    headers = [(b"content-type", content_type), (b"content-length", str(len(payload)).encode())]
    if extra_headers:
        headers.extend(extra_headers)
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})


def route_path(scope: Scope) -> str:
    """The path below the app's mount point (Starlette and uvicorn keep the prefix in ``path``)."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    if root and path.startswith(root):
        path = path[len(root) :]
    return path.rstrip("/") or "/"
