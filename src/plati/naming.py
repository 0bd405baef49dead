"""Model-facing function names (SPEC section 6).

A function keeps its own name unless two MCPs attached to the same assistant offer that name; then
each copy becomes ``<mcp>__<function>``. Every name is made safe for model providers
(``^[A-Za-z0-9_-]{1,64}$``), since third-party MCP servers may use dots, slashes or long names.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

MAX_NAME = 64
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")


def _slug(text: str) -> str:
    slug = _UNSAFE.sub("_", text.strip()).strip("_").lower()
    return slug or "mcp"


def safe_name(name: str) -> str:
    """``name`` with characters providers reject replaced by ``_``; a name longer than 64
    characters is cut and given a hash suffix, so two long names never collapse into one."""
    cleaned = _UNSAFE.sub("_", name).strip("_") or "function"
    if len(cleaned) <= MAX_NAME:
        return cleaned
    digest = hashlib.sha256(name.encode()).hexdigest()[:6]
    return f"{cleaned[: MAX_NAME - 7]}_{digest}"


@dataclass(frozen=True)
class FunctionRef:
    """One function of one MCP, as the assistant's model will see it."""

    model_name: str
    function: str
    mcp_id: str
    mcp_name: str


def assign_model_names(functions: Iterable[tuple[str, str, str]]) -> list[FunctionRef]:
    """Assign model-facing names to ``(mcp_id, mcp_name, function)`` triples, in order.

    Names are namespaced only where two different MCPs offer the same (sanitised) name.
    """
    items = list(functions)
    counts = Counter(safe_name(function) for _mcp_id, _mcp_name, function in items)
    slugs: dict[str, str] = {}
    used_slugs: set[str] = set()
    for mcp_id, mcp_name, _function in items:
        if mcp_id in slugs:
            continue
        slug = _slug(mcp_name)[:24]
        if slug in used_slugs:  # two MCPs whose names slug alike: the id tells them apart
            slug = f"{slug[:15]}_{mcp_id[-8:]}"
        used_slugs.add(slug)
        slugs[mcp_id] = slug
    refs: list[FunctionRef] = []
    taken: set[str] = set()
    for mcp_id, mcp_name, function in items:
        base = safe_name(function)
        name = base if counts[base] == 1 else safe_name(f"{slugs[mcp_id]}__{base}")
        if name in taken:  # the same MCP listing one name twice: keep the first
            continue
        taken.add(name)
        refs.append(FunctionRef(model_name=name, function=function, mcp_id=mcp_id, mcp_name=mcp_name))
    return refs
