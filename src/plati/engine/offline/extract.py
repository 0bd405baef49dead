"""Arguments from a user message, by the function's JSON Schema: ids by pattern and prefix
(``ORD-001`` → ``order_id``), emails, numbers, enum values, booleans, times, codes and free text
("because ..." → ``reason``)."""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import Any

from plati.engine.providers.base import ToolDef

from .routing import EMAIL, ID_TOKEN, id_prefix_words, is_id_param, prefix_fits, properties
from .words import STOPWORDS, concept, name_words, stem, wordlist

__all__ = ["extract_arguments", "is_open_text", "missing_required", "with_defaults"]

_NUMBER_WORDS = {
    w: i
    for i, w in enumerate(
        re.findall(
            r"\w+",
            "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
            "sixteen seventeen eighteen nineteen twenty",
        )
    )
}
_NUM = r"(\d+(?:\.\d+)?|" + "|".join(_NUMBER_WORDS) + r")"
_FREE_NUMBER = re.compile(r"(?<![\w.:/-])\d+(?:\.\d+)?(?![\w:/-])")
_COUNT_NAMES = frozenset({"limit", "count", "max", "maximum", "top", "n", "num", "number", "size", "quantity", "qty"})
_COUNT_PATTERNS = (
    re.compile(
        r"\b(?:top|limit(?:\s+(?:of|to|it\s+to))?|max(?:imum)?(?:\s+of)?|first|show(?:\s+me)?|give(?:\s+me)?|list"
        r"|recommend(?:\s+me)?|suggest(?:\s+me)?|get(?:\s+me)?|find(?:\s+me)?|only)\s+" + _NUM + r"\b",
        re.IGNORECASE,
    ),
    re.compile(
        r"\b" + _NUM + r"\s+(?:[a-z-]+\s+){0,2}(?:items|products|recommendations|suggestions|results|options|ideas"
        r"|things|picks|ones|entries|records)\b",
        re.IGNORECASE,
    ),
)
_DAY = r"(?:today|tonight|tomorrow|monday|tuesday|wednesday|thursday|friday|saturday|sunday|next\s+week|this\s+week)"
_CLOCK = r"(?:\d{1,2}(?::\d{2})?\s*(?:am|pm)|\d{1,2}:\d{2}|noon|midnight)"
_PART = r"(?:morning|afternoon|evening|night)"
TIME = re.compile(
    rf"\b(?:\d{{4}}-\d{{2}}-\d{{2}}(?:[T ]\d{{2}}:\d{{2}}(?::\d{{2}})?)?"
    rf"|{_DAY}(?:\s+{_PART})?(?:\s+(?:at|@)\s*{_CLOCK})?"
    rf"|(?:(?:at|@)\s*)?{_CLOCK}(?:\s+(?:on\s+)?{_DAY})?"
    rf"|(?:this|tomorrow)\s+{_PART})",
    re.IGNORECASE,
)
_CODE_AFTER = re.compile(
    r"\b(?:code|coupon|promo|voucher)(?:\s+code)?\s*(?:is|:|=|of|#)?\s*[\"']?([A-Za-z0-9][A-Za-z0-9_-]{2,})",
    re.IGNORECASE,
)
_CAPS_TOKEN = re.compile(r"(?<![\w-])(?=[A-Z0-9_-]*[A-Z])(?=[A-Z0-9_-]*\d)[A-Z0-9][A-Z0-9_-]{3,}(?![\w-])")
_REASON_AFTER = re.compile(
    r"(?:\b(?:because(?:\s+of)?|since|due\s+to|'?cause)\b|(?:,\s*|\s)as\s+(?=(?:it|they|the|i|my|we|this|that|he|she)\b))"
    r"\s*(.+)",
    re.IGNORECASE | re.DOTALL,
)
_AFTER_COLON = re.compile(r":\s+(.+)", re.DOTALL)
_SAYING = re.compile(r"\b(?:saying|that says|which says|stating)\s+(.+)", re.IGNORECASE | re.DOTALL)
_LEADING_FILLER = re.compile(
    r"^(?:[\s,;:.?!\-\u2013\u2014]|because\b|since\b|as\b|for\b|please\b|and\b)+", re.IGNORECASE
)
_ANSWER_FILLER = re.compile(
    r"^\s*(?:sure|ok|okay|yes|yeah|it is|it's|its|the\b[\w\s]{0,20}?\bis)\b[,:]?", re.IGNORECASE
)
_AGREEING = re.compile(r"^\s*(?:sure|ok|okay|yes|yeah|well)\b[,!.]?", re.IGNORECASE)
_CATEGORY_AFTER = re.compile(
    r"\b(?:in|for|about|from|of)\s+(?:the\s+|some\s+|my\s+|a\s+|an\s+)?([a-z][\w-]*)(?:\s+([a-z][\w-]*))?",
    re.IGNORECASE,
)
_NEGATION = frozenset({"no", "not", "don't", "dont", "without", "never", "skip"})
_YES = re.compile(r"^\s*(?:yes|yeah|yep|sure|ok|okay|please do|true|correct)\b", re.IGNORECASE)
_NO = re.compile(r"^\s*(?:no|nope|nah|false|don't|do not)\b", re.IGNORECASE)
_FREE_TEXT_NAMES = frozenset(
    wordlist(
        "reason description body message note notes comment comments details text content feedback explanation "
        "query question why problem issue"
    )
)
_SHORT_TEXT_NAMES = frozenset({"title", "subject", "summary", "headline", "topic_title"})
_CATEGORY_NAMES = frozenset({"category", "type", "topic", "genre", "department", "kind", "section", "style"})
_TIME_NAMES = frozenset({"time", "date", "datetime", "when", "day", "slot", "deadline", "schedule"})
_NOT_CATEGORY = frozenset({"customer", "client", "me", "you", "us", "order", "account", "user", "him", "her", "them"})


@dataclass
class _Text:
    """A message with the spans other parameters already took."""

    text: str
    used: list[tuple[int, int]] = field(default_factory=list)

    def free(self, start: int, end: int) -> bool:
        return all(end <= a or start >= b for a, b in self.used)

    def take(self, start: int, end: int) -> None:
        self.used.append((start, end))


def _type(schema: dict[str, object]) -> str:
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "string")
    return kind if isinstance(kind, str) else "string"


def with_defaults(tool: ToolDef, arguments: dict[str, Any]) -> dict[str, Any]:
    """``arguments`` plus the schema's (non-null) defaults for parameters not given, in schema order."""
    merged: dict[str, Any] = {}
    for name, schema in properties(tool).items():
        if name in arguments:
            merged[name] = arguments[name]
        elif schema.get("default") is not None:  # a null default is the same as leaving it out
            merged[name] = schema["default"]
    merged.update({k: v for k, v in arguments.items() if k not in merged})
    return merged


def is_open_text(name: str, schema: dict[str, object]) -> bool:
    """Whether a parameter takes free words (a reason, a note), not a recognisable token."""
    words = name_words(name)
    if _type(schema) != "string" or "enum" in schema or is_id_param(name):
        return False
    if "email" in words or name in ("to", "recipient", "cc") or schema.get("format") in ("email", "date", "date-time"):
        return False
    return not (words[-1:] and words[-1] in ("code", "coupon", "promo", "voucher")) and not set(words) & _TIME_NAMES


def missing_required(tool: ToolDef, arguments: dict[str, Any]) -> list[str]:
    required = tool.parameters.get("required") if isinstance(tool.parameters, dict) else None
    if not isinstance(required, list):
        return []
    return [str(name) for name in required if name not in arguments]


def extract_arguments(
    tool: ToolDef,
    text: str,
    *,
    id_words: Sequence[str] = (),
    answering: Collection[str] = (),
) -> dict[str, Any]:
    """The arguments of ``tool`` that ``text`` states. ``id_words`` are the id prefixes every
    offered tool knows (an ``ORD-`` token is an order id, never a customer id); ``answering``
    names parameters the previous turn asked for, so a bare reply ("ORD-7", "they are too
    small") is taken as their value."""
    state = _Text(text)
    found: dict[str, Any] = {}
    props = properties(tool)
    for name, schema in props.items():  # explicit "name: value" first, for any parameter
        value = _explicit(name, schema, state)
        if value is not None:
            found[name] = value
    _ids(props, state, found, id_words)
    for name, schema in props.items():
        if name in found:
            continue
        value = _by_kind(tool, name, schema, state)
        if value is not None:
            found[name] = value
    for name in answering:
        if name not in found and name in props:
            value = _bare_answer(name, props[name], state)
            if value is not None:
                found[name] = value
    return found


# --- per-kind extraction ----------------------------------------------------------------------


def _explicit(name: str, schema: dict[str, object], state: _Text) -> Any:
    spelled = "|".join(re.escape(s) for s in sorted({name, " ".join(name_words(name))}, key=len, reverse=True))
    pattern = rf"\b(?:{spelled})\s*(?:is|=|:)\s*(\"[^\"]*\"|'[^']*'|[^\s,;]+(?:[^,;\n]*))"
    match = re.search(pattern, state.text, re.IGNORECASE)
    if match is None:
        return None
    raw = match.group(1).strip().rstrip(".!?")
    if raw[:1] in "\"'":
        raw = raw[1:-1]
    elif not _is_free_text(name) and _type(schema) == "string" and "enum" not in schema:
        raw = raw.split()[0]
    value = _coerce(raw, schema)
    if value is not None:
        state.take(*match.span(1))
    return value


def _ids(props: dict[str, dict[str, object]], state: _Text, found: dict[str, Any], id_words: Sequence[str]) -> None:
    params = [name for name in props if name not in found and is_id_param(name) and _type(props[name]) == "string"]
    if not params:
        return
    tokens = [m for m in ID_TOKEN.finditer(state.text) if state.free(*m.span())]

    def token_value(match: re.Match[str]) -> str:
        return f"{match.group(1).upper()}-{match.group(2)}"

    def fits(match: re.Match[str], param: str) -> bool:
        return any(prefix_fits(match.group(1), word) for word in id_prefix_words(param))

    for param in params:  # a token whose prefix abbreviates the parameter: ORD-1 → order_id
        for match in tokens:
            if state.free(*match.span()) and fits(match, param):
                found[param] = token_value(match)
                state.take(*match.span())
                break
    for param in params:  # "order #12345", "order number 12345"
        if param in found:
            continue
        for word in id_prefix_words(param):
            pattern = rf"\b{re.escape(word)}s?\s*(?:number|no\.?|num|id|#)?\s*[:#]?\s*#?([A-Za-z0-9]*\d[A-Za-z0-9-]*)\b"
            hit = re.search(pattern, state.text, re.IGNORECASE)
            if hit and state.free(*hit.span(1)):
                found[param] = hit.group(1)
                state.take(*hit.span(1))
                break
    claimed = list(id_words)
    for param in params:  # an upper-case token no known id prefix claims (or a bare ``id``)
        if param in found:
            continue
        for match in tokens:
            if not state.free(*match.span()) or not match.group(1).isupper():
                continue
            if any(prefix_fits(match.group(1), word) for word in claimed) and not fits(match, param):
                continue
            found[param] = token_value(match)
            state.take(*match.span())
            break


def _by_kind(tool: ToolDef, name: str, schema: dict[str, object], state: _Text) -> Any:
    kind = _type(schema)
    enum = schema.get("enum")
    if isinstance(enum, list) and enum:
        return _enum(enum, state)
    if kind == "boolean":
        return _boolean(name, state)
    if kind in ("integer", "number"):
        return _number(tool, name, schema, state)
    if kind != "string":
        return None
    words = name_words(name)
    if schema.get("format") == "email" or "email" in words or name in ("to", "recipient", "cc"):
        return _first(EMAIL, state)
    if words and words[-1] in ("code", "coupon", "promo", "voucher"):
        return _code(state)
    if set(words) & _TIME_NAMES or schema.get("format") in ("date", "date-time", "time"):
        return _first(TIME, state)
    if _is_free_text(name):
        return _free_text(state)
    if words and words[-1] in _SHORT_TEXT_NAMES:
        text = _free_text(state)
        return _title(text) if text else None
    if words and words[-1] in _CATEGORY_NAMES:
        return _category(state)
    return None


def _is_free_text(name: str) -> bool:
    words = name_words(name)
    return bool(words) and words[-1] in _FREE_TEXT_NAMES


def _first(pattern: re.Pattern[str], state: _Text) -> str | None:
    for match in pattern.finditer(state.text):
        if state.free(*match.span()):
            state.take(*match.span())
            return match.group(0).strip()
    return None


def _enum(values: list[object], state: _Text) -> object | None:
    lowered = state.text.lower()
    stems = {stem(w) for w in re.findall(r"[a-z0-9]+", lowered)}
    best: tuple[int, object] | None = None
    for value in values:
        spelled = str(value).lower()
        match = re.search(rf"(?<![\w-]){re.escape(spelled)}(?![\w-])", lowered)
        position = match.start() if match else (len(lowered) if " " not in spelled and stem(spelled) in stems else -1)
        if position >= 0 and (best is None or position < best[0]):
            best = (position, value)
    return best[1] if best else None


def _boolean(name: str, state: _Text) -> bool | None:
    tokens = re.findall(r"[a-z']+", state.text.lower())
    wanted = {concept(w) for w in name_words(name) if w not in STOPWORDS and w not in ("is", "include", "with")}
    for index, token in enumerate(tokens):
        if wanted and concept(token) in wanted:
            return not any(t in _NEGATION for t in tokens[max(0, index - 3) : index])
    return None


def _number(tool: ToolDef, name: str, schema: dict[str, object], state: _Text) -> int | float | None:
    spelled = "|".join(re.escape(w) for w in name_words(name))
    candidates: list[re.Match[str]] = []
    if spelled:
        candidates += re.finditer(rf"\b(?:{spelled})\s*(?:of|is|=|:|to|at)?\s*{_NUM}\b", state.text, re.IGNORECASE)
        candidates += re.finditer(rf"\b{_NUM}\s+(?:{spelled})\b", state.text, re.IGNORECASE)
    if set(name_words(name)) & _COUNT_NAMES:
        for pattern in _COUNT_PATTERNS:
            candidates += pattern.finditer(state.text)
    for match in sorted(candidates, key=lambda m: m.start(1)):
        value = _to_number(match.group(1), schema)
        if value is not None and state.free(*match.span(1)):
            state.take(*match.span(1))
            return value
    numeric = [n for n, s in properties(tool).items() if _type(s) in ("integer", "number") and "enum" not in s]
    if numeric == [name]:  # the tool's only number: a lone free number in the message is it
        free = [
            m
            for m in _FREE_NUMBER.finditer(state.text)
            if state.free(*m.span()) and not any(t.start() <= m.start() < t.end() for t in TIME.finditer(state.text))
        ]
        if len(free) == 1:
            value = _to_number(free[0].group(0), schema)
            if value is not None:
                state.take(*free[0].span())
                return value
    return None


def _code(state: _Text) -> str | None:
    for match in _CODE_AFTER.finditer(state.text):
        token = match.group(1)
        if state.free(*match.span(1)) and (any(c.isdigit() for c in token) or token.isupper()):
            state.take(*match.span(1))
            return token
    for match in _CAPS_TOKEN.finditer(state.text):
        if state.free(*match.span()) and not ID_TOKEN.fullmatch(match.group(0)):
            state.take(*match.span())
            return match.group(0)
    return None


def _clean(text: str) -> str:
    text = _LEADING_FILLER.sub("", text).strip()
    return text.rstrip(" .!?,;").strip()


def _free_text(state: _Text) -> str | None:
    """The descriptive part of a message: after "because"/"since"/"as it...", after a colon or
    "saying", else what follows the last id or email."""
    for pattern in (_REASON_AFTER, _AFTER_COLON, _SAYING):
        match = pattern.search(state.text)
        if match:
            value = _clean(match.group(1))
            if value:
                return value
    anchors = [m.end() for m in ID_TOKEN.finditer(state.text)] + [m.end() for m in EMAIL.finditer(state.text)]
    if anchors:
        value = _clean(state.text[max(anchors) :])
        if len(value.split()) >= 2:
            return value
    return None


def _title(text: str) -> str:
    words = text.split()
    short = " ".join(words[:8])
    return short[:1].upper() + short[1:]


def _category(state: _Text) -> str | None:
    for match in _CATEGORY_AFTER.finditer(state.text):
        first, second = match.group(1), match.group(2)
        if first.lower() in STOPWORDS or first.lower() in _NOT_CATEGORY or not state.free(*match.span(1)):
            continue
        if ID_TOKEN.match(state.text, match.start(1)):
            continue
        value = first
        if first.lower() in _CATEGORY_NAMES and second:
            first, second = second, None
            value = first
        if second and second.lower() not in STOPWORDS and second.lower() not in _NOT_CATEGORY | {"for", "in", "with"}:
            value = f"{first} {second}"
        state.take(match.start(1), match.start(1) + len(value))
        return value.lower()
    return None


def _bare_answer(name: str, schema: dict[str, object], state: _Text) -> Any:
    """The reply itself as the asked parameter's value ("ORD-7", "12345", "yes", "they're too small")."""
    kind = _type(schema)
    if kind == "boolean":
        return True if _YES.match(state.text) else False if _NO.match(state.text) else None
    if "enum" in schema:
        return None  # an enum value would have been recognised; anything else is not one
    rest = state.text
    for a, b in sorted(state.used, reverse=True):
        rest = rest[:a] + " " + rest[b:]
    if kind in ("integer", "number"):
        match = re.search(rf"\b{_NUM}\b", rest, re.IGNORECASE)
        return _to_number(match.group(1), schema) if match else None
    if kind != "string":
        return None
    if is_id_param(name) or name_words(name)[-1:] == ["code"]:
        tokens = [t.strip(".,!?#") for t in _clean(_ANSWER_FILLER.sub("", rest)).split()]
        coded = [t for t in tokens if any(c.isdigit() for c in t) or (len(t) > 2 and t.isupper())]
        if coded and len(tokens) <= 4:
            return coded[-1]
        if len(tokens) == 1 and not is_id_param(name):  # a one-word code: "welcome"
            return tokens[0]
        return None
    return _clean(_AGREEING.sub("", rest)) or None


def _coerce(raw: str, schema: dict[str, object]) -> Any:
    kind = _type(schema)
    enum = schema.get("enum")
    if isinstance(enum, list) and enum:
        for value in enum:
            if str(value).lower() == raw.lower():
                return value
        return None
    if kind in ("integer", "number"):
        return _to_number(raw, schema)
    if kind == "boolean":
        word = raw.lower()
        return True if word in ("true", "yes", "on", "1") else False if word in ("false", "no", "off", "0") else None
    if kind == "string":
        return raw
    return None


def _to_number(raw: str, schema: dict[str, object]) -> int | float | None:
    """``raw`` ("5", "2.5", "five") as the schema's number type, if it fits its bounds."""
    word = raw.lower()
    if word in _NUMBER_WORDS:
        number = float(_NUMBER_WORDS[word])
    else:
        try:
            number = float(raw)
        except ValueError:
            return None
    integer = _type(schema) == "integer"
    if number != number or (integer and not number.is_integer()):
        return None
    minimum, maximum = schema.get("minimum"), schema.get("maximum")
    if isinstance(minimum, int | float) and number < minimum:
        return None
    if isinstance(maximum, int | float) and number > maximum:
        return None
    return int(number) if integer else number
