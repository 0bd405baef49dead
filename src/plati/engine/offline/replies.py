"""What the offline model says: questions for missing arguments, what it can do, and readable
summaries of function results."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from plati.engine.messages import FunctionCall, FunctionResult
from plati.engine.providers.base import ToolDef

from .routing import base_name, id_prefix_words, is_id_param, properties
from .words import VERBS, name_words, wordlist

__all__ = ["ask_for", "cannot_help", "greeting", "help_lines", "summarize", "thanks"]

MAX_FACTS = 10
MAX_ITEMS = 10
MAX_TEXT = 600

_YOURS = frozenset(
    {"order", "customer", "account", "user", "member", "invoice", "booking", "reservation", "subscription"}
)
_NUMBERED = frozenset({"order", "invoice", "tracking", "booking", "reservation", "account"})
_LABELS = {
    "tracking": "Tracking number",
    "tracking_number": "Tracking number",
    "total_amount": "Total",
    "estimated_delivery": "Estimated delivery",
    "estimated_ship": "Estimated ship date",
    "eta": "Estimated arrival",
    "next_steps": "Next steps",
}
_SALIENT = wordlist(
    "tracking_number tracking carrier estimated_delivery estimated_ship eta delivered_at total_amount total amount "
    "return_id refund_amount ticket_id ticket_number next_steps"
)
_ITEM_LABELS = ("name", "title", "product_name", "product", "label", "description", "id")


# --- questions ------------------------------------------------------------------------------


def tool_noun(tool: ToolDef) -> str:
    """What a tool acts on, in words: ``process_return`` → "return"."""
    words = [w for w in name_words(base_name(tool.name)) if w not in VERBS]
    return " ".join(words) or " ".join(name_words(base_name(tool.name)))


def param_phrase(tool: ToolDef, param: str) -> str:
    """How to ask for a parameter: ``order_id`` → "your order number", ``reason`` → "the reason
    for the return", ``priority`` → "the priority (low, medium or high)"."""
    phrase = _param_words(tool, param)
    enum = properties(tool).get(param, {}).get("enum")
    if isinstance(enum, list) and 0 < len(enum) <= 6:
        values = [str(v) for v in enum]
        choices = values[0] if len(values) == 1 else ", ".join(values[:-1]) + " or " + values[-1]
        phrase += f" ({choices})"
    return phrase


def _param_words(tool: ToolDef, param: str) -> str:
    words = name_words(param)
    if is_id_param(param):
        noun = " ".join(id_prefix_words(param)) or tool_noun(tool)
        head = noun.split()[-1] if noun else ""
        owner = "your" if head in _YOURS else "the"
        kind = "number" if head in _NUMBERED or words[-1] == "number" else "ID"
        return f"{owner} {noun} {kind}".replace("  ", " ")
    if "email" in words or param in ("to", "recipient"):
        return "your email address" if param not in ("to", "recipient") else "the recipient's email address"
    if words and words[-1] in ("reason", "why"):
        return f"the reason for the {tool_noun(tool)}"
    if words and words[0] in ("preferred", "my", "your"):
        return "your " + " ".join(words[1:] if words[0] in ("my", "your") else words)
    return "the " + " ".join(words)


def ask_for(tool: ToolDef, missing: Sequence[str]) -> str:
    """A natural question for the missing required arguments."""
    phrases = [param_phrase(tool, name) for name in missing]
    listed = phrases[0] if len(phrases) == 1 else ", ".join(phrases[:-1]) + " and " + phrases[-1]
    return f"Could you give me {listed}?"


# --- help -----------------------------------------------------------------------------------


def help_lines(tools: Sequence[ToolDef]) -> str:
    lines = []
    for tool in tools[:MAX_ITEMS]:
        description = (tool.description or "").strip().split("\n")[0].split(". ")[0].rstrip(".")
        if not description or len(description.split()) > 14:
            description = " ".join(name_words(base_name(tool.name)))
        lines.append(f"- {description[:1].upper()}{description[1:]}")
    if len(tools) > MAX_ITEMS:
        lines.append(f"- … and {len(tools) - MAX_ITEMS} more")
    return "\n".join(lines)


def cannot_help(tools: Sequence[ToolDef]) -> str:
    if not tools:
        return "I'm sorry, I can't look anything up right now: no functions are available to me."
    return f"I'm not sure how to help with that. Here's what I can do:\n{help_lines(tools)}\nWhat would you like to do?"


def greeting(tools: Sequence[ToolDef]) -> str:
    if not tools:
        return "Hello! How can I help you today?"
    return f"Hello! Here's what I can help with:\n{help_lines(tools)}\nWhat would you like to do?"


def thanks() -> str:
    return "You're welcome! Is there anything else I can help with?"


# --- results --------------------------------------------------------------------------------


def summarize(results: Sequence[FunctionResult], calls: Sequence[FunctionCall]) -> str:
    """One readable paragraph per result of the last step."""
    by_id = {call.call_id: call for call in calls}
    return "\n\n".join(_summarize_one(result, by_id.get(result.call_id)) for result in results)


def _summarize_one(result: FunctionResult, call: FunctionCall | None) -> str:
    data = result.result
    if result.success and isinstance(data, dict) and data.get("success") is False and data.get("error"):
        return f"I couldn't complete that: {_sentence(str(data['error']))}"
    if not result.success:
        return f"I couldn't complete that: {_sentence(result.error or 'the function failed')}"
    text = _describe(_unwrap(data), call)
    if result.truncated:
        text += " (Part of the result was cut off.)"
    return text


def _unwrap(data: Any) -> Any:
    if isinstance(data, dict) and "data" in data and set(data) <= {"success", "data", "message"}:
        return data["data"]
    return data


def _describe(data: Any, call: FunctionCall | None) -> str:
    if data is None or data is True:
        return "Done."
    if data is False:
        return "That didn't go through."
    if isinstance(data, str):
        return _sentence(data[:MAX_TEXT]) if data.strip() else "Done."
    if isinstance(data, int | float):
        return f"The result is {_value(data)}."
    if isinstance(data, list):
        if not data:
            return "I didn't find anything."
        return "Here's what I found:\n" + _items(data)
    if isinstance(data, dict):
        return _describe_record(data, call)
    return _sentence(str(data)[:MAX_TEXT])


def _describe_record(data: dict[str, Any], call: FunctionCall | None) -> str:
    arguments = call.arguments if call else {}
    ids = [k for k, v in data.items() if k.endswith("_id") and isinstance(v, str | int)]
    # A record the call created (a return_id the caller did not pass) is what the reply is about;
    # otherwise the record the caller asked for (the order_id it passed).
    subject = next((k for k in ids if data[k] not in arguments.values()), None) if len(ids) > 1 else None
    subject = subject or next((k for k in ids if data[k] in arguments.values()), None)
    noun = " ".join(name_words(subject)[:-1]) if subject else ""
    status = data.get("status")
    sentences: list[str] = []
    if subject and noun:
        ident = data[subject]
        if isinstance(status, str) and _is_state(status):
            sentences.append(f"{noun.capitalize()} {ident} is {status}.")
        elif isinstance(status, str) and status.strip():
            sentences.append(f"{noun.capitalize()} {ident}: {_sentence(status)}")
        else:
            sentences.append(f"Here's what I found for {noun} {ident}.")
    elif isinstance(status, str) and status.strip():
        sentences.append(f"Status: {status}." if _is_state(status) else _sentence(status))
    used = {subject, "status", "success"}
    message = data.get("message")
    if isinstance(message, str) and message.strip():
        sentences.append(_sentence(message))
        used.add("message")
    keys = [k for k in _SALIENT if k in data] + [k for k in data if k not in _SALIENT]
    facts = 0
    for key in keys:
        value = data[key]
        if key in used or value is None or value == "" or value == [] or value == {}:
            continue
        if facts >= MAX_FACTS:
            break
        facts += 1
        label = _label(key)
        if isinstance(value, list):
            if all(not isinstance(v, dict | list) for v in value):
                sentences.append(f"{label}: {', '.join(_value(v) for v in value[:MAX_ITEMS])}.")
            else:
                sentences.append(f"{label}:\n{_items(value)}\n")
        elif isinstance(value, dict):
            inner = [f"{_label(k).lower()} {_value(v)}" for k, v in value.items() if not isinstance(v, dict | list)]
            if inner:
                sentences.append(f"{label}: {', '.join(inner[:MAX_FACTS])}.")
        else:
            shown = _value(value)
            sentences.append(f"{label}: {shown}" + ("" if shown.endswith((".", "!", "?")) else "."))
    text = " ".join(s.strip() if not s.endswith("\n") else s for s in sentences).replace("\n ", "\n").strip()
    return text or "Done."


def _is_state(status: str) -> bool:
    """A status that reads as a state ("shipped", "in transit"), not a sentence ("Return initiated successfully")."""
    words = status.split()
    return 0 < len(words) <= 2 or (len(words) == 3 and status[:1].islower())


def _items(values: list[Any]) -> str:
    lines = []
    for value in values[:MAX_ITEMS]:
        if isinstance(value, dict):
            label_key = next((k for k in _ITEM_LABELS if isinstance(value.get(k), str | int)), None)
            label = _value(value[label_key]) if label_key else ""
            extras = [
                f"{_label(k).lower()}: {_value(v)}"
                for k, v in value.items()
                if k != label_key and v not in (None, "") and not isinstance(v, dict | list)
            ][:3]
            if label and extras:
                lines.append(f"- {label} ({', '.join(extras)})")
            else:
                lines.append(f"- {label or ', '.join(extras) or '…'}")
        else:
            lines.append(f"- {_value(value)}")
    if len(values) > MAX_ITEMS:
        lines.append(f"- … and {len(values) - MAX_ITEMS} more")
    return "\n".join(lines)


def _label(key: str) -> str:
    if key in _LABELS:
        return _LABELS[key]
    words = ["ID" if w == "id" else w for w in name_words(key)]
    text = " ".join(words) or key
    return text[:1].upper() + text[1:]


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.2f}".rstrip("0").rstrip(".") if value == value and abs(value) < 1e15 else str(value)
    if isinstance(value, dict | list):
        return ", ".join(_value(v) for v in (value.values() if isinstance(value, dict) else value))
    return str(value)


def _sentence(text: str) -> str:
    text = " ".join(text.split())
    if not text:
        return ""
    text = text[:1].upper() + text[1:]
    return text if text.endswith((".", "!", "?")) else text + "."
