"""The CLI's only HTTP client: one :class:`ApiClient` around ``httpx.Client``.

It sends the workspace key, unwraps the success envelope ``{"message", "data"}`` and turns every
failure (an error envelope, an unreachable server, an unexpected reply) into a :class:`CliError`
whose message is the one line the CLI prints.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import TracebackType
from typing import Any, Protocol

import httpx

DEFAULT_URL = "http://127.0.0.1:8000"
# Registering, refreshing or calling a function server may take as long as its own timeout
# (up to 600 s); the connection itself must come up quickly.
DEFAULT_TIMEOUT = httpx.Timeout(660.0, connect=5.0)


class Reply(Protocol):
    """What the client reads from a response (``httpx.Response`` and look-alikes)."""

    @property
    def status_code(self) -> int: ...
    @property
    def reason_phrase(self) -> str: ...
    @property
    def is_success(self) -> bool: ...
    def json(self) -> Any: ...


class HttpClient(Protocol):
    """An ``httpx.Client``, or a client with the same interface such as Starlette's ``TestClient``."""

    def request(self, method: str, url: str, *, json: Any = ..., headers: Mapping[str, str] | None = ...) -> Reply: ...
    def close(self) -> None: ...


class CliError(Exception):
    """A failure to report in one line; ``status`` and ``code`` come from the API when it answered."""

    def __init__(self, message: str, *, status: int | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code

    def __str__(self) -> str:
        return self.message


class ApiClient:
    """Calls the Plati HTTP API at ``base_url`` with ``api_key``.

    Pass ``transport`` to route requests through a custom ``httpx.BaseTransport``, or ``client``
    to use an existing ``httpx.Client`` (e.g. ``starlette.testclient.TestClient(app)``), which is
    then left open. Use as a context manager, or call :meth:`close`.
    """

    def __init__(
        self,
        base_url: str,
        api_key: str | None,
        transport: httpx.BaseTransport | None = None,
        *,
        client: HttpClient | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._headers = {"Accept": "application/json"}
        if api_key:
            self._headers["Authorization"] = f"Bearer {api_key}"
        self._owns_client = client is None
        self._client: HttpClient = client or httpx.Client(timeout=DEFAULT_TIMEOUT, transport=transport)

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        if self._owns_client:
            self._client.close()

    def get(self, path: str) -> Any:
        return self.request("GET", path)

    def post(self, path: str, body: Any = None) -> Any:
        return self.request("POST", path, body)

    def put(self, path: str, body: Any = None) -> Any:
        return self.request("PUT", path, body)

    def patch(self, path: str, body: Any = None) -> Any:
        return self.request("PATCH", path, body)

    def delete(self, path: str) -> Any:
        return self.request("DELETE", path)

    def request(self, method: str, path: str, body: Any = None) -> Any:
        """Send one request and return the ``data`` of the success envelope.

        Raises:
            CliError: the API answered with an error, could not be reached, or answered with
                something that is not a Plati envelope.
        """
        url = self.base_url + path
        try:
            response = self._client.request(method, url, json=body, headers=self._headers)
        except httpx.ConnectError:
            raise CliError(f"cannot reach the Plati API at {self.base_url} (is `plati serve` running?)") from None
        except httpx.TimeoutException:
            raise CliError(f"the Plati API at {self.base_url} did not answer in time") from None
        except httpx.HTTPError as exc:
            raise CliError(f"cannot talk to the Plati API at {self.base_url}: {exc}") from None
        return unwrap(response, self.base_url)


def unwrap(response: Reply, base_url: str) -> Any:
    """The ``data`` of a success envelope, or a :class:`CliError` for anything else."""
    status = response.status_code
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        reason = response.reason_phrase or "unexpected reply"
        raise CliError(
            f"error ({status}): {base_url} did not answer with a Plati API reply ({reason})",
            status=status,
        )
    if response.is_success:
        return body.get("data")
    error = body.get("error")
    code = error.get("code") if isinstance(error, dict) else None
    code = code if isinstance(code, str) and code else "error"
    message = body.get("message")
    if not isinstance(message, str) or not message:
        message = response.reason_phrase or "request failed"
    # One line, whatever the server put in the message.
    message = " ".join(message.split())
    raise CliError(f"error ({status} {code}): {message}", status=status, code=code)
