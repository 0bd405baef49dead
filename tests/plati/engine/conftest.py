"""Engine test fixtures: the fake OpenAI / Anthropic servers on loopback, providers pointed at
them, and the kill switch that keeps every test here away from real model providers."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from plati.engine.providers.anthropic import AnthropicProvider
from plati.engine.providers.openai import OpenAIProvider
from tests.conftest import serve_app
from tests.plati.fakes.anthropic_server import FakeAnthropic
from tests.plati.fakes.openai_server import FakeOpenAI

OPENAI_KEY = "sk-test-openai-0123456789abcdef"
ANTHROPIC_KEY = "sk-ant-test-0123456789abcdef"
UNROUTABLE = "http://127.0.0.1:9"  # the discard port: nothing listens, connections are refused

_PROVIDER_ENV = (
    "OPENAI_API_KEY",
    "OPENAI_ADMIN_KEY",
    "OPENAI_ORG_ID",
    "OPENAI_PROJECT_ID",
    "OPENAI_WEBHOOK_SECRET",
    "OPENAI_CUSTOM_HEADERS",
    "ANTHROPIC_API_KEY",
    "ANTHROPIC_AUTH_TOKEN",
    "ANTHROPIC_PROFILE",
    "ANTHROPIC_CUSTOM_HEADERS",
    "ANTHROPIC_IDENTITY_TOKEN",
    "ANTHROPIC_IDENTITY_TOKEN_FILE",
    "ANTHROPIC_FEDERATION_RULE_ID",
    "ANTHROPIC_ORGANIZATION_ID",
    "ANTHROPIC_WEBHOOK_SIGNING_KEY",
)


@pytest.fixture(autouse=True)
def provider_kill_switch(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No provider credentials or profiles from the environment, and the SDKs' default base URLs
    pointed at a closed loopback port (the suite-wide network guard of tests/conftest.py keeps
    every socket on loopback besides)."""
    for name in _PROVIDER_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OPENAI_BASE_URL", f"{UNROUTABLE}/v1")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", UNROUTABLE)
    monkeypatch.setenv("ANTHROPIC_CONFIG_DIR", str(tmp_path / "anthropic-config"))


@pytest.fixture(scope="session")
def _openai_server() -> Iterator[tuple[FakeOpenAI, str]]:
    fake = FakeOpenAI()
    with serve_app(fake.app) as url:
        yield fake, f"{url}/v1"
        fake.release()


@pytest.fixture(scope="session")
def _anthropic_server() -> Iterator[tuple[FakeAnthropic, str]]:
    fake = FakeAnthropic()
    with serve_app(fake.app) as url:
        yield fake, url
        fake.release()


@pytest.fixture
def openai_fake(_openai_server: tuple[FakeOpenAI, str]) -> Iterator[FakeOpenAI]:
    """The fake OpenAI server, with an empty script and no recorded requests (``.base_url``)."""
    fake, url = _openai_server
    fake.script([])
    fake.base_url = url
    yield fake
    fake.release()


@pytest.fixture
def anthropic_fake(_anthropic_server: tuple[FakeAnthropic, str]) -> Iterator[FakeAnthropic]:
    """The fake Anthropic server, with an empty script and no recorded requests (``.base_url``)."""
    fake, url = _anthropic_server
    fake.script([])
    fake.base_url = url
    yield fake
    fake.release()


@pytest.fixture
async def openai_provider(openai_fake: FakeOpenAI) -> AsyncIterator[OpenAIProvider]:
    provider = OpenAIProvider(
        api_key=OPENAI_KEY, model="gpt-test", base_url=openai_fake.base_url, timeout=5, max_retries=0
    )
    yield provider
    await provider.aclose()


@pytest.fixture
async def anthropic_provider(anthropic_fake: FakeAnthropic) -> AsyncIterator[AnthropicProvider]:
    provider = AnthropicProvider(
        api_key=ANTHROPIC_KEY, model="claude-test", base_url=anthropic_fake.base_url, timeout=5, max_retries=0
    )
    yield provider
    await provider.aclose()


@pytest.fixture
def refused_url() -> Iterator[str]:
    """A loopback URL whose port is bound but not listening: connections are refused at once."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        sock.close()
