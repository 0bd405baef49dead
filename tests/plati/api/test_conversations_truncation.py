"""Function results over PLATI_RESULT_MAX_CHARS are cut and marked before the model sees them."""

from __future__ import annotations

import pytest

from plati.engine.providers.scripted import call, reply

from .conftest import Platform
from .test_conversations_engine import Script, answered, chat, make_channel, model, script, tools_server

__all__ = ["model", "script", "tools_server"]  # fixtures, used by name


@pytest.fixture
def platform_env() -> dict[str, str]:
    return {"PLATI_RESULT_MAX_CHARS": "50"}


def test_results_over_the_size_cap_are_cut_and_marked(platform: Platform, script: Script, tools_server: str) -> None:
    script.handler = lambda r: reply("ok") if answered(r) else reply(call("echo", text="abc", times=100))
    with platform.client() as http:
        data = chat(http, make_channel(http, tools_server), "big").json()["data"]
        messages = http.get(f"/conversation/{data['conversation_id']}/messages").json()["data"]["messages"]
    record = data["function_calls"][0]
    assert record["truncated"] is True
    assert len(record["result"]) == 50
    stored = next(m for m in messages if m["kind"] == "function_result")
    assert stored["truncated"] is True
    assert script.requests[1].history[-1].truncated is True
