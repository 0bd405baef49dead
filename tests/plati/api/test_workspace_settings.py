"""Provider credentials in workspace settings: encrypted at rest, returned masked, used for the
workspace's assistants when the operator's environment has none."""

from __future__ import annotations

from typing import Any

from tests.plati.fakes import Reply

from .conftest import Platform
from .test_conversations_providers import fakes
from .test_mcps import _database_bytes

__all__ = ["fakes"]  # a fixture, used by name


def test_workspace_credentials_are_masked_and_used_for_its_assistants(
    platform: Platform, shop: str, fakes: dict[str, Any]
) -> None:
    fake, url = fakes["openai"]
    fake.script([Reply(text="Hello from the workspace's own key.")])
    with platform.client() as http:
        assistant_id = http.post("/assistant", json={"name": "A", "provider": "OPENAI"}).json()["data"]["id"]
        channel = http.post("/channels", json={"name": "c", "assistant_id": assistant_id}).json()["data"]["id"]
        refused = http.post(f"/conversation/u/chat/{channel}", json={"text": "hi"})
        assert refused.status_code == 422
        assert "no API key" in refused.json()["message"]
        assert http.get("/conversations").json()["data"]["conversations"] == []

        updated = http.patch(
            "/workspace/settings", json={"openai_api_key": "sk-workspace-1234567890", "openai_base_url": url}
        )
        assert updated.status_code == 200
        assert updated.json()["data"] == {"openai_api_key": "****7890", "openai_base_url": url}
        assert "sk-workspace-1234567890" not in http.get("/workspace/settings").text
        reply = http.post(f"/conversation/u/chat/{channel}", json={"text": "hi"}).json()["data"]["reply"]
        assert reply == "Hello from the workspace's own key."
        assert fake.headers[-1]["authorization"] == "Bearer sk-workspace-1234567890"

        cleared = http.patch("/workspace/settings", json={"openai_base_url": None}).json()["data"]
        assert cleared == {"openai_api_key": "****7890"}
    with platform.client(platform.other.api_key) as other:
        assert other.get("/workspace/settings").json()["data"] == {}
    with platform.client(platform.tenant.read_only_key) as read_only:
        assert read_only.patch("/workspace/settings", json={"openai_model": "x"}).status_code == 403
    assert b"sk-workspace-1234567890" not in _database_bytes(platform)
