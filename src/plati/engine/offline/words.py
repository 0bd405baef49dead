"""Words for the offline model: tokenizing, a small stemmer and synonym groups, so that "where is
my parcel" and ``check_order_status`` ("Get current order status and tracking info") meet on the
same concepts."""

from __future__ import annotations

import re

__all__ = ["STOPWORDS", "VERBS", "concept", "concepts", "name_words", "stem", "wordlist", "words"]


def wordlist(text: str) -> tuple[str, ...]:
    """A word list written as one string (keeps long tables compact)."""
    return tuple(text.split())


STOPWORDS = frozenset(
    wordlist(
        """a an the i i'm im me my mine we our us you your it its it's this that these those is are was
    were be been am do does did don't to of for on in at by with and or but so if then than please
    pls can could would will shall should may might want wanna need like just also some any what
    which who whom how hi hello hey thanks thank ok okay yes yeah no not get got help there here
    about have has had let know tell give show make sure now again one more really very much
    they them their he she his her him when"""
    )
)

VERBS = frozenset(
    wordlist(
        "get check process create apply update schedule send initiate make add set fetch list find search cancel "
        "submit request start open retrieve lookup do"
    )
)
"""Verbs that start function names ("check" in ``check_order_status``)."""

# Concept groups: every word of a group means the group's first word. Words are stemmed when the
# table is built, so list them in their plain form.
_GROUPS: tuple[tuple[str, ...], ...] = (
    ("order", "orders", "purchase", "package", "parcel", "shipment"),
    wordlist(
        "status where track tracking whereabouts progress arrive arrival deliver delivery eta ship shipping late delay"
    ),
    ("check", "look", "lookup", "view", "see", "verify"),
    ("return", "refund", "exchange", "sendback", "moneyback"),
    ("discount", "code", "coupon", "promo", "promotion", "voucher", "deal", "offer"),
    ("apply", "use", "using", "redeem", "applied"),
    ("recommend", "recommendation", "suggest", "suggestion", "idea", "personalized", "personalize"),
    ("product", "item", "buy", "shop"),
    ("customer", "client"),
    ("profile", "account"),
    ("ticket", "support", "issue", "problem", "complaint", "complain"),
    ("note", "comment", "remark", "memo"),
    ("callback", "phone", "ring"),
    ("schedule", "book", "arrange", "appointment"),
    ("email", "mail"),
    ("create", "open", "new", "file", "raise", "submit"),
    ("update", "change", "edit", "modify", "add"),
    ("process", "initiate", "start", "handle"),
)

_PHRASES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"\bsen[dt]\s+(?:\w+\s+){0,2}back\b"), " sendback "),
    (re.compile(r"\bmoney\s+back\b"), " moneyback "),
    (re.compile(r"\bcall\s+(?:me\s+)?back\b|\bcall\s+me\b|\bring\s+me\b"), " callback "),
    (re.compile(r"\bwhere'?s\b"), " where "),
    (re.compile(r"\blook\s+up\b"), " lookup "),
    (re.compile(r"\be-mail\b"), " email "),
)

_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_NAME_SPLIT = re.compile(r"[^A-Za-z0-9]+")


def stem(word: str) -> str:
    """A deliberately small suffix stripper: plurals, -ing, -ed, -ation, a final -e."""
    w = word.lower()
    if len(w) <= 3:
        return w
    if w.endswith("ies") and len(w) > 4:
        w = w[:-3] + "y"
    elif w.endswith(("sses", "shes", "ches", "xes")):
        w = w[:-2]
    elif w.endswith("s") and not w.endswith(("ss", "us", "is")):
        w = w[:-1]
    if w.endswith("ation") and len(w) > 7:
        w = w[:-5]
    elif w.endswith("ing") and len(w) > 5:
        w = w[:-3]
    elif w.endswith("ied") and len(w) > 4:
        w = w[:-3] + "y"
    elif w.endswith("ed") and len(w) > 4:
        w = w[:-2]
    if len(w) > 3 and w[-1] == w[-2] and w[-1] not in "lsz":
        w = w[:-1]
    if w.endswith("e") and len(w) > 4:
        w = w[:-1]
    return w


_CONCEPT: dict[str, str] = {stem(word): group[0] for group in _GROUPS for word in group}


def concept(word: str) -> str:
    """The concept a word stands for: its synonym group's head, else its stem."""
    stemmed = stem(word)
    return _CONCEPT.get(stemmed, stemmed)


def words(text: str) -> list[str]:
    """Lower-case words of ``text`` (phrases such as "send it back" joined into one word)."""
    lowered = _CAMEL.sub(" ", text).lower()
    for pattern, replacement in _PHRASES:
        lowered = pattern.sub(replacement, lowered)
    return _WORD.findall(lowered)


def concepts(text: str) -> list[str]:
    """The concepts of ``text``, in order, without stop words and bare numbers."""
    return [concept(w) for w in words(text) if w not in STOPWORDS and not w.isdigit()]


def name_words(name: str) -> list[str]:
    """The words of an identifier: ``check_order_status`` / ``checkOrderStatus`` → check, order, status."""
    return [w.lower() for w in _NAME_SPLIT.split(_CAMEL.sub("_", name)) if w]
