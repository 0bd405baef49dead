"""plati_mcp: expose Python functions to AI assistants.

One set of decorated functions is served over the simple function protocol (``GET /tools``,
``POST /call``) and the Model Context Protocol (Streamable HTTP at ``/mcp``, and stdio)::

    from plati_mcp import MCP

    mcp = MCP(name="Order Management")

    @mcp.function(name="check_order_status", description="Check order status and tracking",
                  parameters={"order_id": {"type": "string", "required": True}})
    def check_order_status(order_id: str):
        return {"status": "shipped", "tracking": "123456"}

    if __name__ == "__main__":
        mcp.run(host="0.0.0.0", port=5000)
"""

from .context import CallerInfo, Context
from .errors import ArgumentsInvalid, DefinitionError, FunctionError, PlatiMCPError, UnknownFunction
from .function import Function
from .server import MCP
from .tasks import verify_signature
from .testing import CallResponse, FunctionTestClient

__all__ = [
    "MCP",
    "ArgumentsInvalid",
    "CallResponse",
    "CallerInfo",
    "Context",
    "DefinitionError",
    "Function",
    "FunctionError",
    "FunctionTestClient",
    "PlatiMCPError",
    "UnknownFunction",
    "verify_signature",
]
