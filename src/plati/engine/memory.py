"""Conversations kept in memory between turns: who is talking on which channel, and the tail of
what was said.

The database stays the record: a conversation's :class:`History` here is exactly the tail of its
stored parts, read from the database the first time and then extended only with parts that were
committed. That holds because one process runs a conversation's turns one at a time (the turn
runner's per-conversation lock) and only the turn runner writes parts; a history whose write
failed is dropped and read again. Memory is bounded by a count of conversations and by the size
of the parts kept; the least recently used conversation goes first.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field

from .messages import Part

HISTORY_LIMIT = 200  # parts of earlier turns the model sees
MAX_CONVERSATIONS = 4096
MAX_HISTORY_BYTES = 64 * 1024 * 1024  # JSON size of the parts kept, all conversations together
MAX_PARTICIPANTS = 65_536


@dataclass(frozen=True)
class Participant:
    """An identity and its conversation on one channel."""

    identity_id: str
    external_id: str
    name: str | None
    conversation_id: str


@dataclass
class History:
    """The tail of a conversation's stored parts, and the sequence number of the last one."""

    seq: int
    parts: list[Part] = field(default_factory=list)
    sizes: list[int] = field(default_factory=list)  # JSON size of each part
    size: int = 0


class ConversationMemory:
    def __init__(
        self,
        *,
        max_conversations: int = MAX_CONVERSATIONS,
        max_bytes: int = MAX_HISTORY_BYTES,
        max_participants: int = MAX_PARTICIPANTS,
    ) -> None:
        self.max_conversations = max_conversations
        self.max_bytes = max_bytes
        self.max_participants = max_participants
        self._participants: OrderedDict[tuple[str, str, str], Participant] = OrderedDict()
        self._histories: OrderedDict[str, History] = OrderedDict()
        self._bytes = 0

    # -- participants: (workspace id, channel id, identity's external id) -> ids --------------

    def participant(self, workspace_id: str, channel_id: str, external_id: str) -> Participant | None:
        key = (workspace_id, channel_id, external_id)
        found = self._participants.get(key)
        if found is not None:
            self._participants.move_to_end(key)
        return found

    def remember_participant(self, workspace_id: str, channel_id: str, participant: Participant) -> None:
        key = (workspace_id, channel_id, participant.external_id)
        self._participants[key] = participant
        self._participants.move_to_end(key)
        while len(self._participants) > self.max_participants:
            self._participants.popitem(last=False)

    def forget_participant(self, workspace_id: str, channel_id: str, external_id: str) -> None:
        self._participants.pop((workspace_id, channel_id, external_id), None)

    # -- histories, by conversation id (used under the conversation's lock) -------------------

    def history(self, conversation_id: str) -> History | None:
        found = self._histories.get(conversation_id)
        if found is not None:
            self._histories.move_to_end(conversation_id)
        return found

    def remember_history(self, conversation_id: str, history: History) -> None:
        self.forget_history(conversation_id)
        self._histories[conversation_id] = history
        self._bytes += history.size
        self._shrink()

    def forget_history(self, conversation_id: str) -> None:
        dropped = self._histories.pop(conversation_id, None)
        if dropped is not None:
            self._bytes -= dropped.size

    def extend(self, conversation_id: str, history: History, parts: list[Part], sizes: list[int], seq: int) -> None:
        """Add parts that were just stored (``seq``: the last one's sequence number)."""
        history.parts.extend(parts)
        history.sizes.extend(sizes)
        added = sum(sizes)
        history.size += added
        history.seq = seq
        if self._histories.get(conversation_id) is history:
            self._bytes += added
            self._shrink()

    def trim(self, conversation_id: str, history: History, keep: int) -> None:
        """Keep the last ``keep`` parts of ``history``."""
        extra = len(history.parts) - keep
        if extra <= 0:
            return
        removed = sum(history.sizes[:extra])
        del history.parts[:extra]
        del history.sizes[:extra]
        history.size -= removed
        if self._histories.get(conversation_id) is history:
            self._bytes -= removed

    def _shrink(self) -> None:
        """Drop the least recently used histories until within bounds (the newest always stays)."""
        while len(self._histories) > 1 and (
            len(self._histories) > self.max_conversations or self._bytes > self.max_bytes
        ):
            _, dropped = self._histories.popitem(last=False)
            self._bytes -= dropped.size

    @property
    def total_bytes(self) -> int:
        return self._bytes

    def __len__(self) -> int:
        return len(self._histories)


__all__ = ["HISTORY_LIMIT", "ConversationMemory", "History", "Participant"]
