"""``/workspace`` and ``/workspace/api-keys`` (what the console signs in and manages keys with),
and the conversation list's failed-turn filter."""

from __future__ import annotations

from typing import Any

import pytest

from plati.engine.messages import UserText
from plati.engine.providers import ModelReply, ModelRequest, ProviderUnavailable
from plati.engine.providers.scripted import ScriptedProvider, reply

from .conftest import Platform


async def _answer(request: ModelRequest) -> ModelReply:
    said = [part.text for part in request.history if isinstance(part, UserText)][-1]
    if "fail" in said:
        raise ProviderUnavailable("The model provider is unreachable", provider="SCRIPTED")
    return reply("fine")


@pytest.fixture
def model() -> Any:
    return ScriptedProvider(_answer)


def test_the_workspace_names_the_callers_key_and_its_access(platform: Platform) -> None:
    with platform.client() as writer, platform.client(platform.tenant.read_only_key) as reader:
        mine = writer.get("/workspace").json()["data"]
        theirs = reader.get("/workspace").json()["data"]
    assert mine["id"] == theirs["id"] == platform.tenant.workspace_id
    assert (mine["key"]["access"], theirs["key"]["access"]) == ("read-write", "read-only")
    assert mine["stdio_allowed"] is False


def test_a_created_key_is_shown_once_works_and_stops_working_when_revoked(platform: Platform) -> None:
    with platform.client() as http:
        created = http.post("/workspace/api-keys", json={"name": "ci", "access": "read-only"})
        assert created.status_code == 201, created.text
        data = created.json()["data"]
        secret = data["key"]
        assert (data["name"], data["access"], data["revoked_at"]) == ("ci", "read-only", None)
        assert secret.startswith(data["prefix"])
        listed = http.get("/workspace/api-keys").json()["data"]
        assert all("key" not in item and "key_hash" not in item for item in listed)
        assert [item["current"] for item in listed if item["id"] == data["id"]] == [False]
        assert sum(item["current"] for item in listed) == 1
        with platform.client(secret) as new:
            assert new.get("/workspace").json()["data"]["key"]["access"] == "read-only"
            revoked = http.delete(f"/workspace/api-keys/{data['id']}")
            assert revoked.status_code == 200
            assert revoked.json()["data"]["revoked_at"] is not None
            assert new.get("/workspace").status_code == 401
        again = http.delete(f"/workspace/api-keys/{data['id']}")
    assert (again.status_code, again.json()["error"]["code"]) == (409, "conflict")


def test_read_only_keys_list_keys_but_cannot_create_or_revoke_them(platform: Platform) -> None:
    with platform.client() as writer, platform.client(platform.tenant.read_only_key) as reader:
        key_id = writer.get("/workspace/api-keys").json()["data"][0]["id"]
        assert reader.get("/workspace/api-keys").status_code == 200
        created = reader.post("/workspace/api-keys", json={"name": "x"})
        revoked = reader.delete(f"/workspace/api-keys/{key_id}")
    assert (created.status_code, created.json()["error"]["code"]) == (403, "forbidden")
    assert (revoked.status_code, revoked.json()["error"]["code"]) == (403, "forbidden")


def test_keys_of_another_workspace_are_neither_listed_nor_revocable(platform: Platform) -> None:
    with platform.client(platform.other.api_key) as other:
        other_key = other.get("/workspace/api-keys").json()["data"][0]["id"]
    with platform.client() as http:
        ids = {item["id"] for item in http.get("/workspace/api-keys").json()["data"]}
        refused = http.delete(f"/workspace/api-keys/{other_key}")
    assert other_key not in ids
    assert (refused.status_code, refused.json()["error"]["code"]) == (404, "not_found")


def test_an_unknown_access_is_a_validation_error(platform: Platform) -> None:
    with platform.client() as http:
        response = http.post("/workspace/api-keys", json={"name": "x", "access": "admin"})
    assert (response.status_code, response.json()["error"]["code"]) == (422, "validation_error")


def test_conversations_count_failed_turns_and_filter_on_them(platform: Platform) -> None:
    with platform.client() as http:
        assistant = http.post("/assistant", json={"name": "A"}).json()["data"]["id"]
        channel = http.post("/channels", json={"name": "web", "assistant_id": assistant}).json()["data"]["id"]
        assert http.post(f"/conversation/alice/chat/{channel}", json={"text": "hello"}).status_code == 200
        assert http.post(f"/conversation/bob/chat/{channel}", json={"text": "hello"}).status_code == 200
        assert http.post(f"/conversation/bob/chat/{channel}", json={"text": "please fail"}).status_code == 502

        def identities(query: str) -> dict[str, int]:
            found = http.get(f"/conversations{query}").json()["data"]["conversations"]
            return {item["identity_id"]: item["failed_turns"] for item in found}

        assert identities("") == {"alice": 0, "bob": 1}
        assert identities("?failed=true") == {"bob": 1}
        assert identities("?failed=false") == {"alice": 0}
        assert identities(f"?failed=true&channel_id={channel}&identity_id=alice") == {}
