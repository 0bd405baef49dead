"""The OFFLINE provider: a built-in, deterministic, network-free model (SPEC section 5).

``words`` (tokens, stems, synonyms) → ``routing`` (which function a message asks for) →
``extract`` (its arguments, by schema) → ``replies`` (questions, help, result summaries) →
``provider`` (the :class:`OfflineProvider` that decides one model step from the history)."""

from .provider import OfflineProvider

__all__ = ["OfflineProvider"]
