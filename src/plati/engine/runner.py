"""How a turn runs (SPEC section 6).

Serialize turns per conversation → store the user message → render the prompt → gather the
assistant's functions → call the model → validate each requested call → run the calls (in
parallel) → feed the results back → repeat up to the step limit → store and return the reply.

Every part is stored as it happens, in its own short transaction, so a crash loses nothing that
was already stored; the turn row says whether the turn completed or failed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import time
import weakref
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic_core import to_jsonable_python
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ..connectors import CallContext, FunctionNotFound
from ..errors import Conflict, NotFound, PlatiError, UpstreamError
from ..ids import new_id, utcnow
from ..registry import AttachedFunction, Registry, schema_problems
from ..settings import Settings
from ..store.models import Assistant, Channel, Conversation, Identity, McpServer, Message, Turn, Workspace
from .factory import ProviderFactory
from .messages import AssistantText, ErrorPart, FunctionCall, FunctionResult, Part, UserText, part_adapter
from .providers import ModelReply, ModelRequest, ReplyDone, TextDelta, ToolDef, Usage
from .templating import TemplateContext, render_instructions

logger = logging.getLogger("plati.engine")

HISTORY_LIMIT = 200  # parts of earlier turns the model sees
Emit = Callable[[dict[str, Any]], Awaitable[None]]


@dataclass(frozen=True)
class ChatRequest:
    workspace_id: str
    identity: str  # the caller's free-form identity id
    channel_id: str
    text: str
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass
class PreparedTurn:
    """Everything resolved before the model runs (errors here are plain HTTP errors)."""

    request: ChatRequest
    assistant: Assistant
    identity: Identity
    conversation: Conversation
    workspace_settings: dict[str, str] = field(default_factory=dict)


@dataclass
class _TurnState:
    prepared: PreparedTurn
    turn_id: str
    seq: int
    usage: Usage = field(default_factory=Usage)
    calls: list[dict[str, Any]] = field(default_factory=list)
    reply_message_id: str | None = None
    functions: list[AttachedFunction] = field(default_factory=list)
    mcps: dict[str, McpServer] = field(default_factory=dict)
    history: list[Part] = field(default_factory=list)


class TurnRunner:
    def __init__(
        self,
        settings: Settings,
        sessionmaker: async_sessionmaker[AsyncSession],
        registry: Registry,
        providers: ProviderFactory,
    ) -> None:
        self.settings = settings
        self.sessionmaker = sessionmaker
        self.registry = registry
        self.providers = providers
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()
        self._background: set[asyncio.Task[Any]] = set()

    # -- preparation ----------------------------------------------------------------------------

    async def prepare(self, request: ChatRequest) -> PreparedTurn:
        """Resolve the channel, its assistant, the identity and the conversation (creating the
        last two on first use).

        Raises:
            NotFound: no such channel in the workspace.
            Conflict: the channel is inactive or has no assistant.
        """
        async with self.sessionmaker() as session:
            row = (
                await session.execute(
                    select(Channel, Assistant, Workspace.settings_encrypted)
                    .outerjoin(Assistant, Assistant.id == Channel.assistant_id)
                    .join(Workspace, Workspace.id == Channel.workspace_id)
                    .where(Channel.id == request.channel_id, Channel.workspace_id == request.workspace_id)
                )
            ).first()
        if row is None:
            raise NotFound(f"No channel {request.channel_id} in this workspace")
        channel, assistant, encrypted = row
        if not channel.active:
            raise Conflict(f"Channel {channel.id} is inactive")
        if assistant is None:
            raise Conflict(f"Channel {channel.id} has no assistant; set assistant_id on it first")
        workspace_settings: dict[str, str] = self.registry.box.decrypt_json(encrypted) if encrypted else {}
        # Fail before anything is stored when the assistant's provider cannot be built.
        self.providers.for_assistant(assistant, workspace_settings)
        identity, conversation = await self._known_conversation(request)
        if identity is None:
            identity = await self._identity(request)
        if conversation is None:
            conversation = await self._conversation(request, identity)
        return PreparedTurn(request, assistant, identity, conversation, workspace_settings)

    async def _known_conversation(self, request: ChatRequest) -> tuple[Identity | None, Conversation | None]:
        """The identity and its conversation on the channel, in one query (the usual case)."""
        async with self.sessionmaker() as session:
            row = (
                await session.execute(
                    select(Identity, Conversation)
                    .outerjoin(
                        Conversation,
                        (Conversation.identity_id == Identity.id) & (Conversation.channel_id == request.channel_id),
                    )
                    .where(Identity.workspace_id == request.workspace_id, Identity.external_id == request.identity)
                )
            ).first()
        if row is None:
            return None, None
        identity, conversation = row
        name = request.metadata.get("name")
        if isinstance(name, str) and name and identity.name != name:
            return None, conversation  # the slow path records the new name
        return identity, conversation

    async def _identity(self, request: ChatRequest) -> Identity:
        name = request.metadata.get("name") if isinstance(request.metadata.get("name"), str) else None
        for _attempt in range(2):
            async with self.sessionmaker() as session:
                identity = await session.scalar(
                    select(Identity).where(
                        Identity.workspace_id == request.workspace_id, Identity.external_id == request.identity
                    )
                )
                if identity is not None:
                    if name and identity.name != name:
                        identity.name = name
                        await session.commit()
                    return identity
                identity = Identity(
                    id=new_id("idn"),
                    workspace_id=request.workspace_id,
                    external_id=request.identity,
                    name=name,
                    created_at=utcnow(),
                )
                session.add(identity)
                try:
                    await session.commit()
                    return identity
                except IntegrityError:  # created by a concurrent first message: read it
                    await session.rollback()
        raise Conflict(f"Could not create identity {request.identity!r}; retry the request")

    async def _conversation(self, request: ChatRequest, identity: Identity) -> Conversation:
        for _attempt in range(2):
            async with self.sessionmaker() as session:
                conversation = await session.scalar(
                    select(Conversation).where(
                        Conversation.channel_id == request.channel_id, Conversation.identity_id == identity.id
                    )
                )
                if conversation is not None:
                    return conversation
                now = utcnow()
                conversation = Conversation(
                    id=new_id("conv"),
                    workspace_id=request.workspace_id,
                    channel_id=request.channel_id,
                    identity_id=identity.id,
                    created_at=now,
                    updated_at=now,
                )
                session.add(conversation)
                try:
                    await session.commit()
                    return conversation
                except IntegrityError:
                    await session.rollback()
        raise Conflict("Could not create the conversation; retry the request")

    # -- running --------------------------------------------------------------------------------

    async def run(self, prepared: PreparedTurn, emit: Emit | None = None) -> dict[str, Any]:
        """Run one turn to the end and return the reply data (SPEC section 5).

        Raises:
            UpstreamError: the model provider failed (the user's message and the error are stored).
            PlatiError: anything else that ended the turn (stored as failed).
        """
        lock = self._locks.get(prepared.conversation.id)
        if lock is None:
            lock = asyncio.Lock()
            self._locks[prepared.conversation.id] = lock
        async with lock:
            state = await self._start(prepared)
            try:
                return await self._loop(state, emit)
            except PlatiError as exc:
                await self._fail(state, exc.message)
                raise
            except Exception as exc:
                error_id = secrets.token_hex(4)
                logger.error("Turn %s failed (error id %s)", state.turn_id, error_id, exc_info=exc)
                await self._fail(state, f"Internal error (id {error_id})")
                raise PlatiError(f"Internal error (id {error_id})") from exc
            except asyncio.CancelledError:
                await asyncio.shield(self._fail(state, "The turn was cancelled"))
                raise

    def run_detached(self, prepared: PreparedTurn, emit: Emit | None = None) -> asyncio.Task[dict[str, Any]]:
        """Run a turn as a task of its own, so a client that goes away does not cancel it."""
        task = asyncio.create_task(self.run(prepared, emit))
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return task

    async def _start(self, prepared: PreparedTurn) -> _TurnState:
        """Store the turn and the user's message, and load what the model needs: one transaction."""
        turn_id = new_id("turn")
        now = utcnow()
        async with self.sessionmaker() as session, session.begin():
            last = await session.scalar(
                select(func.max(Message.seq)).where(Message.conversation_id == prepared.conversation.id)
            )
            session.add(
                Turn(
                    id=turn_id,
                    conversation_id=prepared.conversation.id,
                    assistant_id=prepared.assistant.id,
                    status="running",
                    usage={},
                    started_at=now,
                )
            )
            await session.execute(
                update(Conversation).where(Conversation.id == prepared.conversation.id).values(updated_at=now)
            )
            state = _TurnState(prepared=prepared, turn_id=turn_id, seq=(last or 0))
            self._add_parts(session, state, [(UserText(text=prepared.request.text), None)])
            state.functions, state.mcps = await self.registry.attached(session, prepared.assistant.id)
            state.history = await self._history(session, prepared.conversation.id)
        return state

    async def _loop(self, state: _TurnState, emit: Emit | None) -> dict[str, Any]:
        prepared = state.prepared
        provider = self.providers.for_assistant(prepared.assistant, prepared.workspace_settings)
        functions, mcps, history = state.functions, state.mcps, state.history
        by_name = {fn.ref.model_name: fn for fn in functions}
        system = render_instructions(
            prepared.assistant.instructions or "",
            [fn.ref for fn in functions],
            TemplateContext(
                identity_id=prepared.identity.external_id,
                identity_name=prepared.identity.name,
                conversation_id=prepared.conversation.id,
                now=utcnow(),
            ),
        )
        tools = [ToolDef(fn.ref.model_name, fn.description, fn.input_schema) for fn in functions]
        options = prepared.assistant.settings or {}
        step_limit = int(options.get("step_limit") or self.settings.step_limit)
        for _step in range(step_limit):
            model_request = ModelRequest(
                system=system,
                history=list(history),  # a snapshot: the turn keeps appending to its own list
                tools=tools,
                model=prepared.assistant.model,
                temperature=options.get("temperature"),
                max_tokens=options.get("max_tokens"),
            )
            reply = await self._ask(provider, model_request, emit)
            state.usage = state.usage + reply.usage
            history.extend(reply.parts)
            calls = reply.calls
            if not calls:
                return await self._complete(state, reply.text, emit, reply.parts)
            await self._store(state, [(part, None) for part in reply.parts])
            for call in calls:
                fn = by_name.get(call.name)
                if emit is not None:
                    await emit(
                        {
                            "type": "function_call",
                            "id": call.call_id,
                            "name": call.name,
                            "arguments": call.arguments,
                            "mcp_id": fn.ref.mcp_id if fn else None,
                        }
                    )
            results = await asyncio.gather(
                *(self._execute(state, call, by_name.get(call.name), mcps) for call in calls)
            )
            await self._store(state, [(result, record) for result, record in results])
            for result, record in results:
                history.append(result)
                state.calls.append(record)
                if emit is not None:
                    await emit({"type": "function_result", **record})
        text = (
            f"I could not finish this request within {step_limit} steps, so I stopped here. "
            "Please try rephrasing it or splitting it into smaller requests."
        )
        if emit is not None:
            await emit({"type": "token", "content": text})
        return await self._complete(state, text, emit, [AssistantText(text=text)])

    async def _ask(self, provider: Any, request: ModelRequest, emit: Emit | None) -> ModelReply:
        if emit is None:
            reply: ModelReply = await provider.complete(request)
            return reply
        async with contextlib.aclosing(provider.stream(request)) as events:
            async for event in events:
                if isinstance(event, TextDelta):
                    await emit({"type": "token", "content": event.text})
                elif isinstance(event, ReplyDone):
                    return event.reply
        raise UpstreamError("The model's stream ended without a reply", code="provider_bad_reply")

    async def _execute(
        self,
        state: _TurnState,
        call: FunctionCall,
        fn: AttachedFunction | None,
        mcps: dict[str, McpServer],
    ) -> tuple[FunctionResult, dict[str, Any]]:
        started = time.perf_counter()
        record: dict[str, Any] = {
            "id": call.call_id,
            "mcp_id": fn.ref.mcp_id if fn else None,
            "name": call.name,
            "arguments": call.arguments,
        }

        def failed(error: str) -> tuple[FunctionResult, dict[str, Any]]:
            record.update(success=False, error=error, duration_ms=_ms(started))
            return FunctionResult(call_id=call.call_id, name=call.name, success=False, error=error), record

        if fn is None:
            return failed(f"Unknown function {call.name!r}; call one of the functions you were given.")
        problems = schema_problems(fn.input_schema, call.arguments)
        if problems:
            details = "; ".join(f"{p['field'] or '(arguments)'}: {p['message']}" for p in problems)
            return failed(f"Invalid arguments for {call.name}: {details}")
        mcp = mcps.get(fn.ref.mcp_id)
        if mcp is None:
            return failed(f"The function {call.name} is no longer available")
        prepared = state.prepared
        context = CallContext(
            workspace_id=prepared.request.workspace_id,
            assistant_id=prepared.assistant.id,
            conversation_id=prepared.conversation.id,
            identity_id=prepared.identity.external_id,
            request_id=state.turn_id,
            idempotency_key=f"{state.turn_id}:{call.call_id}",
        )
        try:
            connector = await self.registry.connectors.get(mcp.id, self.registry.config_of(mcp))
            result = await connector.call(fn.ref.function, call.arguments, context)
        except FunctionNotFound as exc:
            await self.registry.mark_stale(mcp.id)
            return failed(exc.message)
        except UpstreamError as exc:
            return failed(exc.message)
        if not result.success:
            return failed(result.error or "The function failed")
        data, truncated = self._cap(
            result.data if result.task_id is None else {"task_id": result.task_id, **_as_dict(result.data)}
        )
        record.update(success=True, result=data, duration_ms=_ms(started))
        if truncated:
            record["truncated"] = True
        return (
            FunctionResult(call_id=call.call_id, name=call.name, success=True, result=data, truncated=truncated),
            record,
        )

    def _cap(self, data: Any) -> tuple[Any, bool]:
        """Results over the size cap are cut (as text) and marked, so one huge reply cannot
        crowd the model's context out."""
        limit = self.settings.result_max_chars
        jsonable = to_jsonable_python(data)
        text = jsonable if isinstance(jsonable, str) else json.dumps(jsonable, ensure_ascii=False)
        if len(text) <= limit:
            return jsonable, False
        return text[:limit], True

    async def _complete(
        self, state: _TurnState, text: str, emit: Emit | None, parts: Sequence[Part] = ()
    ) -> dict[str, Any]:
        """Store the reply's parts and mark the turn completed, in one transaction."""
        usage = {"input_tokens": state.usage.input_tokens, "output_tokens": state.usage.output_tokens}
        async with self.sessionmaker() as session, session.begin():
            self._add_parts(session, state, [(part, None) for part in parts])
            await session.execute(
                update(Turn)
                .where(Turn.id == state.turn_id)
                .values(status="completed", usage=usage, finished_at=utcnow())
            )
        prepared = state.prepared
        data = {
            "conversation_id": prepared.conversation.id,
            "turn_id": state.turn_id,
            "message_id": state.reply_message_id,
            "identity_id": prepared.identity.external_id,
            "channel_id": prepared.request.channel_id,
            "assistant_id": prepared.assistant.id,
            "reply": text,
            "function_calls": state.calls,
            "usage": usage,
        }
        if emit is not None:
            await emit({"type": "complete", "content": text, "data": data})
        return data

    async def _fail(self, state: _TurnState, message: str) -> None:
        with contextlib.suppress(Exception):  # the turn is already failing; keep the first error
            await self._store(state, [(ErrorPart(message=message), None)])
        async with self.sessionmaker() as session, session.begin():
            await session.execute(
                update(Turn)
                .where(Turn.id == state.turn_id)
                .values(
                    status="failed",
                    error=message,
                    usage={"input_tokens": state.usage.input_tokens, "output_tokens": state.usage.output_tokens},
                    finished_at=utcnow(),
                )
            )

    async def _store(self, state: _TurnState, parts: Sequence[tuple[Part, dict[str, Any] | None]]) -> None:
        """Store parts (with their call records) in one transaction."""
        async with self.sessionmaker() as session, session.begin():
            self._add_parts(session, state, parts)

    def _add_parts(
        self, session: AsyncSession, state: _TurnState, parts: Sequence[tuple[Part, dict[str, Any] | None]]
    ) -> None:
        now = utcnow()
        for part, record in parts:
            state.seq += 1
            message_id = new_id("msg")
            session.add(
                Message(
                    id=message_id,
                    conversation_id=state.prepared.conversation.id,
                    turn_id=state.turn_id,
                    seq=state.seq,
                    kind=part.kind,
                    part=part.model_dump(mode="json"),
                    meta=_meta_of(record),
                    created_at=now,
                )
            )
            if isinstance(part, AssistantText):
                state.reply_message_id = message_id

    async def _history(self, session: AsyncSession, conversation_id: str) -> list[Part]:
        rows: Sequence[Message] = (
            await session.scalars(
                select(Message)
                .where(Message.conversation_id == conversation_id)
                .order_by(Message.seq.desc())
                .limit(HISTORY_LIMIT)
            )
        ).all()
        return [part_adapter.validate_python(row.part) for row in reversed(rows)]

    async def recover(self) -> int:
        """Mark turns left running by a stopped process as failed (what they stored stays)."""
        async with self.sessionmaker() as session, session.begin():
            result = await session.execute(
                update(Turn)
                .where(Turn.status == "running")
                .values(status="failed", error="The service stopped during this turn", finished_at=utcnow())
            )
        return int(result.rowcount or 0)  # type: ignore[attr-defined]

    async def aclose(self) -> None:
        for task in list(self._background):
            with contextlib.suppress(BaseException):
                await asyncio.wait_for(asyncio.shield(task), 30)


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)


def _as_dict(value: Any) -> dict[str, Any]:
    return dict(value) if isinstance(value, dict) else {"result": value}


def _meta_of(record: dict[str, Any] | None) -> dict[str, Any] | None:
    if record is None:
        return None
    return {key: record[key] for key in ("mcp_id", "duration_ms") if key in record}
