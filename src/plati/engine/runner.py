"""How a turn runs (SPEC section 6).

Serialize turns per conversation → store the user message → render the prompt → gather the
assistant's functions → call the model → validate each requested call → run the calls (in
parallel) → feed the results back → repeat up to the step limit → store and return the reply.

Every part is submitted for storage as it happens and committed in order by a group commit
(:mod:`plati.store.hot`) while the turn goes on: a step's function calls are written while the
function servers run them, and parts that follow each other without a wait (an instant model)
share a transaction. The reply is sent only once everything is committed. A crash loses nothing
that was committed; the turn row says whether the turn completed or failed.

In the usual case a turn reads nothing from the database: the channel's configuration
(:mod:`.config`) and the conversation's participant and history (:mod:`.memory`) are kept in
memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import weakref
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic_core import to_jsonable_python
from sqlalchemy import update

from ..connectors import CallContext, FunctionNotFound
from ..errors import Conflict, PlatiError, UpstreamError
from ..ids import new_id, utcnow
from ..registry import AttachedFunction, Registry, validation_problems
from ..settings import Settings
from ..store.db import Database
from ..store.hot import HotStore, MessageRow
from ..store.models import Assistant, Turn
from .config import ChannelConfig, ChannelConfigs
from .factory import ProviderFactory, setting_number
from .memory import HISTORY_LIMIT, ConversationMemory, History, Participant
from .messages import AssistantText, ErrorPart, FunctionCall, FunctionResult, Part, UserText, part_adapter
from .providers import ModelReply, ModelRequest, Provider, ReplyDone, TextDelta, Usage
from .safe_errors import SafeFailure, TurnFailed, function_failure, new_error_id, turn_failure
from .templating import TemplateContext, render_instructions

logger = logging.getLogger("plati.engine")

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
    config: ChannelConfig
    assistant: Assistant
    provider: Provider
    participant: Participant


@dataclass
class _TurnState:
    prepared: PreparedTurn
    turn_id: str
    history: History  # the conversation's stored parts; this turn's join as they are stored
    usage: Usage = field(default_factory=Usage)
    calls: list[dict[str, Any]] = field(default_factory=list)
    reply_message_id: str | None = None
    writes: list[asyncio.Future[None]] = field(default_factory=list)  # submitted, not yet awaited


class TurnRunner:
    def __init__(
        self,
        settings: Settings,
        db: Database,
        hot: HotStore,
        registry: Registry,
        providers: ProviderFactory,
        *,
        memory: ConversationMemory | None = None,
    ) -> None:
        self.settings = settings
        self.sessionmaker = db.sessionmaker
        self.hot = hot
        self.registry = registry
        self.providers = providers
        self.configs = ChannelConfigs(db, registry)
        self.memory = memory if memory is not None else ConversationMemory()
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()
        self._background: set[asyncio.Task[Any]] = set()

    # -- preparation ----------------------------------------------------------------------------

    async def prepare(self, request: ChatRequest) -> PreparedTurn:
        """Resolve the channel, its assistant, the identity and the conversation (creating the
        last two on first use).

        Raises:
            NotFound: no such channel in the workspace.
            Conflict: the channel is inactive or has no assistant.
            InvalidRequest: the assistant's model provider cannot be built (no credentials).
        """
        config = await self.configs.get(request.workspace_id, request.channel_id)
        if not config.active:
            raise Conflict(f"Channel {request.channel_id} is inactive")
        assistant = config.assistant
        if assistant is None:
            raise Conflict(f"Channel {request.channel_id} has no assistant; set assistant_id on it first")
        # Fail before anything is stored when the assistant's provider cannot be built.
        provider = self.providers.for_assistant(assistant, config.workspace_settings)
        participant = self.memory.participant(request.workspace_id, request.channel_id, request.identity)
        name = request.metadata.get("name")
        if participant is None or (isinstance(name, str) and name and participant.name != name):
            participant = await self._participant(request)
            self.memory.remember_participant(request.workspace_id, request.channel_id, participant)
        return PreparedTurn(request, config, assistant, provider, participant)

    async def _participant(self, request: ChatRequest) -> Participant:
        """The identity and its conversation on the channel, created on first use (a name in the
        message's metadata is recorded)."""
        name = request.metadata.get("name")
        name = name if isinstance(name, str) and name else None
        found = await self.hot.participant(request.workspace_id, request.channel_id, request.identity)
        if found is None or found.conversation_id is None or (name is not None and found.name != name):
            await self.hot.create_participant(
                workspace_id=request.workspace_id,
                channel_id=request.channel_id,
                external_id=request.identity,
                identity_id=new_id("idn"),
                conversation_id=new_id("conv"),
                name=name,
                at=utcnow(),
            )
            found = await self.hot.participant(request.workspace_id, request.channel_id, request.identity)
        if found is None or found.conversation_id is None:
            raise Conflict(f"Could not start a conversation for {request.identity!r}; retry the request")
        return Participant(found.identity_id, request.identity, found.name, found.conversation_id)

    # -- running --------------------------------------------------------------------------------

    async def run(self, prepared: PreparedTurn, emit: Emit | None = None) -> dict[str, Any]:
        """Run one turn to the end and return the reply data (SPEC section 5).

        Raises:
            TurnFailed: the model provider failed (a safe sentence for end users; its code, status
                and detail in ``details``); the user's message and the error are stored.
            PlatiError: anything else that ended the turn (stored as failed).
        """
        conversation_id = prepared.participant.conversation_id
        lock = self._locks.get(conversation_id)
        if lock is None:
            lock = asyncio.Lock()
            self._locks[conversation_id] = lock
        async with lock:
            state = await self._start(prepared)
            try:
                return await self._loop(state, emit)
            except UpstreamError as exc:
                # The model provider failed (or its address was refused); its message may quote
                # the provider or its address.
                safe = turn_failure(exc)
                logger.warning("Turn %s failed (error id %s): %s", state.turn_id, safe.error_id, exc.message)
                await self._fail(state, safe.text, safe)
                raise TurnFailed(safe, exc) from exc
            except PlatiError as exc:
                await self._fail(state, exc.message)
                raise
            except Exception as exc:
                error_id = new_error_id()
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
        """Store the turn and the user's message, in one transaction. The conversation's history
        comes from memory, or from the database the first time."""
        conversation_id = prepared.participant.conversation_id
        history = self.memory.history(conversation_id)
        if history is None:
            history = await self._load_history(conversation_id)
            self.memory.remember_history(conversation_id, history)
        self.memory.trim(conversation_id, history, HISTORY_LIMIT - 1)  # the user's message makes it the limit
        state = _TurnState(prepared=prepared, turn_id=new_id("turn"), history=history)
        rows, parts, sizes = self._rows(state, [(UserText(text=prepared.request.text), None)])
        write = self.hot.start_turn(
            turn_id=state.turn_id,
            conversation_id=conversation_id,
            assistant_id=prepared.assistant.id,
            at=rows[0].created_at,
            messages=rows,
        )
        self._submitted(state, write, rows, parts, sizes)
        return state

    async def _loop(self, state: _TurnState, emit: Emit | None) -> dict[str, Any]:
        prepared = state.prepared
        config, participant = prepared.config, prepared.participant
        system = render_instructions(
            prepared.assistant.instructions or "",
            [fn.ref for fn in config.functions],
            TemplateContext(
                identity_id=participant.external_id,
                identity_name=participant.name,
                conversation_id=participant.conversation_id,
                now=utcnow(),
            ),
        )
        tools = list(config.tools)
        options = prepared.assistant.settings or {}
        # Stored settings are read tolerantly (a value stored before validation existed, or above
        # a maximum the operator lowered since, falls back or is clamped).
        step_limit = setting_number(options, "step_limit") or self.settings.step_limit
        step_limit = int(min(step_limit, self.settings.max_step_limit))
        max_tokens = setting_number(options, "max_tokens")
        temperature = setting_number(options, "temperature", allow_zero=True)
        for _step in range(max(1, step_limit)):
            model_request = ModelRequest(
                system=system,
                history=list(state.history.parts),  # a snapshot: the turn keeps appending
                tools=tools,
                model=prepared.assistant.model,
                temperature=min(temperature, 2.0) if temperature is not None else None,
                max_tokens=int(min(max_tokens, self.settings.max_output_tokens)) if max_tokens else None,
            )
            reply = await self._ask(prepared.provider, model_request, emit)
            state.usage = state.usage + reply.usage
            calls = reply.calls
            if not calls:
                return await self._complete(state, reply.text, emit, reply.parts)
            self._store(state, [(part, None) for part in reply.parts])
            for call in calls:
                fn = config.by_name.get(call.name)
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
            results = await asyncio.gather(*(self._execute(state, call) for call in calls))
            self._store(state, [(result, record) for result, record in results])
            for _result, record in results:
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

    async def _execute(self, state: _TurnState, call: FunctionCall) -> tuple[FunctionResult, dict[str, Any]]:
        started = time.perf_counter()
        config = state.prepared.config
        fn: AttachedFunction | None = config.by_name.get(call.name)
        record: dict[str, Any] = {
            "id": call.call_id,
            "mcp_id": fn.ref.mcp_id if fn else None,
            "name": call.name,
            "arguments": call.arguments,
        }

        def failed(error: str, failure: SafeFailure | None = None) -> tuple[FunctionResult, dict[str, Any]]:
            record.update(success=False, error=error, duration_ms=_ms(started))
            if failure is not None:
                record.update(failure.record())
            return FunctionResult(call_id=call.call_id, name=call.name, success=False, error=error), record

        if fn is None:
            return failed(f"Unknown function {call.name!r}; call one of the functions you were given.")
        problems = validation_problems(config.validators.get(call.name), call.arguments)
        if problems:
            details = "; ".join(f"{p['field'] or '(arguments)'}: {p['message']}" for p in problems)
            return failed(f"Invalid arguments for {call.name}: {details}")
        server = config.servers.get(fn.ref.mcp_id)
        if server is None:
            return failed(f"The function {call.name} is no longer available")
        prepared = state.prepared
        context = CallContext(
            workspace_id=prepared.request.workspace_id,
            assistant_id=prepared.assistant.id,
            conversation_id=prepared.participant.conversation_id,
            identity_id=prepared.participant.external_id,
            request_id=state.turn_id,
            idempotency_key=f"{state.turn_id}:{call.call_id}",
        )
        try:
            connector = await self.registry.connectors.get(fn.ref.mcp_id, server)
            result = await connector.call(fn.ref.function, call.arguments, context)
        except PlatiError as exc:
            # A failed server, or a refusal to connect at all (network policy, stdio switched off):
            # the call failed, the turn goes on. The model (and so the end user) reads a safe
            # sentence; the detail goes to the call record and the log (SPEC section 8).
            if isinstance(exc, FunctionNotFound):
                await self.registry.mark_stale(fn.ref.mcp_id)
            safe = function_failure(exc, mcp_name=fn.ref.mcp_name, function=call.name)
            logger.warning("Call %s failed (error id %s, %s): %s", call.call_id, safe.error_id, exc.code, exc.message)
            return failed(safe.text, safe)
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
        rows, stored, sizes = self._rows(state, [(part, None) for part in parts])
        write = self.hot.finish_turn(state.turn_id, status="completed", usage=usage, at=utcnow(), messages=rows)
        self._submitted(state, write, rows, stored, sizes)
        await self._written(state)
        prepared = state.prepared
        data = {
            "conversation_id": prepared.participant.conversation_id,
            "turn_id": state.turn_id,
            "message_id": state.reply_message_id,
            "identity_id": prepared.participant.external_id,
            "channel_id": prepared.request.channel_id,
            "assistant_id": prepared.assistant.id,
            "reply": text,
            "function_calls": state.calls,
            "usage": usage,
        }
        if emit is not None:
            await emit({"type": "complete", "content": text, "data": data})
        return data

    async def _fail(self, state: _TurnState, message: str, failure: SafeFailure | None = None) -> None:
        """Store the error and mark the turn failed (the first error is the one that counts: a
        database that fails here too is logged, not raised).

        ``message`` is what the error part says (end users may read it); with a ``failure``, its
        detail goes to the part's ``meta`` and the turn's stored error."""
        usage = {"input_tokens": state.usage.input_tokens, "output_tokens": state.usage.output_tokens}
        with contextlib.suppress(Exception):  # already failing; what was written is what it is
            await self._written(state)
        record = failure.record() if failure is not None else None
        rows, stored, sizes = self._rows(state, [(ErrorPart(message=message), record)])
        error = f"{failure.detail} (error id {failure.error_id})" if failure is not None else message
        write = self.hot.finish_turn(
            state.turn_id, status="failed", error=error, usage=usage, at=utcnow(), messages=rows
        )
        self._submitted(state, write, rows, stored, sizes)
        try:
            await self._written(state)
        except Exception:
            logger.exception("Could not record the failure of turn %s", state.turn_id)

    def _store(self, state: _TurnState, parts: Sequence[tuple[Part, dict[str, Any] | None]]) -> None:
        """Submit parts (with their call records) for one transaction; the turn goes on while
        they are written (:meth:`_written` waits for them)."""
        rows, stored, sizes = self._rows(state, parts)
        self._submitted(state, self.hot.add_messages(rows), rows, stored, sizes)

    def _submitted(
        self,
        state: _TurnState,
        write: asyncio.Future[None],
        rows: list[MessageRow],
        parts: list[Part],
        sizes: list[int],
    ) -> None:
        """Record a submitted write; its parts join the history now (a failed write drops it)."""
        state.writes.append(write)
        for row, part in zip(rows, parts, strict=True):
            if isinstance(part, AssistantText):
                state.reply_message_id = row.id
        if rows:
            conversation_id = state.prepared.participant.conversation_id
            self.memory.extend(conversation_id, state.history, parts, sizes, rows[-1].seq)

    async def _written(self, state: _TurnState) -> None:
        """Wait until every submitted write of the turn is committed.

        Raises:
            Exception: the first write's error (what memory holds of the conversation is
                dropped: it may now differ from what is stored).
        """
        writes, state.writes = state.writes, []
        outcomes = await asyncio.shield(asyncio.gather(*writes, return_exceptions=True))
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                # Read both again next time: the conversation may even be gone (a retention job
                # that deleted it), and the next turn then starts a new one.
                request = state.prepared.request
                self.memory.forget_history(state.prepared.participant.conversation_id)
                self.memory.forget_participant(request.workspace_id, request.channel_id, request.identity)
                raise outcome

    def _rows(
        self, state: _TurnState, parts: Sequence[tuple[Part, dict[str, Any] | None]]
    ) -> tuple[list[MessageRow], list[Part], list[int]]:
        """Message rows for ``parts``, numbered after the last stored one."""
        now = utcnow()
        conversation_id = state.prepared.participant.conversation_id
        rows: list[MessageRow] = []
        sizes: list[int] = []
        seq = state.history.seq
        for part, record in parts:
            seq += 1
            dumped = part.model_dump(mode="json")
            sizes.append(len(json.dumps(dumped, ensure_ascii=False)))
            rows.append(
                MessageRow(
                    id=new_id("msg"),
                    conversation_id=conversation_id,
                    turn_id=state.turn_id,
                    seq=seq,
                    kind=part.kind,
                    part=dumped,
                    meta=_meta_of(record),
                    created_at=now,
                )
            )
        return rows, [part for part, _ in parts], sizes

    async def _load_history(self, conversation_id: str) -> History:
        stored = await self.hot.recent_parts(conversation_id, HISTORY_LIMIT)
        parts = [part_adapter.validate_python(part) for _seq, part in stored]
        sizes = [len(json.dumps(part, ensure_ascii=False)) for _seq, part in stored]
        return History(seq=stored[-1][0] if stored else 0, parts=parts, sizes=sizes, size=sum(sizes))

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


_META_KEYS = ("mcp_id", "duration_ms", "error_code", "error_detail", "error_id")


def _meta_of(record: dict[str, Any] | None) -> dict[str, Any] | None:
    """What a stored message keeps of its call record (a failure's detail included)."""
    if record is None:
        return None
    return {key: record[key] for key in _META_KEYS if key in record}
