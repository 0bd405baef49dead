"""Shared fixtures: real loopback servers (uvicorn on port 0) and Redis availability."""

from __future__ import annotations

import contextlib
import socket
from typing import Any

import pytest
from examples.serving import serve_in_thread

REDIS_URL = "redis://127.0.0.1:6379/0"


def serve_app(app: Any, host: str = "127.0.0.1") -> contextlib.AbstractContextManager[str]:
    """Serve an ASGI app with uvicorn on a free loopback port in a thread; yield its base URL."""
    return serve_in_thread(app, host)


def redis_available() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=0.5):
            return True
    except OSError:
        return False


requires_redis = pytest.mark.skipif(not redis_available(), reason="Redis is not reachable at 127.0.0.1:6379")


@pytest.fixture(autouse=True)
def no_real_model_providers(monkeypatch: pytest.MonkeyPatch) -> None:
    """Kill switch: no test can reach a real model provider. Credentials are removed and the SDKs'
    default endpoints point at a closed loopback port, so a provider built without an explicit
    base URL fails at once instead of calling out."""
    for name in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "PLATI_OPENAI_API_KEY", "PLATI_ANTHROPIC_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", "http://127.0.0.1:9")
