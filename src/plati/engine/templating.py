"""Rendering an assistant's instructions for one turn (SPEC section 5, "Prompt templating").

- ``{{function.check_order_status(order_id)}}`` renders as ``check_order_status(order_id)`` with
  the function's model-facing name; a reference no attached MCP offers renders as plain text
  marked unavailable, so the model never takes it for something it can call; a reference several
  attached MCPs offer (namespaced ``mcp__function`` for the model) renders as each of those names;
- ``{{identity.id}}``, ``{{identity.name}}``, ``{{conversation.id}}``, ``{{now}}`` (UTC, ISO 8601).

Anything else in double braces is left as written.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from ..naming import FunctionRef
from ..prompt import FUNCTION_REFERENCE, candidates_of, resolve_reference

_VARIABLE = re.compile(r"\{\{\s*(identity\.id|identity\.name|conversation\.id|now)\s*\}\}")


@dataclass(frozen=True)
class TemplateContext:
    identity_id: str
    identity_name: str | None
    conversation_id: str
    now: datetime


def render_instructions(instructions: str, refs: Sequence[FunctionRef], context: TemplateContext) -> str:
    def function(match: re.Match[str]) -> str:
        name, args = match.group(1), match.group(2)
        ref = resolve_reference(name, refs)
        if ref is None:
            several = candidates_of(name, refs)
            if len(several) > 1:
                call = f"({args.strip()})" if args is not None else ""
                return " or ".join(f"{other.model_name}{call}" for other in several)
            return f"{name} (not available)"
        return f"{ref.model_name}({args.strip()})" if args is not None else ref.model_name

    def variable(match: re.Match[str]) -> str:
        key = match.group(1)
        if key == "identity.id":
            return context.identity_id
        if key == "identity.name":
            return context.identity_name or context.identity_id
        if key == "conversation.id":
            return context.conversation_id
        return context.now.isoformat(timespec="seconds")

    return _VARIABLE.sub(variable, FUNCTION_REFERENCE.sub(function, instructions))
