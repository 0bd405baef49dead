"""Exceptions of the SDK, grouped by who must act on them.

- :class:`DefinitionError`: the developer wrote a function or server definition that cannot work;
  raised at decoration / construction time.
- :class:`FunctionError`: raised *by* a function to report a failure its caller should see
  (``{"success": false, "error": ...}`` on the simple protocol, ``isError`` on MCP).
- :class:`ArgumentsInvalid`: the caller sent arguments that do not fit the function's schema.
- :class:`UnknownFunction`: the caller named a function the server does not have.
"""

from __future__ import annotations

from dataclasses import dataclass


class PlatiMCPError(Exception):
    """Base class of every exception the SDK raises."""


class DefinitionError(PlatiMCPError, TypeError):
    """A function or server definition cannot work; the message names it and says the fix."""


class FunctionError(PlatiMCPError):
    """A failure the caller is meant to see, e.g. ``raise FunctionError("Order ORD-9 not found")``.

    The message is sent to the caller as is, so it must not contain secrets.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class FieldProblem:
    """One argument that failed validation: the dotted path of the field and what is wrong."""

    field: str
    message: str

    def to_wire(self) -> dict[str, str]:
        return {"field": self.field, "message": self.message}


class ArgumentsInvalid(PlatiMCPError):
    """The arguments of a call do not fit the function's input schema."""

    def __init__(self, function: str, problems: list[FieldProblem]) -> None:
        self.function = function
        self.problems = problems
        super().__init__(self.summary())

    def summary(self) -> str:
        """One line naming every bad field, e.g. ``Invalid arguments for f: order_id: Field required``."""
        parts = "; ".join(f"{p.field}: {p.message}" if p.field else p.message for p in self.problems)
        return f"Invalid arguments for {self.function}: {parts}"


class UnknownFunction(PlatiMCPError, LookupError):
    """No function of that name is registered on the server."""

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(f"Unknown function: {name}")
