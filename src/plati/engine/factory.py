"""Which model provider answers for an assistant, built from the settings and reused across turns
(one pooled HTTP client per provider configuration)."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from ..errors import InvalidRequest
from ..settings import Settings
from ..store.models import Assistant
from .offline import OfflineProvider
from .providers import Provider


class ProviderFactory:
    """Builds (and caches) the provider of each assistant.

    ``override`` answers for every assistant (tests, benchmarks: a scripted model).
    """

    def __init__(self, settings: Settings, override: Provider | None = None) -> None:
        self.settings = settings
        self.override = override
        self._cache: dict[tuple[Any, ...], Provider] = {}
        self._offline = OfflineProvider()

    def for_assistant(self, assistant: Assistant, workspace: Mapping[str, str] | None = None) -> Provider:
        """The provider for ``assistant``; ``workspace`` settings (credentials, base URLs, default
        models) win over the operator's environment, the assistant's own ``base_url`` over both.

        Raises:
            InvalidRequest: the assistant names a provider whose API key is not configured.
        """
        if self.override is not None:
            return self.override
        kind = (assistant.provider or "OFFLINE").upper()
        options = assistant.settings or {}
        ws = workspace or {}
        if kind == "OFFLINE":
            return self._offline
        timeout = float(options.get("timeout_seconds") or self.settings.provider_timeout_seconds)
        if kind == "OPENAI":
            base_url = options.get("base_url") or ws.get("openai_base_url") or self.settings.openai_base_url
            api_key = ws.get("openai_api_key") or self.settings.openai_api_key
            if not api_key and not base_url:
                raise InvalidRequest(
                    "This assistant uses OPENAI but no API key is configured: set PLATI_OPENAI_API_KEY "
                    "(or OPENAI_API_KEY), or give the assistant a base_url for a local OpenAI-compatible server."
                )
            model = assistant.model or ws.get("openai_model") or self.settings.openai_model
            key: tuple[Any, ...] = ("OPENAI", base_url, model, timeout, _fingerprint(api_key))
            if key not in self._cache:
                from .providers.openai import OpenAIProvider

                self._cache[key] = OpenAIProvider(api_key=api_key, model=model, base_url=base_url, timeout=timeout)
            return self._cache[key]
        if kind == "ANTHROPIC":
            base_url = options.get("base_url") or ws.get("anthropic_base_url") or self.settings.anthropic_base_url
            api_key = ws.get("anthropic_api_key") or self.settings.anthropic_api_key
            if not api_key:
                raise InvalidRequest(
                    "This assistant uses ANTHROPIC but no API key is configured: set PLATI_ANTHROPIC_API_KEY "
                    "(or ANTHROPIC_API_KEY)."
                )
            model = assistant.model or ws.get("anthropic_model") or self.settings.anthropic_model
            max_tokens = int(options.get("max_tokens") or 1024)
            key = ("ANTHROPIC", base_url, model, timeout, max_tokens, _fingerprint(api_key))
            if key not in self._cache:
                from .providers.anthropic import AnthropicProvider

                self._cache[key] = AnthropicProvider(
                    api_key=api_key, model=model, base_url=base_url, timeout=timeout, max_tokens=max_tokens
                )
            return self._cache[key]
        raise InvalidRequest(f"Unknown provider {assistant.provider!r}; use OFFLINE, OPENAI or ANTHROPIC.")

    async def aclose(self) -> None:
        for provider in self._cache.values():
            await provider.aclose()
        self._cache.clear()


def _fingerprint(secret: str | None) -> str:
    """Cache providers per key without keeping the key itself as a dict key."""
    return hashlib.sha256((secret or "").encode()).hexdigest()[:16]
