"""Routing a user message to a function: each tool gets a weighted bag of concepts from its name,
description, parameters and the lines of the prompt that reference it; a message scores the sum of
the weights of its concepts, each scaled by how few tools share it (an inverse document frequency)."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from plati.engine.providers.base import ToolDef

from .words import STOPWORDS, VERBS, concept, concepts, name_words

__all__ = ["EMAIL", "MIN_SCORE", "Router", "base_name", "id_tokens", "prefix_fits", "properties"]

MIN_SCORE = 2.0
"""The score a message must reach for the offline model to call a function."""

NAME_WEIGHT = 3.0
NAME_VERB_WEIGHT = 1.5  # "check", "get", "process": what the tool does matters less than what it acts on
NAMESPACE_WEIGHT = 0.5
DESCRIPTION_WEIGHT = 1.0
PARAMETER_WEIGHT = 0.5
PROMPT_LINE_WEIGHT = 1.5
PROMPT_BLOCK_WEIGHT = 0.75
MENTION_BONUS = 10.0
SIDE_CLAUSE = 0.3  # concepts of a "because ..." or ": ..." clause count less: they describe, not ask

EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
ID_TOKEN = re.compile(r"(?<![\w-])([A-Za-z]{2,})-(\d+(?:-\d+)*)(?![\w-])")
_ID_WORDS = frozenset({"id", "ids", "number", "no", "num", "ref", "reference"})
_SIDE_CLAUSE = re.compile(r"\b(?:because|since|due\s+to|reason\s+is)\b|\breason\s*:|:(?=\s)", re.IGNORECASE)
_RAW_REFERENCE = re.compile(r"\{\{\s*function\.([^\s(){}]+)\s*(?:\([^)}]*\))?\s*\}\}")


def base_name(name: str) -> str:
    """A model-facing name without its MCP namespace: ``shop__check_order_status`` → ``check_order_status``."""
    return name.rsplit("__", 1)[-1]


def properties(tool: ToolDef) -> dict[str, dict[str, object]]:
    """The tool's parameter schemas by name (an empty dict for a schema without properties)."""
    props = tool.parameters.get("properties") if isinstance(tool.parameters, dict) else None
    if not isinstance(props, dict):
        return {}
    return {str(k): (v if isinstance(v, dict) else {}) for k, v in props.items()}


def id_prefix_words(param: str) -> list[str]:
    """The words of an id-like parameter name that tell what it identifies: ``order_id`` → order."""
    parts = name_words(param)
    if len(parts) >= 2 and parts[-1] in _ID_WORDS:
        return parts[:-1]
    return []


def is_id_param(param: str) -> bool:
    parts = name_words(param)
    return bool(parts) and (parts == ["id"] or (len(parts) >= 2 and parts[-1] in _ID_WORDS))


def prefix_fits(letters: str, word: str) -> bool:
    """Whether an id's letters abbreviate ``word``: ORD ↔ order, CUST ↔ customer, TKT ↔ ticket."""
    letters, word = letters.lower(), word.lower()
    if len(letters) < 2 or not word or letters[0] != word[0]:
        return False
    rest = iter(word[1:])
    return all(ch in rest for ch in letters[1:])


def id_tokens(text: str) -> list[re.Match[str]]:
    """Id-looking tokens (``ORD-001``, ``CUST-42``) of ``text``, in order."""
    return list(ID_TOKEN.finditer(text))


@dataclass(frozen=True)
class Route:
    tool: ToolDef
    score: float


class Router:
    """Scores messages against a fixed set of tools and a prompt."""

    def __init__(self, tools: Sequence[ToolDef], system: str) -> None:
        self.tools = list(tools)
        self._bags = [self._bag(tool, system) for tool in self.tools]
        frequency: dict[str, int] = {}
        for bag in self._bags:
            for key in bag:
                frequency[key] = frequency.get(key, 0) + 1
        n = len(self.tools)
        self._idf = {key: math.log((n + 1) / count) + 0.1 for key, count in frequency.items()}
        self.id_words: list[str] = sorted(
            {w for tool in self.tools for p in properties(tool) for w in id_prefix_words(p)}
        )

    # --- building ---------------------------------------------------------------------------

    def _bag(self, tool: ToolDef, system: str) -> dict[str, float]:
        bag: dict[str, float] = {}

        def add(items: Iterable[str], weight: float) -> None:
            for item in items:
                if weight > bag.get(item, 0.0):
                    bag[item] = weight

        own = base_name(tool.name)
        own_words = [w for w in name_words(own) if w not in STOPWORDS and len(w) > 1]
        add((concept(w) for w in own_words if w not in VERBS), NAME_WEIGHT)
        add((concept(w) for w in own_words if w in VERBS), NAME_VERB_WEIGHT)
        if own != tool.name:
            add((concept(w) for w in name_words(tool.name[: -len(own)]) if w not in STOPWORDS), NAMESPACE_WEIGHT)
        add(concepts(tool.description or ""), DESCRIPTION_WEIGHT)
        for param, schema in properties(tool).items():
            add((concept(w) for w in name_words(param) if w not in STOPWORDS and w not in _ID_WORDS), PARAMETER_WEIGHT)
            enum = schema.get("enum")
            if isinstance(enum, list):
                add(concepts(" ".join(str(v) for v in enum)), PARAMETER_WEIGHT)
        line_words, block_words = _prompt_context(tool, system, self.tools)
        add(line_words, PROMPT_LINE_WEIGHT)
        add(block_words, PROMPT_BLOCK_WEIGHT)
        return bag

    # --- scoring ----------------------------------------------------------------------------

    def message_concepts(self, text: str) -> dict[str, float]:
        """The concepts of a message with their weight (1, or half in a "because ..." clause);
        an id token adds the concept its prefix abbreviates (``ORD-7`` → order)."""
        weights: dict[str, float] = {}
        cut = _SIDE_CLAUSE.search(text)
        main, side = (text[: cut.start()], text[cut.start() :]) if cut else (text, "")
        plain_main = ID_TOKEN.sub(" ", main)
        for item in concepts(ID_TOKEN.sub(" ", side)):
            weights[item] = max(weights.get(item, 0.0), SIDE_CLAUSE)
        for item in concepts(plain_main):
            weights[item] = 1.0
        if EMAIL.search(text):
            weights.setdefault("email", 1.0)
        for match in ID_TOKEN.finditer(text):
            for word in self.id_words:
                if prefix_fits(match.group(1), word):
                    weights.setdefault(concept(word), 1.0)
        return weights

    def score(self, index: int, weights: dict[str, float], *, ignore: frozenset[str] = frozenset()) -> float:
        bag = self._bags[index]
        return sum(
            bag[key] * self._idf[key] * weight for key, weight in weights.items() if key in bag and key not in ignore
        )

    def bag(self, tool: ToolDef) -> dict[str, float]:
        return self._bags[self.tools.index(tool)]

    def rank(self, text: str, *, ignore_from: ToolDef | None = None) -> list[Route]:
        """Tools by descending score for ``text`` (ties keep the tools' order). With
        ``ignore_from``, concepts that tool knows do not count (what is new in the message)."""
        weights = self.message_concepts(text)
        ignore = frozenset(self.bag(ignore_from)) if ignore_from is not None else frozenset()
        lowered = text.lower()
        routes = []
        for index, tool in enumerate(self.tools):
            value = self.score(index, weights, ignore=ignore)
            if re.search(rf"(?<![\w]){re.escape(base_name(tool.name).lower())}(?![\w])", lowered):
                value += MENTION_BONUS
            routes.append(Route(tool, value))
        return sorted(routes, key=lambda r: -r.score)

    def best(self, text: str, *, ignore_from: ToolDef | None = None) -> ToolDef | None:
        """The tool ``text`` asks for, or ``None`` when no tool reaches :data:`MIN_SCORE`."""
        routes = self.rank(text, ignore_from=ignore_from)
        candidates = [r for r in routes if ignore_from is None or r.tool is not ignore_from]
        if candidates and candidates[0].score >= MIN_SCORE:
            return candidates[0].tool
        return None


def _reference_pattern(tool: ToolDef) -> re.Pattern[str]:
    names = sorted({re.escape(tool.name), re.escape(base_name(tool.name))}, key=len, reverse=True)
    return re.compile(rf"(?<![\w.])(?:{'|'.join(names)})(?!\w)")


def _strip_references(line: str, tools: Sequence[ToolDef]) -> str:
    """A prompt line without function references (their names and argument lists are not context)."""
    line = _RAW_REFERENCE.sub(" ", line)
    for tool in tools:
        line = re.sub(_reference_pattern(tool).pattern + r"\s*(?:\([^)]*\))?", " ", line)
    return line


def _mentions(line: str, tool: ToolDef) -> bool:
    raw = {base_name(m.group(1)) for m in _RAW_REFERENCE.finditer(line)}
    return base_name(tool.name) in raw or _reference_pattern(tool).search(_RAW_REFERENCE.sub(" ", line)) is not None


def _prompt_context(tool: ToolDef, system: str, tools: Sequence[ToolDef]) -> tuple[list[str], list[str]]:
    """Concepts of the prompt lines that reference ``tool`` and of the paragraphs whose only
    referenced function is ``tool`` (a "When the customer asks about their order:" recipe)."""
    line_words: list[str] = []
    block_words: list[str] = []
    for block in re.split(r"\n\s*\n", system or ""):
        lines = block.splitlines()
        hits = [line for line in lines if _mentions(line, tool)]
        if not hits:
            continue
        for line in hits:
            line_words.extend(concepts(_strip_references(line, tools)))
        others = [other for other in tools if other is not tool and any(_mentions(line, other) for line in lines)]
        if not others:
            block_words.extend(concepts(_strip_references(block, tools)))
    return line_words, block_words
