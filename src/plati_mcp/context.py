"""What a function knows about the call it serves: who is calling, per-conversation state,
progress reporting and chaining to other functions (``ctx: Context``)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from .state import State

if TYPE_CHECKING:
    from .executor import Executor

# The context headers of SPEC section 2 (lower-case, as ASGI delivers them).
HEADER_WORKSPACE = "x-plati-workspace"
HEADER_ASSISTANT = "x-plati-assistant"
HEADER_CONVERSATION = "x-plati-conversation"
HEADER_IDENTITY = "x-plati-identity"
HEADER_REQUEST_ID = "x-plati-request-id"
HEADER_CALLBACK_URL = "x-plati-callback-url"
HEADER_IDEMPOTENCY_KEY = "idempotency-key"


@dataclass(frozen=True)
class CallerInfo:
    """Caller metadata, read from the ``X-Plati-*`` headers (all optional)."""

    workspace_id: str | None = None
    assistant_id: str | None = None
    conversation_id: str | None = None
    identity_id: str | None = None
    request_id: str | None = None
    idempotency_key: str | None = None
    callback_url: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    credential: str | None = None

    @classmethod
    def from_headers(cls, headers: Mapping[str, str], credential: str | None = None) -> CallerInfo:
        """Build from lower-cased header names, e.g. an ASGI scope's headers decoded into a dict."""
        return cls(
            workspace_id=headers.get(HEADER_WORKSPACE),
            assistant_id=headers.get(HEADER_ASSISTANT),
            conversation_id=headers.get(HEADER_CONVERSATION),
            identity_id=headers.get(HEADER_IDENTITY),
            request_id=headers.get(HEADER_REQUEST_ID),
            idempotency_key=headers.get(HEADER_IDEMPOTENCY_KEY),
            callback_url=headers.get(HEADER_CALLBACK_URL),
            headers=headers,
            credential=credential,
        )

    def with_meta(self, meta: Mapping[str, Any]) -> CallerInfo:
        """Fill what the headers did not say from an MCP request's ``_meta`` (``plati/...`` keys):
        over stdio there are no headers, so the platform sends its context there."""

        def pick(key: str, current: str | None) -> str | None:
            value = meta.get(f"plati/{key}")
            return current if current is not None or not isinstance(value, str) else value

        return replace(
            self,
            workspace_id=pick("workspace", self.workspace_id),
            assistant_id=pick("assistant", self.assistant_id),
            conversation_id=pick("conversation", self.conversation_id),
            identity_id=pick("identity", self.identity_id),
            request_id=pick("request_id", self.request_id),
            idempotency_key=pick("idempotency_key", self.idempotency_key),
        )

    @property
    def state_scope(self) -> str | None:
        """The key of this caller's state: the conversation, else the identity, else none."""
        if self.conversation_id:
            return f"conversation:{self.workspace_id or '-'}:{self.conversation_id}"
        if self.identity_id:
            return f"identity:{self.workspace_id or '-'}:{self.identity_id}"
        return None


ProgressSink = Callable[[float, float | None, str | None], Awaitable[None]]
"""Receives ``(progress, total, message)`` from ``ctx.report_progress``."""


class Context:
    """Passed to functions that declare a parameter annotated ``Context``.

    Attributes:
        state: per-conversation key/value state (JSON values), saved after the call. Calls without a
            conversation (or identity) header get a fresh state that is not kept.
    """

    def __init__(
        self,
        *,
        function: str,
        caller: CallerInfo,
        state: State,
        executor: Executor,
        progress: ProgressSink | None = None,
        depth: int = 0,
    ) -> None:
        self.function = function
        self.caller = caller
        self.state = state
        self._executor = executor
        self._progress = progress
        self._depth = depth

    @property
    def workspace_id(self) -> str | None:
        return self.caller.workspace_id

    @property
    def assistant_id(self) -> str | None:
        return self.caller.assistant_id

    @property
    def conversation_id(self) -> str | None:
        return self.caller.conversation_id

    @property
    def identity_id(self) -> str | None:
        return self.caller.identity_id

    @property
    def request_id(self) -> str | None:
        return self.caller.request_id

    @property
    def idempotency_key(self) -> str | None:
        return self.caller.idempotency_key

    @property
    def headers(self) -> Mapping[str, str]:
        return self.caller.headers

    async def report_progress(self, progress: float, total: float | None = None, message: str | None = None) -> None:
        """Tell the caller how far the work is (an MCP progress notification when the caller asked
        for progress; nothing otherwise)."""
        if self._progress is not None:
            await self._progress(progress, total, message)

    async def call(self, name: str, /, **arguments: Any) -> Any:
        """Call another function of this server in-process, with the same validation and context.

        Returns what the other function returns.

        Raises:
            UnknownFunction: no function of that name.
            ArgumentsInvalid: the arguments do not fit its schema.
            FunctionError: the other function reported a failure.
        """
        return await self._executor.call_nested(name, arguments, self)

    def child(self, function: str) -> Context:
        return Context(
            function=function,
            caller=self.caller,
            state=self.state,
            executor=self._executor,
            progress=self._progress,
            depth=self._depth + 1,
        )

    @property
    def depth(self) -> int:
        return self._depth
