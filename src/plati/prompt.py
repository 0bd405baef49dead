"""Function references in assistant instructions: ``{{function.check_order_status(order_id)}}``."""

from __future__ import annotations

import re
from collections.abc import Iterable

from .naming import FunctionRef

FUNCTION_REFERENCE = re.compile(r"\{\{\s*function\.([^\s(){}]+)\s*(?:\(([^)}]*)\))?\s*\}\}")


def function_references(instructions: str | None) -> list[str]:
    """The function names the instructions reference, in order of first appearance."""
    seen: dict[str, None] = {}
    for match in FUNCTION_REFERENCE.finditer(instructions or ""):
        seen.setdefault(match.group(1), None)
    return list(seen)


def resolve_reference(name: str, refs: Iterable[FunctionRef]) -> FunctionRef | None:
    """The attached function a reference names: by model-facing name first, else by the
    function's own name when exactly one attached MCP offers it."""
    candidates = list(refs)
    for ref in candidates:
        if ref.model_name == name:
            return ref
    matches = [ref for ref in candidates if ref.function == name]
    return matches[0] if len(matches) == 1 else None


def unresolved_functions(instructions: str | None, refs: Iterable[FunctionRef]) -> list[str]:
    """References that no attached MCP offers (typos show up at once)."""
    candidates = list(refs)
    return [name for name in function_references(instructions) if resolve_reference(name, candidates) is None]
