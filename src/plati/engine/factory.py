"""Which model provider answers for an assistant, built from the settings and reused across turns.

**Credentials go only where the operator said** (SPEC section 8). The operator's key
(``PLATI_OPENAI_API_KEY`` ...) is only ever sent to the operator's base URL (``PLATI_OPENAI_BASE_URL``,
or the provider's own endpoint when unset). A workspace or an assistant that names another base URL
(``openai_base_url`` in the workspace settings, ``base_url`` in the assistant's settings) gets the
workspace's own key there, or no key at all (local servers such as Ollama need none). Connections
to a workspace-chosen base URL go through the network policy; the operator's endpoint is trusted
as configured (proxies from the environment included).

Providers are cached per configuration, at most :data:`MAX_PROVIDERS` of them, least recently used
first out. They share two pooled HTTP clients (operator endpoints, workspace endpoints), so a
provider dropped from the cache holds no connection of its own.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx2

from ..errors import InvalidRequest
from ..security.egress import policy_transport
from ..security.network import NetworkPolicy
from ..settings import Settings
from ..store.models import Assistant
from .offline import OfflineProvider
from .providers import Provider

MAX_PROVIDERS = 256
DEFAULT_BASE_URLS = {"OPENAI": "https://api.openai.com/v1", "ANTHROPIC": "https://api.anthropic.com"}
_HTTP_LIMITS = httpx2.Limits(max_connections=1000, max_keepalive_connections=100)


@dataclass(frozen=True)
class Endpoint:
    """Where an assistant's model requests go and with which key.

    ``operator`` is true when ``base_url`` is the operator's (``None``: the provider's default);
    ``api_key`` is then the workspace's key or the operator's, else only the workspace's.
    """

    base_url: str | None
    api_key: str | None
    operator: bool


def resolve_endpoint(
    kind: str,
    *,
    assistant_url: str | None,
    workspace_url: str | None,
    workspace_key: str | None,
    operator_url: str | None,
    operator_key: str | None,
) -> Endpoint:
    """Pick the base URL (assistant over workspace over operator) and the key that may go there."""
    chosen = assistant_url or workspace_url
    if chosen is None or same_endpoint(chosen, operator_url or DEFAULT_BASE_URLS[kind]):
        return Endpoint(operator_url, workspace_key or operator_key, operator=True)
    return Endpoint(chosen, workspace_key, operator=False)


def same_endpoint(first: str, second: str) -> bool:
    """Whether two base URLs name the same endpoint (scheme, host and port compared without case,
    default ports and trailing slashes ignored)."""
    return _normalized(first) == _normalized(second)


def _normalized(url: str) -> tuple[str, str, int | None, str]:
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return ("", url, None, "")
    scheme = parts.scheme.lower()
    if port == {"http": 80, "https": 443}.get(scheme):
        port = None
    return (scheme, (parts.hostname or "").lower(), port, parts.path.rstrip("/"))


class ProviderFactory:
    """Builds (and caches) the provider of each assistant.

    ``override`` answers for every assistant (tests, benchmarks: a scripted model). ``network``
    is the policy for workspace-chosen base URLs (none: not checked, for library use).
    """

    def __init__(
        self, settings: Settings, override: Provider | None = None, *, network: NetworkPolicy | None = None
    ) -> None:
        self.settings = settings
        self.override = override
        self.network = network
        self._cache: OrderedDict[tuple[Any, ...], Provider] = OrderedDict()
        self._offline = OfflineProvider()
        self._clients: dict[bool, httpx2.AsyncClient] = {}

    def __len__(self) -> int:
        """How many providers are cached."""
        return len(self._cache)

    def for_assistant(self, assistant: Assistant, workspace: Mapping[str, str] | None = None) -> Provider:
        """The provider for ``assistant``; ``workspace`` settings (credentials, base URLs, default
        models) win over the operator's environment, the assistant's own ``base_url`` over both —
        with the operator's key only ever sent to the operator's base URL.

        Raises:
            InvalidRequest: the assistant uses the operator's endpoint, and neither the workspace
                nor the operator configured a key for it.
            AddressNotAllowed: a workspace-chosen base URL is refused by the network policy.
        """
        if self.override is not None:
            return self.override
        kind = (assistant.provider or "OFFLINE").upper()
        if kind == "OFFLINE":
            return self._offline
        if kind not in DEFAULT_BASE_URLS:
            raise InvalidRequest(f"Unknown provider {assistant.provider!r}; use OFFLINE, OPENAI or ANTHROPIC.")
        options = assistant.settings or {}
        ws = workspace or {}
        prefix = kind.lower()
        endpoint = resolve_endpoint(
            kind,
            assistant_url=_text(options.get("base_url")),
            workspace_url=ws.get(f"{prefix}_base_url"),
            workspace_key=ws.get(f"{prefix}_api_key"),
            operator_url=getattr(self.settings, f"{prefix}_base_url"),
            operator_key=getattr(self.settings, f"{prefix}_api_key"),
        )
        if endpoint.operator and not endpoint.api_key and (kind == "ANTHROPIC" or endpoint.base_url is None):
            variable = f"PLATI_{kind}_API_KEY"
            raise InvalidRequest(
                f"This assistant uses {kind} but no API key is configured: the operator sets {variable}, or "
                f"the workspace sets {prefix}_api_key in its settings (or gives a base_url for a local server)."
            )
        if not endpoint.operator and self.network is not None and endpoint.base_url is not None:
            self.network.check_url(endpoint.base_url, field="base_url")
        settings = self.settings
        timeout = min(
            setting_number(options, "timeout_seconds") or settings.provider_timeout_seconds,
            settings.max_provider_timeout_seconds,
        )
        model = assistant.model or ws.get(f"{prefix}_model") or getattr(settings, f"{prefix}_model")
        max_tokens = min(int(setting_number(options, "max_tokens") or 1024), settings.max_output_tokens)
        key = (kind, endpoint.base_url, endpoint.operator, model, timeout, max_tokens, _fingerprint(endpoint.api_key))
        provider = self._cache.get(key)
        if provider is not None:
            self._cache.move_to_end(key)
            return provider
        http_client = self._client(operator=endpoint.operator)
        if kind == "OPENAI":
            from .providers.openai import OpenAIProvider

            provider = OpenAIProvider(
                api_key=endpoint.api_key,
                model=model,
                base_url=endpoint.base_url,
                timeout=timeout,
                http_client=http_client,
            )
        else:
            from .providers.anthropic import AnthropicProvider

            provider = AnthropicProvider(
                api_key=endpoint.api_key or "",
                model=model,
                base_url=endpoint.base_url,
                timeout=timeout,
                max_tokens=max_tokens,
                http_client=http_client,
            )
        self._cache[key] = provider
        while len(self._cache) > MAX_PROVIDERS:
            self._cache.popitem(last=False)  # shares the pooled clients: nothing to close
        return provider

    def _client(self, *, operator: bool) -> httpx2.AsyncClient:
        """The pooled HTTP client for operator endpoints (as configured, environment proxies
        included) or for workspace-chosen ones (through the network policy, no proxies)."""
        client = self._clients.get(operator)
        if client is None:
            if operator:
                client = httpx2.AsyncClient(limits=_HTTP_LIMITS, follow_redirects=True)
            else:
                client = httpx2.AsyncClient(
                    transport=policy_transport(self.network, limits=_HTTP_LIMITS),
                    follow_redirects=False,
                    trust_env=False,
                )
            self._clients[operator] = client
        return client

    async def aclose(self) -> None:
        for provider in self._cache.values():
            await provider.aclose()
        self._cache.clear()
        clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            await client.aclose()


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def setting_number(options: Mapping[str, Any], name: str, *, allow_zero: bool = False) -> float | None:
    """An assistant's stored numeric setting, or ``None`` when it is absent or not a usable
    number (settings stored before they were validated must not break a turn)."""
    value = options.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
        return None
    if value < 0 or (value == 0 and not allow_zero) or value == float("inf"):
        return None
    return float(value)


def _fingerprint(secret: str | None) -> str:
    """Cache providers per key without keeping the key itself as a dict key."""
    return hashlib.sha256((secret or "").encode()).hexdigest()[:16]
