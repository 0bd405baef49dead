"""The conversation engine (SPEC section 6): the provider-neutral message model
(:mod:`plati.engine.messages`) and the model providers (:mod:`plati.engine.providers`); see
``docs/engine-contract.md``."""

from plati.engine.messages import (
    AssistantText,
    ErrorPart,
    FunctionCall,
    FunctionResult,
    Part,
    UserText,
    parts_adapter,
)
from plati.engine.providers.base import (
    ModelReply,
    ModelRequest,
    Provider,
    ReplyDone,
    TextDelta,
    ToolDef,
    Usage,
)

__all__ = [
    "AssistantText",
    "ErrorPart",
    "FunctionCall",
    "FunctionResult",
    "ModelReply",
    "ModelRequest",
    "Part",
    "Provider",
    "ReplyDone",
    "TextDelta",
    "ToolDef",
    "Usage",
    "UserText",
    "parts_adapter",
]
