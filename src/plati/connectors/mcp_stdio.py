"""MCP over stdio: the platform starts ``command`` with ``args`` and talks over its stdin/stdout.

There are no HTTP headers on stdio, so the call context travels only as ``_meta`` entries
(``plati/conversation``, ...). The server's stderr goes to the platform's stderr. The size cap is
checked on the parsed result.
"""

from __future__ import annotations

import sys
from contextlib import AbstractAsyncContextManager

from mcp.client._transport import TransportStreams
from mcp.client.stdio import StdioServerParameters, stdio_client

from .mcp_session import McpConnector

PROTOCOL = "stdio"


class StdioConnector(McpConnector):
    """An MCP server run as a subprocess (``config.command``, ``config.args``, ``config.env``)."""

    protocol = PROTOCOL

    def _transport(self) -> AbstractAsyncContextManager[TransportStreams]:
        if not self.config.command:
            raise ValueError("A stdio connector needs a command")
        parameters = StdioServerParameters(
            command=self.config.command,
            args=list(self.config.args),
            env=dict(self.config.env) or None,
        )
        return stdio_client(parameters, errlog=sys.stderr)
