"""A function a server exposes: its definition, schemas and how it is invoked."""

from __future__ import annotations

import functools
import inspect
import sys
from collections.abc import Callable, Mapping
from typing import Any

import anyio.to_thread
from pydantic_core import to_jsonable_python

from .context import Context
from .errors import ArgumentsInvalid, DefinitionError
from .schema import (
    ArgumentsModel,
    OutputSpec,
    SchemaValidator,
    check_function_name,
    compact_to_json_schema,
    inspect_signature,
    output_spec,
)

ANNOTATION_HINTS = {
    "title": "title",
    "read_only": "readOnlyHint",
    "destructive": "destructiveHint",
    "idempotent": "idempotentHint",
    "open_world": "openWorldHint",
}
_WIRE_HINTS = frozenset(ANNOTATION_HINTS.values())


class Function:
    """One callable function of a server.

    Build it explicitly and register it with ``mcp.add_function(...)``, or let
    ``@mcp.function`` build it.

    Args:
        fn: the Python function (sync or async).
        name: the name callers use; defaults to ``fn.__name__``.
        description: what it does, for the model; defaults to the docstring's first part.
        parameters: the guide's compact form ``{"order_id": {"type": "string", "required": True}}``
            or a full JSON Schema; defaults to a schema derived from the signature.
        background: reply at once with a ``task_id`` and run the work afterwards.
        annotations: MCP tool hints, e.g. ``{"readOnlyHint": True}`` or ``{"read_only": True}``.
        title: a human-friendly title for MCP clients.
        localns: names for resolving the type hints; defaults to the caller's local namespace.

    Raises:
        DefinitionError: the definition cannot work (bad name, ``*args``, unsupported types,
            parameters that do not match the signature...).
    """

    def __init__(
        self,
        fn: Callable[..., Any],
        *,
        name: str | None = None,
        description: str | None = None,
        parameters: Mapping[str, Any] | None = None,
        background: bool = False,
        annotations: Mapping[str, Any] | None = None,
        title: str | None = None,
        localns: Mapping[str, Any] | None = None,
    ) -> None:
        if not callable(fn):
            raise DefinitionError(f"Function() needs a callable, got {type(fn).__name__}.")
        self.fn = fn
        self.name: str = name or str(getattr(fn, "__name__", ""))
        check_function_name(self.name)
        self.is_async = inspect.iscoroutinefunction(inspect.unwrap(fn)) or inspect.iscoroutinefunction(fn)
        if inspect.isasyncgenfunction(fn) or inspect.isgeneratorfunction(fn):
            raise DefinitionError(
                f"Function {self.name!r} is a generator; return the whole result instead of yielding it."
            )
        self.background = background
        if localns is None:
            localns = sys._getframe(1).f_locals
        signature = inspect_signature(fn, self.name, Context, localns)
        self.context_param = signature.context_param
        self.description = (description if description is not None else signature.description).strip()
        self._arguments: ArgumentsModel | None = signature.arguments
        self._schema_validator: SchemaValidator | None = None
        if parameters is not None:
            self.input_schema = compact_to_json_schema(parameters, self.name)
            self._schema_validator = SchemaValidator(self.input_schema, self.name)
            self._check_parameters_match(signature.arguments.field_names, signature.accepts_var_kwargs)
            # With an explicit schema, the signature only converts values (e.g. into pydantic
            # models); when it has no hints at all it adds nothing and is skipped.
            if not _has_hints(fn):
                self._arguments = None
        else:
            self.input_schema = signature.arguments.json_schema()
        self.output: OutputSpec | None = output_spec(signature.return_annotation, self.name)
        self.annotations = _normalise_annotations(self.name, annotations, title)

    def _check_parameters_match(self, field_names: tuple[str, ...], var_kwargs: bool) -> None:
        declared = set(self.input_schema.get("properties", {}))
        required = set(self.input_schema.get("required", []))
        accepted = set(field_names)
        unknown = declared - accepted
        if unknown and not var_kwargs:
            raise DefinitionError(
                f"Function {self.name!r}: parameters {sorted(unknown)} are not arguments of the Python "
                "function; add them to its signature (or a **kwargs) or remove them from parameters=."
            )
        defaults = {
            name
            for name, param in inspect.signature(self.fn).parameters.items()
            if param.default is not inspect.Parameter.empty
        }
        uncovered = accepted - declared - defaults
        if uncovered:
            raise DefinitionError(
                f"Function {self.name!r}: arguments {sorted(uncovered)} have no default and are missing from "
                "parameters=; declare them there or give them a default."
            )
        optional_without_default = (declared & accepted) - required - defaults
        if optional_without_default:
            raise DefinitionError(
                f"Function {self.name!r}: parameters {sorted(optional_without_default)} are optional "
                "(no \"required\": True) but the Python arguments have no default; add a default or mark "
                "them required."
            )

    @property
    def wants_context(self) -> bool:
        return self.context_param is not None

    def validate(self, arguments: Mapping[str, Any]) -> dict[str, Any]:
        """Check arguments and convert them into the keyword arguments of the Python function.

        Raises:
            ArgumentsInvalid: naming every bad field.
        """
        if self._schema_validator is not None:
            problems = self._schema_validator.validate(arguments)
            if problems:
                raise ArgumentsInvalid(self.name, problems)
            if self._arguments is None:
                return dict(arguments)
            declared = set(self._arguments.field_names)
            known = {k: v for k, v in arguments.items() if k in declared}
            values, problems = self._arguments.validate(known)
            if problems:
                raise ArgumentsInvalid(self.name, problems)
            values.update({k: v for k, v in arguments.items() if k not in declared})
            return values
        assert self._arguments is not None
        values, problems = self._arguments.validate(arguments)
        if problems:
            raise ArgumentsInvalid(self.name, problems)
        return values

    async def invoke(self, kwargs: dict[str, Any], ctx: Context | None) -> Any:
        """Run the function with validated keyword arguments; sync functions run in a worker thread."""
        if self.context_param is not None:
            kwargs = {**kwargs, self.context_param: ctx}
        if self.is_async:
            return await self.fn(**kwargs)
        return await anyio.to_thread.run_sync(functools.partial(self.fn, **kwargs))

    def to_jsonable(self, value: Any) -> Any:
        """The JSON form of a return value (checked against the declared return type, if any)."""
        if self.output is not None:
            return self.output.dump(value)
        return to_jsonable_python(value)

    def __repr__(self) -> str:
        return f"Function(name={self.name!r}, background={self.background})"


def _has_hints(fn: Callable[..., Any]) -> bool:
    return any(
        param.annotation is not inspect.Parameter.empty
        for param in inspect.signature(fn).parameters.values()
        if param.kind not in (inspect.Parameter.VAR_KEYWORD, inspect.Parameter.VAR_POSITIONAL)
    )


def _normalise_annotations(
    name: str, annotations: Mapping[str, Any] | None, title: str | None
) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in (annotations or {}).items():
        wire = ANNOTATION_HINTS.get(key, key)
        if wire not in _WIRE_HINTS:
            raise DefinitionError(
                f"Function {name!r}: unknown annotation {key!r}; use one of {sorted(_WIRE_HINTS)} "
                f"(or {sorted(ANNOTATION_HINTS)})."
            )
        result[wire] = value
    if title is not None:
        result["title"] = title
    return result
