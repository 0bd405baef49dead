"""Model providers behind one protocol (:class:`Provider`): OPENAI (any OpenAI-compatible
endpoint), ANTHROPIC, OFFLINE (built in, no network) and SCRIPTED (tests).

The SDK-backed adapters are imported lazily (``from plati.engine.providers.openai import
OpenAIProvider``) so that importing the engine does not import both SDKs."""

from plati.engine.providers.base import (
    ModelReply,
    ModelRequest,
    Provider,
    ReplyDone,
    StreamEvent,
    TextDelta,
    ToolDef,
    Usage,
    new_call_id,
)
from plati.engine.providers.errors import (
    ProviderBadReply,
    ProviderError,
    ProviderRateLimited,
    ProviderRequestError,
    ProviderTimeout,
    ProviderUnauthorized,
    ProviderUnavailable,
)

__all__ = [
    "ModelReply",
    "ModelRequest",
    "Provider",
    "ProviderBadReply",
    "ProviderError",
    "ProviderRateLimited",
    "ProviderRequestError",
    "ProviderTimeout",
    "ProviderUnauthorized",
    "ProviderUnavailable",
    "ReplyDone",
    "StreamEvent",
    "TextDelta",
    "ToolDef",
    "Usage",
    "new_call_id",
]
