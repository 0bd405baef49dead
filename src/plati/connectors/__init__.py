"""Connectors: how the platform talks to function servers (the simple protocol and MCP).

See ``docs/platform-architecture.md`` ("Connectors") for the contract.
"""

from .base import (
    CallContext,
    CallResult,
    Connector,
    ConnectorConfig,
    Discovery,
    ProtocolName,
    ToolSpec,
    Transport,
)
from .detect import detect, open_connector
from .errors import (
    FunctionNotFound,
    UpstreamBadReply,
    UpstreamError,
    UpstreamTimeout,
    UpstreamTooLarge,
    UpstreamUnauthorized,
    UpstreamUnreachable,
)
from .manager import ConnectorManager
from .mcp_http import StreamableHttpConnector
from .mcp_session import McpConnector, ToolsChangedHook
from .mcp_sse import SseConnector
from .mcp_stdio import StdioConnector
from .rest import RestConnector

__all__ = [
    "CallContext",
    "CallResult",
    "Connector",
    "ConnectorConfig",
    "ConnectorManager",
    "Discovery",
    "FunctionNotFound",
    "McpConnector",
    "ProtocolName",
    "RestConnector",
    "SseConnector",
    "StdioConnector",
    "StreamableHttpConnector",
    "ToolSpec",
    "ToolsChangedHook",
    "Transport",
    "UpstreamBadReply",
    "UpstreamError",
    "UpstreamTimeout",
    "UpstreamTooLarge",
    "UpstreamUnauthorized",
    "UpstreamUnreachable",
    "detect",
    "open_connector",
]
