"""The simple function protocol (SPEC section 2): ``GET {url}/tools``, ``POST {url}/call``.

One pooled ``aiohttp.ClientSession`` per connector, reused for every request. Replies are read as
they stream in and reading stops at ``max_response_bytes``; the whole exchange (connect, send,
read) is bounded by ``timeout_seconds``. Redirects are not followed and proxy variables from the
environment are not used: function servers are called where they were registered.

Why aiohttp here when the rest of the platform uses httpx: every function call of every turn
goes through this connector, and on the same loopback call aiohttp spends 0.43 ms of event-loop
CPU where httpx spends 1.8 ms (its pure-Python HTTP/1.1 stack; ``docs/benchmarks.md``).
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Mapping
from typing import Any

import aiohttp
from multidict import CIMultiDictProxy

from ..security.egress import PolicyResolver, refusal_in
from ..security.network import NetworkPolicy
from .base import CallContext, CallResult, ConnectorConfig, Discovery, ToolSpec
from .errors import (
    FunctionNotFound,
    UpstreamBadReply,
    UpstreamTimeout,
    UpstreamTooLarge,
    UpstreamUnauthorized,
    UpstreamUnreachable,
)

PROTOCOL = "rest"
# The whole exchange is bounded by asyncio.timeout around it; the session's own timeout (set from
# the config as a backstop) is switched off per request so the two cannot race.
_NO_CLIENT_TIMEOUT = aiohttp.ClientTimeout(total=None)
_MAX_QUOTED_ERROR = 500  # characters of a server's error text quoted in our messages
_MAX_AGE = re.compile(r"(?:^|,)\s*max-age\s*=\s*(\d+)", re.IGNORECASE)


class _Reply:
    """A read reply: status, headers, and the body parsed as JSON when it is JSON."""

    def __init__(self, status: int, headers: CIMultiDictProxy[str], body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body
        self.json: Any = None
        self.is_json = False
        if body:
            try:
                self.json = json.loads(body)
                self.is_json = True
            except ValueError:
                pass

    def error_text(self) -> str | None:
        """The server's ``error`` text, when the body is a JSON object carrying one."""
        if isinstance(self.json, dict) and isinstance(self.json.get("error"), str):
            return _clip(self.json["error"])
        return None


class RestConnector:
    """A function server speaking the simple protocol at ``config.url``.

    With a ``network`` policy, the URL is checked now and every connection goes to an address the
    policy checked (:class:`plati.security.egress.PolicyResolver`).

    Raises:
        AddressNotAllowed: the URL's form or IP literal is refused by ``network``.
    """

    protocol = PROTOCOL

    def __init__(self, config: ConnectorConfig, *, network: NetworkPolicy | None = None) -> None:
        if not config.url:
            raise ValueError("A REST connector needs a url")
        if network is not None:
            network.check_url(config.url)
        self.config = config
        self.network = network
        self.base_url = config.url.rstrip("/")
        self._session: aiohttp.ClientSession | None = None  # opened on first use, inside the loop

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            connector = aiohttp.TCPConnector(resolver=PolicyResolver(self.network)) if self.network else None
            self._session = aiohttp.ClientSession(
                connector=connector,
                headers=dict(self.config.headers),
                timeout=aiohttp.ClientTimeout(total=self.config.timeout_seconds),
                trust_env=False,
                # Keep the server's bytes as sent (a JSON body is decoded by us, as UTF-8).
                auto_decompress=True,
            )
        return self._session

    async def aclose(self) -> None:
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()

    async def discover(self, *, time_limit: float | None = None) -> Discovery:
        """``GET {url}/tools``; ``time_limit`` overrides the configured timeout (detection probes briefly)."""
        reply = await self._request("GET", "/tools", time_limit=time_limit)
        if reply.status in (401, 403):
            raise self._unauthorized(reply.status)
        if reply.status != 200 or not reply.is_json:
            raise UpstreamBadReply(
                f"GET {self.base_url}/tools answered {_describe(reply)}; expected the JSON tool list.",
                details={"status": reply.status},
            )
        tools = reply.json.get("tools") if isinstance(reply.json, dict) else None
        if not isinstance(tools, list):
            raise UpstreamBadReply(f'GET {self.base_url}/tools did not answer {{"tools": [...]}}.')
        return Discovery(
            tools=[self._tool(raw) for raw in tools],
            protocol=PROTOCOL,
            server_name=_str_or_none(reply.json.get("name")),
            ttl_seconds=_max_age(reply.headers.get("cache-control")),
            endpoint=self.base_url,
        )

    async def call(self, name: str, arguments: Mapping[str, Any], context: CallContext) -> CallResult:
        started = time.perf_counter()
        reply = await self._request(
            "POST", "/call", json_body={"name": name, "arguments": dict(arguments)}, headers=context.headers()
        )
        result = self._call_result(name, reply)
        duration_ms = (time.perf_counter() - started) * 1000
        return CallResult(
            success=result.success,
            data=result.data,
            error=result.error,
            task_id=result.task_id,
            duration_ms=duration_ms,
        )

    def _call_result(self, name: str, reply: _Reply) -> CallResult:
        status, body = reply.status, reply.json
        if status in (401, 403):
            raise self._unauthorized(status)
        if status == 404 and reply.error_text() is not None:
            raise FunctionNotFound(f"{self.base_url} does not know the function {name!r}.", function=name)
        if status == 400:
            return CallResult(success=False, error=_invalid_arguments(reply))
        if not 200 <= status < 300 or not reply.is_json or not isinstance(body, dict):
            raise UpstreamBadReply(
                f"POST {self.base_url}/call for {name!r} answered {_describe(reply)}.",
                details={"status": status, "function": name},
            )
        if body.get("task_id") is not None:
            task_id = str(body["task_id"])
            message = body.get("message")
            return CallResult(success=True, data={"task_id": task_id, "message": message}, task_id=task_id)
        success = body.get("success", "error" not in body)
        if success is False or success is None:
            error = body.get("error")
            text = error if isinstance(error, str) else json.dumps(error) if error is not None else None
            return CallResult(success=False, error=text or f"The function {name!r} failed.")
        return CallResult(success=True, data=body.get("data"))

    def _tool(self, raw: Any) -> ToolSpec:
        if not isinstance(raw, dict) or not isinstance(raw.get("name"), str) or not raw["name"]:
            raise UpstreamBadReply(f"GET {self.base_url}/tools listed a tool without a name.")
        schema = raw.get("input_schema", raw.get("inputSchema"))
        if schema is None:
            schema = {"type": "object", "properties": {}}
        if not isinstance(schema, dict):
            raise UpstreamBadReply(
                f"GET {self.base_url}/tools gave {raw['name']!r} an input schema that is not an object."
            )
        output_schema = raw.get("output_schema", raw.get("outputSchema"))
        annotations = raw.get("annotations")
        return ToolSpec(
            name=raw["name"],
            description=_str_or_none(raw.get("description")) or "",
            input_schema=schema,
            output_schema=output_schema if isinstance(output_schema, dict) else None,
            annotations=annotations if isinstance(annotations, dict) else None,
            title=_str_or_none(raw.get("title")),
        )

    def _unauthorized(self, status: int) -> UpstreamUnauthorized:
        return UpstreamUnauthorized(
            f"{self.base_url} refused the registered credentials (HTTP {status}); check the MCP's headers.",
            details={"status": status},
        )

    async def _request(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        headers: Mapping[str, str] | None = None,
        time_limit: float | None = None,
    ) -> _Reply:
        """Send one request and read its reply, at most ``max_response_bytes`` of it."""
        url = self.base_url + path
        limit = self.config.max_response_bytes
        timeout = self.config.timeout_seconds if time_limit is None else time_limit
        sent: dict[str, str] = dict(headers or {})
        data: bytes | None = None
        if json_body is not None:
            data = json.dumps(json_body, ensure_ascii=False, separators=(",", ":")).encode()
            sent["Content-Type"] = "application/json"
        try:
            async with (
                asyncio.timeout(timeout),
                self._client().request(
                    method, url, data=data, headers=sent, allow_redirects=False, timeout=_NO_CLIENT_TIMEOUT
                ) as response,
            ):
                declared = response.content_length
                if declared is not None and declared > limit:
                    raise self._too_large(method, path)
                chunks: list[bytes] = []
                size = 0
                async for chunk in response.content.iter_any():
                    size += len(chunk)
                    if size > limit:
                        raise self._too_large(method, path)
                    chunks.append(chunk)
                status, reply_headers = response.status, response.headers
        except TimeoutError:
            raise self._timeout(method, path, timeout) from None
        except aiohttp.ClientConnectorError as exc:
            refusal = refusal_in(exc)
            if refusal is not None:
                raise refusal from None
            raise UpstreamUnreachable(f"Nothing answers at {self.base_url} ({type(exc).__name__}).") from exc
        except (aiohttp.ClientError, ValueError) as exc:
            raise UpstreamBadReply(f"{method} {url} failed mid-reply ({type(exc).__name__}).") from exc
        return _Reply(status, reply_headers, b"".join(chunks))

    def _timeout(self, method: str, path: str, timeout: float) -> UpstreamTimeout:
        return UpstreamTimeout(
            f"{method} {self.base_url}{path} did not answer within {timeout:g} s.",
            details={"timeout_seconds": timeout},
        )

    def _too_large(self, method: str, path: str) -> UpstreamTooLarge:
        limit = self.config.max_response_bytes
        return UpstreamTooLarge(
            f"The reply to {method} {self.base_url}{path} is larger than {limit} bytes.",
            details={"max_response_bytes": limit},
        )


def _invalid_arguments(reply: _Reply) -> str:
    """A 400's error line plus a summary of its ``details`` (each field and what is wrong)."""
    error = reply.error_text() or f"The function server rejected the arguments (HTTP {reply.status})."
    details = reply.json.get("details") if isinstance(reply.json, dict) else None
    if isinstance(details, list):
        parts = []
        for item in details:
            if isinstance(item, dict) and item.get("message"):
                field = item.get("field")
                parts.append(f"{field}: {item['message']}" if field else str(item["message"]))
        summary = "; ".join(part for part in parts if part not in error)
        if summary:
            error = f"{error} ({_clip(summary)})"
    return error


def _describe(reply: _Reply) -> str:
    """``HTTP 500: <the server's error text>`` or ``HTTP 200 with a non-JSON body``."""
    text = reply.error_text()
    if text is not None:
        return f"HTTP {reply.status}: {text}"
    if not reply.is_json and reply.body:
        return f"HTTP {reply.status} with a non-JSON body"
    return f"HTTP {reply.status}"


def _clip(text: str) -> str:
    return text if len(text) <= _MAX_QUOTED_ERROR else text[: _MAX_QUOTED_ERROR - 1] + "…"


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _max_age(cache_control: str | None) -> float | None:
    if not cache_control or "no-store" in cache_control.lower() or "no-cache" in cache_control.lower():
        return 0.0 if cache_control else None
    match = _MAX_AGE.search(cache_control)
    return float(match.group(1)) if match else None
