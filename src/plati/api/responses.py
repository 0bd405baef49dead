"""What the API answers, as documented in the OpenAPI document (``plati.api.openapi``).

These models describe the JSON the routes build (``plati.api.wire``); they are documentation and
a contract checked by the tests against real responses, not a second serialization step on the
hot path. Every object may carry keys added later (``extra="allow"``).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class ErrorInfo(_Open):
    code: str = Field(description="snake_case, e.g. `not_found`, `validation_error`, `upstream_timeout`")
    details: Any = Field(default=None, description="What the code needs: `[{field, message}]` for validation")


class ErrorEnvelope(_Open):
    """Every error: a human sentence and a machine code."""

    message: str
    error: ErrorInfo


class KeyValue(_Open):
    key: str
    value: str = Field(description="Masked: only the last characters are shown")


class Mcp(_Open):
    """A registered function server; header and env values masked."""

    id: str
    name: str
    transport: str = Field(description="http (auto-detect) | rest | streamable-http | sse | stdio")
    protocol: str | None = Field(description="What it speaks (detected for transport http)")
    url: str | None
    endpoint: str | None = Field(description="For transport http: the URL detection chose (the url or its parent)")
    headers: list[KeyValue]
    command: str | None
    args: list[str]
    env: dict[str, str]
    timeout_seconds: float
    max_response_bytes: int
    enabled: bool
    status: str = Field(description="ok | error | unknown")
    last_error: str | None
    tools_count: int
    tools_refreshed_at: str | None
    created_at: str | None
    updated_at: str | None


class Tool(_Open):
    name: str
    description: str | None
    input_schema: dict[str, Any]
    output_schema: dict[str, Any] | None = None
    annotations: dict[str, Any] | None = None
    title: str | None = None


class McpWithTools(Mcp):
    tools: list[Tool]


class AssistantFunction(_Open):
    name: str = Field(description="The model-facing name (namespaced `mcp__function` when two MCPs share one)")
    function: str
    mcp_id: str
    mcp_name: str
    description: str | None
    input_schema: dict[str, Any]


class AmbiguousFunction(_Open):
    name: str
    model_names: list[str] = Field(description="The names the model sees for it; write one of them to pick one")


class Assistant(_Open):
    id: str
    name: str
    instructions: str | None
    provider: str
    model: str | None
    languages: list[str]
    settings: dict[str, Any]
    mcp_ids: list[str]
    unresolved_functions: list[str] = Field(description="Prompt references no attached MCP offers")
    ambiguous_functions: list[AmbiguousFunction] = Field(description="Prompt references several attached MCPs offer")
    created_at: str | None
    updated_at: str | None


class Channel(_Open):
    id: str
    name: str
    type: str
    assistant_id: str | None
    active: bool
    multitask_strategy: str | None
    created_at: str | None
    updated_at: str | None


class Deleted(_Open):
    id: str


class FunctionCallResult(_Open):
    name: str
    success: bool
    duration_ms: float
    data: Any = None
    error: str | None = None
    task_id: str | None = None


class FunctionCallRecord(_Open):
    id: str | None = None
    mcp_id: str | None = None
    name: str
    arguments: Any = None
    success: bool
    duration_ms: float | None = None


class ChatReply(_Open):
    conversation_id: str
    message_id: str | int | None = None
    reply: str | None
    function_calls: list[FunctionCallRecord]
    usage: dict[str, Any]


class ConversationSummary(_Open):
    id: str
    channel_id: str | None
    identity_id: str
    created_at: str
    updated_at: str


class ConversationPage(_Open):
    conversations: list[ConversationSummary]
    has_more: bool
    next_offset: int | None


class StoredMessage(_Open):
    id: str | int
    seq: int
    kind: str | None = None
    created_at: str


class MessagePage(_Open):
    messages: list[StoredMessage]
    has_more: bool
    next_after: int | None


class Health(_Open):
    status: str
    version: str


DATA_MODELS: dict[tuple[str, str], tuple[type[BaseModel], bool] | None] = {
    # (method, path) -> (model of `data`, is a list); None: any JSON object
    ("get", "/health"): (Health, False),
    ("post", "/workspace/mcps"): (Mcp, False),
    ("get", "/workspace/mcps"): (Mcp, True),
    ("get", "/workspace/mcps/{mcp_id}"): (Mcp, False),
    ("patch", "/workspace/mcps/{mcp_id}"): (Mcp, False),
    ("delete", "/workspace/mcps/{mcp_id}"): (Deleted, False),
    ("get", "/workspace/mcps/{mcp_id}/tools"): (Tool, True),
    ("post", "/workspace/mcps/{mcp_id}/refresh"): (McpWithTools, False),
    ("post", "/workspace/mcps/{mcp_id}/call"): (FunctionCallResult, False),
    ("post", "/assistant"): (Assistant, False),
    ("get", "/assistants"): (Assistant, True),
    ("get", "/assistant/{assistant_id}"): (Assistant, False),
    ("patch", "/assistant/{assistant_id}"): (Assistant, False),
    ("delete", "/assistant/{assistant_id}"): (Deleted, False),
    ("put", "/assistant/{assistant_id}/mcp/{mcp_id}"): (Assistant, False),
    ("delete", "/assistant/{assistant_id}/mcp/{mcp_id}"): (Assistant, False),
    ("get", "/assistant/{assistant_id}/mcp/tools"): (AssistantFunction, True),
    ("post", "/channels"): (Channel, False),
    ("get", "/channels"): (Channel, True),
    ("get", "/channels/{channel_id}"): (Channel, False),
    ("put", "/channels/{channel_id}"): (Channel, False),
    ("delete", "/channels/{channel_id}"): (Deleted, False),
    ("post", "/conversation/{identity_id}/chat/{channel_id}"): (ChatReply, False),
    ("get", "/conversations"): (ConversationPage, False),
    ("get", "/conversation/{conversation_id}/messages"): (MessagePage, False),
    ("get", "/workspace/settings"): None,
    ("patch", "/workspace/settings"): None,
}
