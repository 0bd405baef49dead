"""ApiClient against a tiny Starlette app answering the documented envelopes, and a closed port."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.testclient import TestClient

from plati.cli.client import ApiClient, CliError
from tests.plati.cli.support import closed_port


async def echo(request: Request) -> Response:
    body = await request.json() if request.method == "POST" else None
    auth = request.headers.get("authorization")
    return JSONResponse({"message": "ok", "data": {"auth": auth, "body": body, "method": request.method}})


async def conflict(request: Request) -> Response:
    return JSONResponse(
        {"message": 'An MCP named "x" already exists', "error": {"code": "conflict", "details": None}},
        status_code=409,
    )


async def multiline(request: Request) -> Response:
    return JSONResponse(
        {"message": "Invalid request:\n  name: required", "error": {"code": "validation_error", "details": []}},
        status_code=422,
    )


async def proxy_page(request: Request) -> Response:
    return PlainTextResponse("<html>Bad Gateway</html>", status_code=502)


api = Starlette(
    routes=[
        Route("/echo", echo, methods=["GET", "POST", "PUT", "PATCH", "DELETE"]),
        Route("/conflict", conflict, methods=["POST"]),
        Route("/multiline", multiline),
        Route("/proxy", proxy_page),
    ]
)


@pytest.fixture
def client() -> Iterator[ApiClient]:
    with TestClient(api) as http, ApiClient("http://testserver/", "plati_k", client=http) as wrapped:
        yield wrapped


def test_success_envelope_is_unwrapped_to_its_data_and_the_key_is_sent(client: ApiClient) -> None:
    assert client.post("/echo", {"a": 1}) == {"auth": "Bearer plati_k", "body": {"a": 1}, "method": "POST"}
    assert client.delete("/echo")["method"] == "DELETE"


def test_error_envelope_becomes_one_line_with_status_and_code(client: ApiClient) -> None:
    with pytest.raises(CliError) as caught:
        client.post("/conflict", {})
    assert (caught.value.status, caught.value.code) == (409, "conflict")
    assert str(caught.value) == 'error (409 conflict): An MCP named "x" already exists'


def test_a_multiline_server_message_is_folded_into_one_line(client: ApiClient) -> None:
    with pytest.raises(CliError) as caught:
        client.get("/multiline")
    assert caught.value.code == "validation_error"
    assert "\n" not in str(caught.value)


def test_a_reply_that_is_not_an_envelope_is_reported_with_its_status(client: ApiClient) -> None:
    with pytest.raises(CliError) as caught:
        client.get("/proxy")
    assert caught.value.status == 502
    assert caught.value.code is None


def test_an_unknown_route_answers_404_through_the_error_path(client: ApiClient) -> None:
    with pytest.raises(CliError) as caught:
        client.get("/nowhere")
    assert caught.value.status == 404


def test_a_custom_transport_is_used_for_every_request() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"message": "ok", "data": str(request.url)})

    with ApiClient("http://plati.example", None, transport=httpx.MockTransport(handler)) as client:
        assert client.get("/assistants") == "http://plati.example/assistants"


def test_connection_refused_says_how_to_start_the_server() -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    with ApiClient(url, "plati_k") as client, pytest.raises(CliError) as caught:
        client.get("/assistants")
    assert caught.value.status is None
    assert str(caught.value) == f"cannot reach the Plati API at {url} (is `plati serve` running?)"
