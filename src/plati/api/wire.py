"""Request and response bodies of the public API, and the converters from stored rows."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ..security.secrets import mask_secret
from ..store.models import Assistant, Channel, McpServer, McpTool

Transport = Literal["http", "rest", "streamable-http", "sse", "stdio"]
Provider = Literal["OFFLINE", "OPENAI", "ANTHROPIC"]
_HEADER_NAME = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
MAX_TIMEOUT_SECONDS = 600.0
MAX_RESPONSE_CAP = 64 * 1024 * 1024


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class HeaderItem(Body):
    key: str = Field(min_length=1, max_length=256)
    value: str = Field(max_length=8192)

    @field_validator("key")
    @classmethod
    def _token(cls, key: str) -> str:
        if not _HEADER_NAME.match(key):
            raise ValueError("must be an HTTP header name (letters, digits and -_.!#$%&'*+^`|~)")
        return key

    @field_validator("value")
    @classmethod
    def _single_line(cls, value: str) -> str:
        if "\r" in value or "\n" in value:
            raise ValueError("must not contain line breaks")
        return value


def _check_url(url: str | None) -> str | None:
    if url is not None and not re.match(r"^https?://[^\s/]+", url):
        raise ValueError("must be an http:// or https:// URL")
    return url


class McpCreate(Body):
    name: str = Field(min_length=1, max_length=100)
    transport: Transport = "http"
    url: str | None = Field(default=None, max_length=2048)
    headers: list[HeaderItem] = Field(default_factory=list, max_length=50)
    command: str | None = Field(default=None, max_length=1024)
    args: list[str] = Field(default_factory=list, max_length=100)
    env: dict[str, str] = Field(default_factory=dict, max_length=100)
    timeout_seconds: float | None = Field(default=None, gt=0, le=MAX_TIMEOUT_SECONDS)
    max_response_bytes: int | None = Field(default=None, gt=0, le=MAX_RESPONSE_CAP)
    enabled: bool = True
    validate_tools: bool = Field(default=True, alias="validate")

    @field_validator("url")
    @classmethod
    def _url(cls, url: str | None) -> str | None:
        return _check_url(url)

    @model_validator(mode="after")
    def _needs_target(self) -> McpCreate:
        if self.transport == "stdio":
            if not self.command:
                raise ValueError("a stdio MCP needs 'command'")
        elif not self.url:
            raise ValueError(f"a {self.transport} MCP needs 'url'")
        return self


class McpUpdate(Body):
    name: str | None = Field(default=None, min_length=1, max_length=100)
    transport: Transport | None = None
    url: str | None = Field(default=None, max_length=2048)
    headers: list[HeaderItem] | None = Field(default=None, max_length=50)
    command: str | None = Field(default=None, max_length=1024)
    args: list[str] | None = Field(default=None, max_length=100)
    env: dict[str, str] | None = Field(default=None, max_length=100)
    timeout_seconds: float | None = Field(default=None, gt=0, le=MAX_TIMEOUT_SECONDS)
    max_response_bytes: int | None = Field(default=None, gt=0, le=MAX_RESPONSE_CAP)
    enabled: bool | None = None
    validate_tools: bool = Field(default=True, alias="validate")

    @field_validator("url")
    @classmethod
    def _url(cls, url: str | None) -> str | None:
        return _check_url(url)


class CallRequest(Body):
    name: str = Field(min_length=1, max_length=256)
    arguments: dict[str, Any] = Field(default_factory=dict)


def _upper(value: Any) -> Any:
    return value.upper() if isinstance(value, str) else value


class AssistantCreate(Body):
    name: str = Field(min_length=1, max_length=200)
    instructions: str = Field(default="", max_length=100_000)
    provider: Provider = "OFFLINE"
    model: str | None = Field(default=None, max_length=200)
    languages: list[str] = Field(default_factory=list, max_length=50)
    settings: dict[str, Any] = Field(default_factory=dict)

    @field_validator("provider", mode="before")
    @classmethod
    def _provider(cls, value: Any) -> Any:
        return _upper(value)


class AssistantUpdate(Body):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    instructions: str | None = Field(default=None, max_length=100_000)
    provider: Provider | None = None
    model: str | None = Field(default=None, max_length=200)
    languages: list[str] | None = Field(default=None, max_length=50)
    settings: dict[str, Any] | None = None

    @field_validator("provider", mode="before")
    @classmethod
    def _provider(cls, value: Any) -> Any:
        return _upper(value)


class ChannelCreate(Body):
    name: str = Field(min_length=1, max_length=200)
    type: Literal["api"] = "api"
    assistant_id: str | None = None
    active: bool = True


class ChannelUpdate(Body):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    type: Literal["api"] | None = None
    assistant_id: str | None = None
    active: bool | None = None


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def mcp_to_wire(mcp: McpServer, headers: list[dict[str, str]], env: dict[str, str]) -> dict[str, Any]:
    """An MCP as the API shows it: every secret masked."""
    return {
        "id": mcp.id,
        "name": mcp.name,
        "transport": mcp.transport,
        "protocol": mcp.protocol,
        "url": mcp.url,
        "headers": [{"key": item["key"], "value": mask_secret(item["value"])} for item in headers],
        "command": mcp.command,
        "args": list(mcp.args or []),
        "env": {name: mask_secret(value) for name, value in env.items()},
        "timeout_seconds": mcp.timeout_seconds,
        "max_response_bytes": mcp.max_response_bytes,
        "enabled": mcp.enabled,
        "status": mcp.status,
        "last_error": mcp.last_error,
        "tools_count": len(mcp.tools),
        "tools_refreshed_at": _iso(mcp.tools_refreshed_at),
        "created_at": _iso(mcp.created_at),
        "updated_at": _iso(mcp.updated_at),
    }


def tool_to_wire(tool: McpTool) -> dict[str, Any]:
    wire: dict[str, Any] = {
        "name": tool.name,
        "description": tool.description,
        "input_schema": tool.input_schema,
    }
    if tool.output_schema:
        wire["output_schema"] = tool.output_schema
    if tool.annotations:
        wire["annotations"] = tool.annotations
    if tool.title:
        wire["title"] = tool.title
    return wire


def assistant_to_wire(assistant: Assistant, mcp_ids: list[str], unresolved: list[str]) -> dict[str, Any]:
    return {
        "id": assistant.id,
        "name": assistant.name,
        "instructions": assistant.instructions,
        "provider": assistant.provider,
        "model": assistant.model,
        "languages": list(assistant.languages or []),
        "settings": dict(assistant.settings or {}),
        "mcp_ids": mcp_ids,
        "unresolved_functions": unresolved,
        "created_at": _iso(assistant.created_at),
        "updated_at": _iso(assistant.updated_at),
    }


def channel_to_wire(channel: Channel) -> dict[str, Any]:
    return {
        "id": channel.id,
        "name": channel.name,
        "type": channel.type,
        "assistant_id": channel.assistant_id,
        "active": channel.active,
        "created_at": _iso(channel.created_at),
        "updated_at": _iso(channel.updated_at),
    }


def ok(message: str, data: Any) -> dict[str, Any]:
    """The success envelope of SPEC section 5."""
    return {"message": message, "data": data}
