"""Conversations kept in memory between turns stay within their bounds, least recently used first."""

from __future__ import annotations

from plati.engine.memory import ConversationMemory, History, Participant
from plati.engine.messages import Part, UserText


def parts(*texts: str) -> tuple[list[Part], list[int]]:
    made: list[Part] = [UserText(text=text) for text in texts]
    return made, [len(text) for text in texts]


def history(size: int) -> History:
    made, sizes = parts("x" * size)
    return History(seq=1, parts=made, sizes=sizes, size=size)


def test_the_least_recently_used_history_goes_first_when_there_are_too_many() -> None:
    memory = ConversationMemory(max_conversations=2)
    for name in ("a", "b"):
        memory.remember_history(name, history(10))
    assert memory.history("a") is not None  # "a" is now the most recently used
    memory.remember_history("c", history(10))
    assert memory.history("b") is None
    assert memory.history("a") is not None and memory.history("c") is not None
    assert (len(memory), memory.total_bytes) == (2, 20)


def test_histories_are_dropped_to_stay_within_the_byte_budget_but_the_newest_stays() -> None:
    memory = ConversationMemory(max_bytes=100)
    memory.remember_history("a", history(60))
    memory.remember_history("b", history(30))
    assert memory.total_bytes == 90
    kept = memory.history("b")
    assert kept is not None
    added, sizes = parts("y" * 20)
    memory.extend("b", kept, added, sizes, seq=2)  # 110 bytes: "a" goes
    assert memory.history("a") is None and memory.total_bytes == 50

    memory.remember_history("huge", history(500))  # alone over the budget: kept, others go
    assert len(memory) == 1 and memory.total_bytes == 500


def test_extend_and_trim_keep_the_accounting_exact() -> None:
    memory = ConversationMemory()
    kept = History(seq=0)
    memory.remember_history("a", kept)
    added, sizes = parts("one", "three", "seven12")
    memory.extend("a", kept, added, sizes, seq=3)
    assert (kept.seq, kept.size, memory.total_bytes) == (3, 15, 15)
    memory.trim("a", kept, 1)
    assert [p.text for p in kept.parts if isinstance(p, UserText)] == ["seven12"]
    assert (kept.size, memory.total_bytes) == (7, 7)
    memory.forget_history("a")
    assert memory.total_bytes == 0


def test_a_history_dropped_while_a_turn_uses_it_no_longer_counts() -> None:
    memory = ConversationMemory(max_conversations=1)
    in_use = history(10)
    memory.remember_history("a", in_use)
    memory.remember_history("b", history(10))  # "a" evicted mid-turn
    added, sizes = parts("more")
    memory.extend("a", in_use, added, sizes, seq=2)  # the turn goes on with its own object
    assert in_use.seq == 2 and memory.history("a") is None
    assert memory.total_bytes == 10


def test_participants_are_bounded_and_can_be_forgotten() -> None:
    memory = ConversationMemory(max_participants=2)
    for external in ("u1", "u2", "u3"):
        memory.remember_participant("ws", "chn", Participant(f"idn_{external}", external, None, f"conv_{external}"))
    assert memory.participant("ws", "chn", "u1") is None
    found = memory.participant("ws", "chn", "u3")
    assert found is not None and found.conversation_id == "conv_u3"
    assert memory.participant("ws", "other", "u3") is None
    memory.forget_participant("ws", "chn", "u3")
    assert memory.participant("ws", "chn", "u3") is None
