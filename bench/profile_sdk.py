"""Per-request cost of each ASGI app alone: no sockets, no HTTP parser, no server.

    .venv/bin/python bench/profile_sdk.py [--requests N] [--profile TARGET] [--top K]

Calls each app of ``targets.py`` directly with an in-memory ``receive``/``send`` (the ASGI
messages uvicorn would pass), after running its lifespan, and reports CPU microseconds per
request; every reply is checked like ``bench_sdk.py`` checks them. With ``--profile`` it runs
that target under cProfile and prints where the time goes, by file:function.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import pstats
import time
from collections.abc import Awaitable, Callable
from typing import Any

from bench_sdk import TARGETS, Target, call_request
from targets import ASGI_APPS, EXPECTED

ASGIApp = Callable[[dict[str, Any], Any, Any], Awaitable[None]]
ASGI_TARGETS = [t for t in TARGETS if t.server in ASGI_APPS]


def _encoded(target: Target) -> tuple[str, Callable[[int], bytes], list[tuple[bytes, bytes]]]:
    path, make_body, headers = call_request(target)
    return path, make_body, [(k.lower().encode(), v.encode()) for k, v in headers.items()]


_REQUESTS = {t.key: _encoded(t) for t in ASGI_TARGETS}


async def null_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """The harness's own cost: reads the body and sends a canned right answer, nothing else."""
    message = await receive()
    if scope["path"] == "/call":
        reply = json.dumps({"success": True, "data": EXPECTED}).encode()
    else:
        request_id = json.loads(message["body"])["id"]
        result = {"structuredContent": EXPECTED}
        reply = json.dumps({"jsonrpc": "2.0", "id": request_id, "result": result}).encode()
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": reply})


class Lifespan:
    """Runs an app's lifespan protocol the way uvicorn's ``lifespan="on"`` does."""

    def __init__(self, app: ASGIApp) -> None:
        self._app = app
        self._inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._started = asyncio.Event()
        self._stopped = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def _send(self, message: dict[str, Any]) -> None:
        if message["type"] == "lifespan.startup.complete":
            self._started.set()
        elif message["type"] == "lifespan.shutdown.complete":
            self._stopped.set()
        elif message["type"].endswith(".failed"):
            raise RuntimeError(f"lifespan failed: {message}")

    async def __aenter__(self) -> Lifespan:
        scope = {"type": "lifespan", "asgi": {"version": "3.0", "spec_version": "2.0"}, "state": {}}
        self._task = asyncio.create_task(self._app(scope, self._inbox.get, self._send))
        await self._inbox.put({"type": "lifespan.startup"})
        await asyncio.wait_for(self._started.wait(), 10)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._inbox.put({"type": "lifespan.shutdown"})
        await asyncio.wait_for(self._stopped.wait(), 10)
        if self._task is not None:
            await self._task


async def one_request(app: ASGIApp, target: Target, request_id: int) -> None:
    path, make_body, headers = _REQUESTS[target.key]
    body = make_body(request_id)
    raw_headers = [(b"host", b"127.0.0.1:8000"), (b"content-length", str(len(body)).encode()), *headers]
    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": raw_headers,
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
        "state": {},
    }
    done = asyncio.get_running_loop().create_future()
    sent_body = False
    status = 0
    chunks: list[bytes] = []

    async def receive() -> dict[str, Any]:
        nonlocal sent_body
        if not sent_body:
            sent_body = True
            return {"type": "http.request", "body": body, "more_body": False}
        await done  # like uvicorn: a second receive() returns only once the response is over
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))
            if not message.get("more_body") and not done.done():
                done.set_result(None)

    await app(scope, receive, send)
    reply = json.loads(b"".join(chunks))
    data = reply.get("data") if target.protocol == "call" else reply["result"]["structuredContent"]
    if status != 200 or data != EXPECTED:
        raise AssertionError(f"{target.key}: wrong reply {status} {reply!r:.300}")


async def cost_per_request(app: ASGIApp, target: Target, requests: int) -> float:
    for i in range(min(500, requests)):  # warm-up: caches, lazy imports, validators
        await one_request(app, target, i)
    start = time.process_time()
    for i in range(requests):
        await one_request(app, target, i)
    return (time.process_time() - start) / requests * 1e6


async def main_async(args: argparse.Namespace) -> None:
    apps = {server: factory() for server, factory in ASGI_APPS.items()}
    async with Lifespan(apps["plati"]), Lifespan(apps["starlette"]), Lifespan(apps["official"]):
        if args.profile:
            target = next(t for t in ASGI_TARGETS if t.key == args.profile)
            app = apps[target.server]
            await cost_per_request(app, target, 500)
            profiler = cProfile.Profile()
            profiler.enable()
            for i in range(args.requests):
                await one_request(app, target, i)
            profiler.disable()
            stats = pstats.Stats(profiler)
            print(f"cProfile of {args.requests} in-process requests to {target.label}")
            stats.sort_stats("tottime").print_stats(args.top)
            stats.sort_stats("cumulative").print_stats(args.top)
            return
        print(f"In-process ASGI cost (CPU us per request, {args.requests} sequential requests each)")
        harness = {
            protocol: await cost_per_request(null_app, next(t for t in ASGI_TARGETS if t.protocol == protocol), 2000)
            for protocol in ("call", "mcp")
        }
        print(f"  (harness alone, subtracted below: /call {harness['call']:.1f} us, /mcp {harness['mcp']:.1f} us)")
        costs = {}
        for target in ASGI_TARGETS:
            raw = await cost_per_request(apps[target.server], target, args.requests)
            costs[target.key] = raw - harness[target.protocol]
            print(f"  {target.label:38} {costs[target.key]:7.1f} us")
        print(f"  plati_mcp POST /call vs bare Starlette: {costs['starlette'] / costs['sdk_call']:.2f}x as fast")
        print(f"  plati_mcp /mcp vs official MCPServer:   {costs['official'] / costs['sdk_mcp']:.2f}x as fast")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--profile", choices=[t.key for t in ASGI_TARGETS], help="cProfile this target")
    parser.add_argument("--top", type=int, default=30, help="rows of the profile to print")
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
