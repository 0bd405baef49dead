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

from ..security.processes import ProcessPolicy
from .base import ConnectorConfig
from .mcp_session import McpConnector, ToolsChangedHook

PROTOCOL = "stdio"


class StdioConnector(McpConnector):
    """An MCP server run as a subprocess (``config.command``, ``config.args``, ``config.env``).

    With a ``processes`` policy, the operator's rule is checked before every start of the process
    (first use and every reconnection), whatever the stored configuration says.
    """

    protocol = PROTOCOL

    def __init__(
        self,
        config: ConnectorConfig,
        *,
        on_tools_changed: ToolsChangedHook | None = None,
        processes: ProcessPolicy | None = None,
    ) -> None:
        super().__init__(config, on_tools_changed=on_tools_changed)
        self.processes = processes

    def _before_connect(self) -> None:
        if self.processes is not None:
            self.processes.check(self.config.command, self.config.env)

    def _transport(self) -> AbstractAsyncContextManager[TransportStreams]:
        if not self.config.command:
            raise ValueError("A stdio connector needs a command")
        parameters = StdioServerParameters(
            command=self.config.command,
            args=list(self.config.args),
            env=dict(self.config.env) or None,
        )
        return stdio_client(parameters, errlog=sys.stderr)
