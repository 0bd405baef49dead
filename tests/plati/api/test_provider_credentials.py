"""The operator's model keys go only to the operator's base URLs: an assistant or a workspace that
names its own base URL gets the workspace's key there, or none. Driven through the HTTP API with
the official SDKs against fakes speaking the OpenAI and Anthropic wire formats on loopback: one
plays the operator's endpoint, the other a server the workspace chose."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from plati.engine.factory import MAX_PROVIDERS, ProviderFactory, resolve_endpoint, same_endpoint
from plati.errors import InvalidRequest
from plati.settings import Settings
from plati.store.models import Assistant
from tests.conftest import serve_app
from tests.plati.fakes import FakeProvider, Reply
from tests.plati.fakes.anthropic_server import FakeAnthropic
from tests.plati.fakes.openai_server import FakeOpenAI

from .conftest import Platform

OPERATOR_OPENAI_KEY = "sk-operator-openai-0123456789"
OPERATOR_ANTHROPIC_KEY = "sk-ant-operator-0123456789"
WORKSPACE_KEY = "sk-workspace-own-9876543210"


@pytest.fixture(scope="module")
def endpoints() -> Iterator[dict[str, tuple[FakeProvider, str]]]:
    """Four fakes: the operator's and a workspace-chosen endpoint for each provider."""
    fakes: dict[str, FakeProvider] = {
        "openai_operator": FakeOpenAI(),
        "openai_chosen": FakeOpenAI(),
        "anthropic_operator": FakeAnthropic(),
        "anthropic_chosen": FakeAnthropic(),
    }
    with (
        serve_app(fakes["openai_operator"].app) as a,  # type: ignore[attr-defined]
        serve_app(fakes["openai_chosen"].app) as b,  # type: ignore[attr-defined]
        serve_app(fakes["anthropic_operator"].app) as c,  # type: ignore[attr-defined]
        serve_app(fakes["anthropic_chosen"].app) as d,  # type: ignore[attr-defined]
    ):
        urls = {
            "openai_operator": f"{a}/v1",
            "openai_chosen": f"{b}/v1",
            "anthropic_operator": c,
            "anthropic_chosen": d,
        }
        yield {name: (fake, urls[name]) for name, fake in fakes.items()}
        for fake in fakes.values():
            fake.release()


@pytest.fixture
def platform_env(endpoints: dict[str, tuple[FakeProvider, str]]) -> dict[str, str]:
    return {
        "PLATI_OPENAI_API_KEY": OPERATOR_OPENAI_KEY,
        "PLATI_OPENAI_BASE_URL": endpoints["openai_operator"][1],
        "PLATI_ANTHROPIC_API_KEY": OPERATOR_ANTHROPIC_KEY,
        "PLATI_ANTHROPIC_BASE_URL": endpoints["anthropic_operator"][1],
    }


def key_sent(provider: str, headers: dict[str, str]) -> str:
    """The key a request carried (the Anthropic SDK sends ``x-api-key`` or a bearer token)."""
    return headers.get("x-api-key") or headers.get("authorization", "").removeprefix("Bearer ")


def chat_once(http: httpx.Client, provider: str, settings: dict[str, Any]) -> httpx.Response:
    assistant = http.post("/assistant", json={"name": "A", "provider": provider, "settings": settings})
    assert assistant.status_code == 201, assistant.text
    body = {"name": "c", "assistant_id": assistant.json()["data"]["id"]}
    channel = http.post("/channels", json=body).json()["data"]["id"]
    return http.post(f"/conversation/u/chat/{channel}", json={"text": "hello"})


def arm(endpoints: dict[str, tuple[FakeProvider, str]]) -> None:
    for fake, _url in endpoints.values():
        fake.script([Reply(text="Hi there.")])


@pytest.mark.parametrize("provider", ["OPENAI", "ANTHROPIC"])
def test_an_assistant_base_url_never_receives_the_operators_key(
    platform: Platform, endpoints: dict[str, tuple[FakeProvider, str]], provider: str
) -> None:
    prefix = provider.lower()
    operator, _ = endpoints[f"{prefix}_operator"]
    chosen, chosen_url = endpoints[f"{prefix}_chosen"]
    arm(endpoints)
    with platform.client() as http:
        reply = chat_once(http, provider, {"base_url": chosen_url})
    assert reply.status_code == 200, reply.text
    [headers] = chosen.headers
    assert OPERATOR_OPENAI_KEY not in str(headers) and OPERATOR_ANTHROPIC_KEY not in str(headers)
    assert key_sent(provider, headers) == "unused"
    assert operator.requests == []


@pytest.mark.parametrize("provider", ["OPENAI", "ANTHROPIC"])
def test_a_workspace_base_url_gets_the_workspaces_own_key_or_none(
    platform: Platform, endpoints: dict[str, tuple[FakeProvider, str]], provider: str
) -> None:
    prefix = provider.lower()
    chosen, chosen_url = endpoints[f"{prefix}_chosen"]
    arm(endpoints)
    with platform.client() as http:
        set_url = http.patch("/workspace/settings", json={f"{prefix}_base_url": chosen_url})
        assert set_url.status_code == 200, set_url.text
        assert chat_once(http, provider, {}).status_code == 200
        assert key_sent(provider, chosen.headers[-1]) == "unused"
        http.patch("/workspace/settings", json={f"{prefix}_api_key": WORKSPACE_KEY})
        chosen.script([Reply(text="Hi there.")])
        assert chat_once(http, provider, {}).status_code == 200
    assert key_sent(provider, chosen.headers[-1]) == WORKSPACE_KEY


@pytest.mark.parametrize("provider", ["OPENAI", "ANTHROPIC"])
def test_the_operators_endpoint_gets_the_operators_key_unless_the_workspace_brings_one(
    platform: Platform, endpoints: dict[str, tuple[FakeProvider, str]], provider: str
) -> None:
    prefix = provider.lower()
    operator, operator_url = endpoints[f"{prefix}_operator"]
    operator_key = OPERATOR_OPENAI_KEY if provider == "OPENAI" else OPERATOR_ANTHROPIC_KEY
    arm(endpoints)
    with platform.client() as http:
        assert chat_once(http, provider, {}).status_code == 200
        assert key_sent(provider, operator.headers[-1]) == operator_key
        # The operator's own endpoint, written differently, is still the operator's.
        operator.script([Reply(text="Hi there.")])
        written_differently = operator_url.replace("http://", "HTTP://") + "/"
        assert chat_once(http, provider, {"base_url": written_differently}).status_code == 200
        assert key_sent(provider, operator.headers[-1]) == operator_key
        http.patch("/workspace/settings", json={f"{prefix}_api_key": WORKSPACE_KEY})
        operator.script([Reply(text="Hi there.")])
        assert chat_once(http, provider, {}).status_code == 200
    assert key_sent(provider, operator.headers[-1]) == WORKSPACE_KEY


def test_without_any_key_for_the_operators_endpoint_the_assistant_is_refused_clearly(tmp_path: Any) -> None:
    settings = Settings.load(env={"PLATI_DATA_DIR": str(tmp_path)})
    factory = ProviderFactory(settings)
    for provider in ("OPENAI", "ANTHROPIC"):
        with pytest.raises(InvalidRequest) as refused:
            factory.for_assistant(Assistant(provider=provider, settings={}))
        assert f"PLATI_{provider}_API_KEY" in refused.value.message
    # A workspace-chosen endpoint needs no key (a local server).
    local = factory.for_assistant(Assistant(provider="ANTHROPIC", settings={"base_url": "http://127.0.0.1:9"}))
    assert local.name == "ANTHROPIC"


def test_endpoints_are_compared_by_scheme_host_port_and_path() -> None:
    assert same_endpoint("https://api.openai.com/v1", "HTTPS://API.OPENAI.COM:443/v1/")
    assert not same_endpoint("https://api.openai.com/v1", "https://api.openai.com.evil.test/v1")
    assert not same_endpoint("http://127.0.0.1:8000/v1", "http://127.0.0.1:8001/v1")
    chosen = resolve_endpoint(
        "OPENAI",
        assistant_url="https://evil.test/v1",
        workspace_url=None,
        workspace_key=None,
        operator_url=None,
        operator_key="sk-op",
    )
    assert (chosen.base_url, chosen.api_key, chosen.operator) == ("https://evil.test/v1", None, False)
    default = resolve_endpoint(
        "OPENAI",
        assistant_url="https://api.openai.com/v1/",
        workspace_url=None,
        workspace_key=None,
        operator_url=None,
        operator_key="sk-op",
    )
    assert (default.api_key, default.operator) == ("sk-op", True)


async def test_the_provider_cache_is_bounded(tmp_path: Any) -> None:
    settings = Settings.load(env={"PLATI_DATA_DIR": str(tmp_path)})
    factory = ProviderFactory(settings)
    try:
        for index in range(MAX_PROVIDERS + 20):
            factory.for_assistant(Assistant(provider="OPENAI", settings={"base_url": f"http://127.0.0.1:9/v{index}"}))
        assert len(factory) == MAX_PROVIDERS
    finally:
        await factory.aclose()
