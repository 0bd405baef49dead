"""Bearer-token authentication for both protocols."""

from __future__ import annotations

import hmac
import inspect
from collections.abc import Awaitable, Callable, Iterable

from .errors import DefinitionError

TokenVerifier = Callable[[str], bool | Awaitable[bool]]


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, or None."""
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


class Authenticator:
    """Accepts a request when its bearer token is in the token list or the verify callable says so.

    Raises:
        DefinitionError: an empty token in the list (it would let every caller in).
    """

    def __init__(self, tokens: Iterable[str] | None = None, verify: TokenVerifier | None = None) -> None:
        self._tokens = [t.encode() for t in (tokens or [])]
        if any(not t.strip() for t in self._tokens):
            raise DefinitionError("auth_tokens contains an empty token; remove it or use a real secret.")
        self._verify = verify
        self.enabled = bool(self._tokens) or verify is not None

    async def check(self, token: str | None) -> bool:
        if not self.enabled:
            return True
        if token is None:
            return False
        raw = token.encode()
        # Compare against every token so timing does not reveal which prefix matched.
        matched = False
        for candidate in self._tokens:
            matched |= hmac.compare_digest(candidate, raw)
        if matched:
            return True
        if self._verify is not None:
            verdict = self._verify(token)
            if inspect.isawaitable(verdict):
                verdict = await verdict
            return bool(verdict)
        return False
