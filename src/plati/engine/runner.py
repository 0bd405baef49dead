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

Several processes may serve one database (PostgreSQL). A turn takes its conversation by storing
itself as running together with the user's message, numbered after the last part this process
knows of: the database refuses the write when another turn of the conversation runs (one running
turn per conversation, a unique index) or when that number is taken (another process stored
parts since: the history is read again and the write retried). So the order and the history a
turn sees come from the database, at no extra round trip in the usual case. A message that finds
its conversation busy follows the channel's ``multitask_strategy``: ``enqueue`` (wait, then run),
``reject`` (409 ``conversation_busy``) or ``interrupt`` (cancel the running turn, wherever it
runs, then run). Running turns are leased (:mod:`plati.cluster.leases`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import secrets
import socket
import time
import weakref
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from pydantic_core import to_jsonable_python

from ..cluster.bus import Bus
from ..cluster.leases import TurnLeases
from ..connectors import CallContext, FunctionNotFound
from ..errors import Conflict, ConversationBusy, PlatiError, TurnInterrupted, UpstreamError
from ..ids import new_id, utcnow
from ..registry import AttachedFunction, Registry, validation_problems
from ..settings import Settings
from ..store.db import Database
from ..store.hot import HotStore, MessageRow, turn_conflict
from ..store.models import Assistant
from .config import ChannelConfig, ChannelConfigs
from .factory import ProviderFactory, setting_number
from .memory import HISTORY_LIMIT, ConversationMemory, History, Participant
from .messages import AssistantText, ErrorPart, FunctionCall, FunctionResult, Part, UserText, part_adapter
from .providers import ModelReply, ModelRequest, Provider, ReplyDone, TextDelta, Usage
from .safe_errors import SafeFailure, TurnFailed, function_failure, new_error_id, turn_failure
from .templating import TemplateContext, render_instructions

logger = logging.getLogger("plati.engine")

Emit = Callable[[dict[str, Any]], Awaitable[None]]

MULTITASK_STRATEGIES = ("enqueue", "reject", "interrupt")
BUSY_RECHECK_SECONDS = 1.0  # a waiting message checks again at least this often
INTERRUPTED_TEXT = "This reply was interrupted by a newer message."


def process_owner() -> str:
    """This process's name in the turns it owns: host, pid and a random part (pids are reused)."""
    return f"{socket.gethostname()[:60]}:{os.getpid()}:{secrets.token_hex(4)}"


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
    # Resolved once the turn has taken its conversation (the stream may start then).
    claimed: asyncio.Future[None] | None = None


@dataclass
class _TurnState:
    prepared: PreparedTurn
    turn_id: str
    history: History  # the conversation's stored parts; this turn's join as they are stored
    usage: Usage = field(default_factory=Usage)
    calls: list[dict[str, Any]] = field(default_factory=list)
    reply_message_id: str | None = None
    writes: list[asyncio.Future[None]] = field(default_factory=list)  # submitted, not yet awaited
    interrupted_turn_id: str | None = None  # the turn this one interrupted (policy interrupt)


@dataclass
class _Running:
    turn_id: str
    task: asyncio.Task[Any]


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
        bus: Bus | None = None,
        owner: str | None = None,
    ) -> None:
        self.settings = settings
        self.sessionmaker = db.sessionmaker
        self.hot = hot
        self.registry = registry
        self.providers = providers
        self.configs = ChannelConfigs(db, registry)
        self.memory = memory if memory is not None else ConversationMemory()
        self.owner = owner or process_owner()
        self.bus = bus if bus is not None else Bus(None, owner=self.owner)
        self.bus.on_interrupt = self._interrupt_here
        self.lease = timedelta(seconds=settings.turn_lease_seconds)
        self.leases = TurnLeases(
            hot,
            self.bus,
            owner=self.owner,
            lease_seconds=settings.turn_lease_seconds,
            running=lambda: {running.turn_id for running in self._running.values()},
            on_lost=self._lost,
        )
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()
        self._background: set[asyncio.Task[Any]] = set()
        self._running: dict[str, _Running] = {}  # by conversation id: the turn this process runs
        self._interrupting: set[str] = set()  # turn ids to end as interrupted when cancelled

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
            ConversationBusy: a turn of the conversation is running and the channel's policy is
                ``reject`` (or the wait for it ran out); nothing was stored.
            TurnInterrupted: a newer message interrupted this turn (policy ``interrupt``); what
                it stored is kept, and the turn is marked ``interrupted``.
            TurnFailed: the model provider failed (a safe sentence for end users; its code, status
                and detail in ``details``); the user's message and the error are stored.
            PlatiError: anything else that ended the turn (stored as failed).
        """
        conversation_id = prepared.participant.conversation_id
        strategy = prepared.config.multitask_strategy
        lock = self._locks.get(conversation_id)
        if lock is None:
            lock = asyncio.Lock()
            self._locks[conversation_id] = lock
        interrupted: str | None = None
        told = lock.locked()
        if told:
            running = self._running.get(conversation_id)
            if strategy == "reject":
                raise self._busy()
            if strategy == "interrupt" and running is not None:
                interrupted = running.turn_id
                self._interrupt_here(running.turn_id)
            await self._tell_waiting(emit, interrupted)
        async with lock:
            try:
                state = await self._start(prepared, emit, announced=told)
            except PlatiError:
                raise
            except Exception as exc:
                error_id = new_error_id()
                logger.error("A turn could not start (error id %s)", error_id, exc_info=exc)
                raise PlatiError(f"Internal error (id {error_id})") from exc
            conversation_id = state.prepared.participant.conversation_id  # a deleted one is replaced
            if prepared.claimed is not None and not prepared.claimed.done():
                prepared.claimed.set_result(None)
            if interrupted is not None:
                state.interrupted_turn_id = interrupted
            self._running[conversation_id] = _Running(state.turn_id, asyncio.current_task())  # type: ignore[arg-type]
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
                if state.turn_id not in self._interrupting:
                    await asyncio.shield(self._fail(state, "The turn was cancelled"))
                    raise
                # Interrupted by a newer message: what was stored stays, marked.
                await asyncio.shield(self._fail(state, INTERRUPTED_TEXT, status="interrupted"))
                task = asyncio.current_task()
                if task is not None:
                    task.uncancel()
                raise TurnInterrupted(
                    "A newer message of this conversation interrupted this reply",
                    details={"turn_id": state.turn_id},
                ) from None
            finally:
                self._interrupting.discard(state.turn_id)
                mine = self._running.get(conversation_id)
                if mine is not None and mine.turn_id == state.turn_id:
                    del self._running[conversation_id]
                self.bus.turn_done(conversation_id)

    def _busy(self, waited: float | None = None) -> ConversationBusy:
        if waited is None:
            return ConversationBusy(
                "A reply to an earlier message of this conversation is still running, and this channel "
                "rejects messages meanwhile (multitask_strategy reject); send it again when the reply has come",
                details={"multitask_strategy": "reject"},
            )
        return ConversationBusy(
            f"A reply to an earlier message of this conversation was still running after {waited:g} s; "
            "send this message again later",
            details={"waited_seconds": waited},
        )

    async def _tell_waiting(self, emit: Emit | None, interrupted: str | None) -> None:
        if emit is None:
            return
        if interrupted is not None:
            await emit(
                {
                    "type": "interrupted",
                    "turn_id": interrupted,
                    "content": "The reply to the previous message was interrupted; this message is answered next",
                }
            )
        else:
            await emit(
                {
                    "type": "queued",
                    "content": "A reply to an earlier message is running; this message is answered after it",
                }
            )

    def _interrupt_here(self, turn_id: str) -> None:
        """Cancel ``turn_id`` if this process runs it (it ends as ``interrupted``)."""
        for running in self._running.values():
            if running.turn_id == turn_id and turn_id not in self._interrupting:
                self._interrupting.add(turn_id)
                running.task.cancel()
                return

    def _lost(self, turn_ids: set[str]) -> None:
        """Turns whose lease another process found expired: they were marked failed there, and
        this process stops them (what they write now would be refused anyway)."""
        for running in list(self._running.values()):
            if running.turn_id in turn_ids:
                running.task.cancel()

    def run_detached(self, prepared: PreparedTurn, emit: Emit | None = None) -> asyncio.Task[dict[str, Any]]:
        """Run a turn as a task of its own, so a client that goes away does not cancel it."""
        task = asyncio.create_task(self.run(prepared, emit))
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return task

    async def _start(self, prepared: PreparedTurn, emit: Emit | None, *, announced: bool = False) -> _TurnState:
        """Take the conversation: store the turn as running with the user's message, numbered
        after the last stored part. The history comes from memory, or from the database the first
        time and whenever another process stored parts since.

        Raises:
            ConversationBusy: another turn runs and the policy is ``reject``, or the wait ran out.
        """
        conversation_id = prepared.participant.conversation_id
        strategy = prepared.config.multitask_strategy
        started = time.monotonic()
        interrupted: str | None = None
        renewed = False  # the participant was read again once already
        while True:
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
                owner=self.owner,
                lease=self.lease,
            )
            try:
                await asyncio.shield(write)
            except asyncio.CancelledError:
                # The write goes on and may commit: then the turn is ended as cancelled.
                self._spawn(self._abandon(write, state))
                raise
            except Exception as exc:
                conflict = turn_conflict(exc)
                request = prepared.request
                if conflict is None or (conflict == "gone" and renewed):
                    self.memory.forget_history(conversation_id)
                    self.memory.forget_participant(request.workspace_id, request.channel_id, request.identity)
                    raise
                if conflict == "stale":  # another process stored parts: read the history again
                    self.memory.forget_history(conversation_id)
                    continue
                if conflict == "gone":  # deleted (a retention job): the identity starts a new one
                    self.memory.forget_history(conversation_id)
                    self.memory.forget_participant(request.workspace_id, request.channel_id, request.identity)
                    prepared.participant = await self._participant(request)
                    self.memory.remember_participant(request.workspace_id, request.channel_id, prepared.participant)
                    conversation_id = prepared.participant.conversation_id
                    renewed = True
                    continue
                if strategy == "reject":
                    raise self._busy() from None
                waited = time.monotonic() - started
                if waited >= self.settings.queue_timeout_seconds:
                    raise self._busy(round(waited, 1)) from None
                if strategy == "interrupt" and interrupted is None:
                    running = await self.hot.running_turn(conversation_id)
                    if running is not None:
                        interrupted = running[0]
                        self.bus.interrupt(interrupted)
                        if not announced:
                            await self._tell_waiting(emit, interrupted)
                            announced = True
                        continue
                if not announced:
                    await self._tell_waiting(emit, None)
                    announced = True
                remaining = self.settings.queue_timeout_seconds - waited
                await self.bus.wait_turn_done(conversation_id, min(BUSY_RECHECK_SECONDS, remaining))
                continue
            state.interrupted_turn_id = interrupted
            self.memory.extend(conversation_id, state.history, parts, sizes, rows[-1].seq)
            return state

    async def _abandon(self, write: asyncio.Future[None], state: _TurnState) -> None:
        """End a turn whose caller was cancelled while its start was being written."""
        try:
            await write
        except Exception:
            return  # nothing was stored
        self.memory.forget_history(state.prepared.participant.conversation_id)
        finish = self.hot.finish_turn(
            state.turn_id, status="failed", error="The turn was cancelled", usage={}, at=utcnow()
        )
        with contextlib.suppress(Exception):
            await finish
        self.bus.turn_done(state.prepared.participant.conversation_id)

    def _spawn(self, work: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

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
        if state.interrupted_turn_id is not None:
            data["interrupted_turn_id"] = state.interrupted_turn_id
        if emit is not None:
            await emit({"type": "complete", "content": text, "data": data})
        return data

    async def _fail(
        self, state: _TurnState, message: str, failure: SafeFailure | None = None, *, status: str = "failed"
    ) -> None:
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
        write = self.hot.finish_turn(state.turn_id, status=status, error=error, usage=usage, at=utcnow(), messages=rows)
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

    async def start(self) -> int:
        """Mark failed the turns that stopped processes left running (what they stored stays),
        and keep this process's own turns leased from now on; how many were marked."""
        recovered = await self.leases.recover()
        self.leases.start()
        return recovered

    async def aclose(self) -> None:
        for task in list(self._background):
            with contextlib.suppress(BaseException):
                await asyncio.wait_for(asyncio.shield(task), 30)
        await self.leases.aclose()


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
