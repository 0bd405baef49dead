"""Runs calls: lookup, validation, context and state, background work, and the mapping of every
way a call can end into one :class:`CallOutcome` that both protocols render."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from .context import CallerInfo, Context, ProgressSink
from .errors import ArgumentsInvalid, FieldProblem, FunctionError, PlatiMCPError, UnknownFunction
from .function import Function
from .state import StateStore, load_state, save_state
from .tasks import BackgroundRunner, TaskResult

logger = logging.getLogger("plati_mcp")

MAX_CHAIN_DEPTH = 16

OutcomeKind = Literal["ok", "function_error", "invalid_arguments", "internal_error", "task_started"]


@dataclass(frozen=True)
class CallOutcome:
    """How a call ended, independent of the protocol that carried it."""

    kind: OutcomeKind
    data: Any = None
    error: str | None = None
    problems: list[FieldProblem] = field(default_factory=list)
    task_id: str | None = None

    @property
    def success(self) -> bool:
        return self.kind in ("ok", "task_started")


def error_id() -> str:
    return secrets.token_hex(4)


class ChainTooDeep(PlatiMCPError):
    """Functions called each other more than MAX_CHAIN_DEPTH levels deep (likely a cycle)."""


class Executor:
    """Runs functions by name for the protocol handlers and for ``ctx.call`` chaining."""

    def __init__(self, functions: Mapping[str, Function], state_store: StateStore, runner: BackgroundRunner):
        self.functions = functions
        self.state_store = state_store
        self.runner = runner

    def get(self, name: str) -> Function:
        try:
            return self.functions[name]
        except KeyError:
            raise UnknownFunction(name) from None

    async def call(
        self,
        name: str,
        arguments: Mapping[str, Any],
        caller: CallerInfo,
        progress: ProgressSink | None = None,
    ) -> CallOutcome:
        """Run one call end to end.

        Raises:
            UnknownFunction: the name is not registered (protocols answer 404 / a protocol error).
        """
        function = self.get(name)
        try:
            kwargs = function.validate(arguments)
        except ArgumentsInvalid as exc:
            return CallOutcome("invalid_arguments", error=exc.summary(), problems=exc.problems)
        if function.background:
            return await self._start_background(function, kwargs, caller)
        return await self._run(function, kwargs, caller, progress)

    async def _run(
        self,
        function: Function,
        kwargs: dict[str, Any],
        caller: CallerInfo,
        progress: ProgressSink | None,
    ) -> CallOutcome:
        try:
            if function.wants_context:
                state = await load_state(self.state_store, caller.state_scope)
                ctx = Context(function=function.name, caller=caller, state=state, executor=self, progress=progress)
                value = await function.invoke(kwargs, ctx)
                await save_state(self.state_store, state)
            else:
                value = await function.invoke(kwargs, None)
            return CallOutcome("ok", data=function.to_jsonable(value))
        except FunctionError as exc:
            return CallOutcome("function_error", error=exc.message)
        except Exception:
            # Anything else is a bug or an outage in the function: the caller gets an id to quote,
            # the operator gets the traceback under that id.
            eid = error_id()
            logger.exception("Function %r failed (error id %s)", function.name, eid)
            return CallOutcome("internal_error", error=f"Internal error (id {eid})")

    async def _start_background(
        self, function: Function, kwargs: dict[str, Any], caller: CallerInfo
    ) -> CallOutcome:
        async def work() -> TaskResult:
            outcome = await self._run(function, kwargs, caller, None)
            if outcome.kind == "ok":
                return TaskResult(success=True, data=outcome.data)
            return TaskResult(success=False, error=outcome.error)

        record = await self.runner.start(function.name, work, caller.callback_url)
        return CallOutcome(
            "task_started",
            task_id=record.task_id,
            data={"message": f"{function.name} started; poll /tasks/{record.task_id} for the result."},
        )

    async def call_nested(self, name: str, arguments: Mapping[str, Any], parent: Context) -> Any:
        if parent.depth >= MAX_CHAIN_DEPTH:
            raise ChainTooDeep(
                f"Function chain deeper than {MAX_CHAIN_DEPTH} calls at {name!r}; look for functions calling "
                "each other in a cycle."
            )
        function = self.get(name)
        kwargs = function.validate(arguments)
        return await function.invoke(kwargs, parent.child(function.name) if function.wants_context else None)
