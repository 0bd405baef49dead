"""Request and response bodies of the public API, and the converters from stored rows."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any, ClassVar, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

from ..errors import InvalidRequest
from ..security.secrets import mask_secret
from ..settings import Settings
from ..store.models import Assistant, Channel, McpServer, McpTool
from .inputs import json_problems, shown

Transport = Literal["http", "rest", "streamable-http", "sse", "stdio"]
Provider = Literal["OFFLINE", "OPENAI", "ANTHROPIC"]
_HEADER_NAME = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
INT32_MAX = 2**31 - 1  # integer columns (PostgreSQL ``integer``)


class Body(BaseModel):
    """Base of every request body: unknown fields are refused, and so is any string (object keys
    and free-form values such as ``metadata`` and ``arguments`` included) holding a NUL or an
    unpaired surrogate, any NaN or infinity, and nesting deeper than
    :data:`plati.api.inputs.MAX_JSON_DEPTH` (see :mod:`plati.api.inputs`)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, allow_inf_nan=False)

    @model_validator(mode="before")
    @classmethod
    def _storable(cls, data: Any) -> Any:
        problems = json_problems(data)
        if problems:
            raise ValidationError.from_exception_data(cls.__name__, problems)
        return data

    # Fields bounded by an operator maximum: field name -> the Settings attribute holding it.
    maximums: ClassVar[Mapping[str, str]] = {}

    def over_maximums(self, settings: Settings, prefix: str = "") -> list[dict[str, str]]:
        """Every field (nested bodies included) above its operator maximum, as ``[{field, message}]``."""
        problems: list[dict[str, str]] = []
        for name in type(self).model_fields:
            value = getattr(self, name)
            if isinstance(value, Body):
                problems.extend(value.over_maximums(settings, f"{prefix}{name}."))
            elif name in self.maximums and isinstance(value, int | float) and not isinstance(value, bool):
                setting = self.maximums[name]
                limit = getattr(settings, setting)
                if isinstance(value, int):
                    limit = min(limit, INT32_MAX)
                if value > limit:
                    message = f"at most {_number(limit)} (PLATI_{setting.upper()})"
                    problems.append({"field": f"{prefix}{name}", "message": message})
        return problems

    def check_maximums(self, settings: Settings) -> None:
        """Refuse a value above what the operator allows (``PLATI_MAX_*`` settings).

        Raises:
            InvalidRequest: a field is above its maximum (details name each field and setting).
        """
        problems = self.over_maximums(settings)
        if problems:
            summary = "; ".join(f"{item['field']}: {item['message']}" for item in problems)
            raise InvalidRequest(f"Invalid request: {summary}", details=problems)


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


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


_URL_PATTERN = r"^[Hh][Tt][Tt][Pp][Ss]?://[^\s/]+"  # schemes are case-insensitive (RFC 3986)
_URL_SCHEMA: dict[str, Any] = {"pattern": _URL_PATTERN}  # documented; checked by _check_url


def _check_url(url: str | None) -> str | None:
    """The shape of an http(s) URL: scheme, a host, a port in range (where it may point is the
    network policy's business, when it is used)."""
    if url is None:
        return None
    if not re.match(_URL_PATTERN, url):
        raise ValueError("must be an http:// or https:// URL")
    malformed = ValueError("must be a well-formed http:// or https:// URL (a host, an optional port 1-65535)")
    if any(ord(char) <= 0x20 or ord(char) == 0x7F for char in url):
        # Spaces and control characters: HTTP clients refuse such a URL when they are built.
        raise malformed
    try:
        parts = urlsplit(url)
        port = parts.port  # raises for a port that is not a number in 0-65535
    except ValueError:
        raise malformed from None
    if not parts.hostname or port == 0:
        raise malformed
    return url


_MCP_MAXIMUMS = {"timeout_seconds": "max_mcp_timeout_seconds", "max_response_bytes": "max_mcp_response_bytes"}


class McpCreate(Body):
    maximums = _MCP_MAXIMUMS

    name: str = Field(min_length=1, max_length=100)
    transport: Transport = "http"
    url: str | None = Field(default=None, max_length=2048, json_schema_extra=_URL_SCHEMA)
    headers: list[HeaderItem] = Field(default_factory=list, max_length=50)
    command: str | None = Field(default=None, max_length=1024)
    args: list[str] = Field(default_factory=list, max_length=100)
    env: dict[str, str] = Field(default_factory=dict, max_length=100)
    timeout_seconds: float | None = Field(default=None, gt=0, description="At most PLATI_MAX_MCP_TIMEOUT_SECONDS")
    max_response_bytes: int | None = Field(default=None, gt=0, description="At most PLATI_MAX_MCP_RESPONSE_BYTES")
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
    maximums = _MCP_MAXIMUMS

    name: str | None = Field(default=None, min_length=1, max_length=100)
    transport: Transport | None = None
    url: str | None = Field(default=None, max_length=2048, json_schema_extra=_URL_SCHEMA)
    headers: list[HeaderItem] | None = Field(default=None, max_length=50)
    command: str | None = Field(default=None, max_length=1024)
    args: list[str] | None = Field(default=None, max_length=100)
    env: dict[str, str] | None = Field(default=None, max_length=100)
    timeout_seconds: float | None = Field(default=None, gt=0, description="At most PLATI_MAX_MCP_TIMEOUT_SECONDS")
    max_response_bytes: int | None = Field(default=None, gt=0, description="At most PLATI_MAX_MCP_RESPONSE_BYTES")
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


class AssistantSettings(Body):
    """An assistant's model settings, each optional; the size, step and time knobs are bounded by
    the operator's maximums (``PLATI_MAX_OUTPUT_TOKENS``, ``PLATI_MAX_PROVIDER_TIMEOUT_SECONDS``,
    ``PLATI_MAX_STEP_LIMIT``)."""

    maximums = {
        "max_tokens": "max_output_tokens",
        "timeout_seconds": "max_provider_timeout_seconds",
        "step_limit": "max_step_limit",
    }

    base_url: str | None = Field(
        default=None,
        max_length=2048,
        description="An OpenAI/Anthropic-compatible server",
        json_schema_extra=_URL_SCHEMA,
    )
    temperature: float | None = Field(default=None, ge=0, le=2)
    max_tokens: int | None = Field(default=None, ge=1, description="At most PLATI_MAX_OUTPUT_TOKENS")
    timeout_seconds: float | None = Field(default=None, gt=0, description="At most PLATI_MAX_PROVIDER_TIMEOUT_SECONDS")
    step_limit: int | None = Field(default=None, ge=1, description="Model calls per turn; at most PLATI_MAX_STEP_LIMIT")

    @model_validator(mode="before")
    @classmethod
    def _known_keys(cls, data: Any) -> Any:
        if isinstance(data, dict):
            known = ", ".join(cls.model_fields)
            unknown = [str(key) for key in data if key not in cls.model_fields]
            if unknown:
                raise ValidationError.from_exception_data(
                    cls.__name__,
                    [
                        InitErrorDetails(
                            type=PydanticCustomError(
                                "unknown_setting", "unknown setting; the known ones are {known}", {"known": known}
                            ),
                            loc=(shown(key),),
                            input=None,
                        )
                        for key in unknown
                    ],
                )
        return data

    @field_validator("base_url")
    @classmethod
    def _url(cls, url: str | None) -> str | None:
        return _check_url(url)

    def stored(self) -> dict[str, Any]:
        """The settings as stored and shown: the ones given, without nulls."""
        return self.model_dump(exclude_none=True)


class AssistantCreate(Body):
    name: str = Field(min_length=1, max_length=200)
    instructions: str = Field(default="", max_length=100_000)
    provider: Provider = "OFFLINE"
    model: str | None = Field(default=None, max_length=200)
    languages: list[str] = Field(default_factory=list, max_length=50)
    settings: AssistantSettings = Field(default_factory=AssistantSettings)

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
    settings: AssistantSettings | None = None

    @field_validator("provider", mode="before")
    @classmethod
    def _provider(cls, value: Any) -> Any:
        return _upper(value)


MultitaskStrategy = Literal["enqueue", "reject", "interrupt"]
_MULTITASK_HELP = (
    "What a message does when it arrives while a reply in its conversation is running: enqueue "
    "(answered after it), reject (409 conversation_busy) or interrupt (the running reply is "
    "cancelled, what it stored is kept and marked, and this message is answered next)"
)


class ChannelCreate(Body):
    name: str = Field(min_length=1, max_length=200)
    type: Literal["api"] = "api"
    assistant_id: str | None = None
    active: bool = True
    multitask_strategy: MultitaskStrategy = Field(default="enqueue", description=_MULTITASK_HELP)


class ChannelUpdate(Body):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    type: Literal["api"] | None = None
    assistant_id: str | None = None
    active: bool | None = None
    multitask_strategy: MultitaskStrategy | None = Field(default=None, description=_MULTITASK_HELP)


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
        "endpoint": mcp.endpoint,
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


def assistant_to_wire(
    assistant: Assistant, mcp_ids: list[str], unresolved: list[str], ambiguous: dict[str, list[str]] | None = None
) -> dict[str, Any]:
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
        "ambiguous_functions": [{"name": name, "model_names": names} for name, names in (ambiguous or {}).items()],
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
        "multitask_strategy": channel.multitask_strategy,
        "created_at": _iso(channel.created_at),
        "updated_at": _iso(channel.updated_at),
    }


def ok(message: str, data: Any) -> dict[str, Any]:
    """The success envelope of SPEC section 5."""
    return {"message": message, "data": data}
