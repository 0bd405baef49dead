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


def candidates_of(name: str, refs: Iterable[FunctionRef]) -> list[FunctionRef]:
    """Every attached function a reference could mean when it resolves to none: several MCPs
    offering a function of that name (the model sees them namespaced ``mcp__function``)."""
    return [ref for ref in refs if ref.function == name and ref.model_name != name]


def unresolved_functions(instructions: str | None, refs: Iterable[FunctionRef]) -> list[str]:
    """References that no attached MCP offers (typos show up at once); a name that several
    attached MCPs offer is ambiguous, not unresolved (:func:`ambiguous_functions`)."""
    candidates = list(refs)
    return [
        name
        for name in function_references(instructions)
        if resolve_reference(name, candidates) is None and len(candidates_of(name, candidates)) < 2
    ]


def ambiguous_functions(instructions: str | None, refs: Iterable[FunctionRef]) -> dict[str, list[str]]:
    """References that several attached MCPs offer, each with the names the model sees for them
    (write one of those in the instructions to pick one)."""
    candidates = list(refs)
    found: dict[str, list[str]] = {}
    for name in function_references(instructions):
        if resolve_reference(name, candidates) is None:
            matches = candidates_of(name, candidates)
            if len(matches) > 1:
                found[name] = [ref.model_name for ref in matches]
    return found
