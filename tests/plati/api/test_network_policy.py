"""One network policy for every connection a workspace can point the platform at, driven through
the HTTP API with a resolver the test controls: refused URLs are 422 `address_not_allowed` before
any connection, names are connected at the address that was checked (no DNS rebinding), redirects
are not followed, and the operator can block private networks with an allowlist."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.conftest import serve_app
from tests.plati.fakes import Reply
from tests.plati.fakes.openai_server import FakeOpenAI
from tests.plati.security.support import FakeResolver

from .conftest import Platform, RequestCounter, another_process


@pytest.fixture
def resolver() -> FakeResolver:
    return FakeResolver({"metadata.test": "169.254.169.254", "intranet.test": "10.0.0.7"})


def port_of(url: str) -> str:
    return url.rsplit(":", 1)[1]


def refusal(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "address_not_allowed"
    details: dict[str, Any] = error["details"]
    return details


@pytest.mark.parametrize(
    ("url", "rule"),
    [
        ("http://169.254.169.254/latest/meta-data/", "metadata"),
        ("http://[fd00:ec2::254]/", "metadata"),
        ("http://metadata.test/latest/", "metadata"),
        ("http://[fe80::1]:5000/", "link_local"),
        ("http://2130706433:5000/", "ambiguous_address"),
        ("http://0x7f.1:5000/", "ambiguous_address"),
        ("http://admin:hunter2@127.0.0.1:5000/", "credentials_in_url"),
        ("http://0.0.0.0:5000/", "unspecified"),
    ],
)
def test_function_servers_at_refused_addresses_are_422_and_nothing_is_stored(
    platform: Platform, resolver: FakeResolver, url: str, rule: str
) -> None:
    with platform.client() as http:
        for validate in (True, False):
            details = refusal(http.post("/workspace/mcps", json={"name": "x", "url": url, "validate": validate}))
            assert (details["rule"], details["field"]) == (rule, "url")
        assert http.get("/workspace/mcps").json()["data"] == []
    if rule == "credentials_in_url":
        assert "hunter2" not in str(details)


def test_a_function_server_name_is_connected_at_the_address_the_policy_resolved(
    platform: Platform, resolver: FakeResolver, counted_shop: tuple[RequestCounter, str]
) -> None:
    counting, shop = counted_shop
    port = port_of(shop)
    resolver.set("shop.test", "127.0.0.1")
    with platform.client() as http:
        for name, url in (("rest", f"http://shop.test:{port}"), ("mcp", f"http://shop.test:{port}/mcp")):
            created = http.post("/workspace/mcps", json={"name": name, "url": url})
            assert created.status_code == 201, created.text
            mcp = created.json()["data"]
            call = http.post(
                f"/workspace/mcps/{mcp['id']}/call",
                json={"name": "check_order_status", "arguments": {"order_id": "ORD-001"}},
            )
            assert call.json()["data"]["data"]["status"] == "shipped", call.text
        protocols = sorted(m["protocol"] for m in http.get("/workspace/mcps").json()["data"])
    assert protocols == ["rest", "streamable-http"]
    assert "shop.test" in resolver.lookups
    assert counting.calls == 1  # the REST call; the MCP one answered "shipped" above


@pytest.mark.parametrize("transport", ["rest", "streamable-http"])
def test_a_name_that_turns_into_a_refused_address_after_registration_is_refused_at_connection(
    platform: Platform, resolver: FakeResolver, counted_shop: tuple[RequestCounter, str], transport: str
) -> None:
    counting, shop = counted_shop
    port = port_of(shop)
    resolver.set("rebind.test", "127.0.0.1")
    url = f"http://rebind.test:{port}" + ("/mcp" if transport == "streamable-http" else "")
    with platform.client() as http:
        # Accepted: the name resolves to loopback now (not contacted: validate is off).
        body = {"name": "shop", "url": url, "transport": transport, "validate": False}
        mcp_id = http.post("/workspace/mcps", json=body).json()["data"]["id"]
        resolver.set("rebind.test", "169.254.169.254")
        seen = len(counting.requests)
        call = http.post(
            f"/workspace/mcps/{mcp_id}/call",
            json={"name": "check_order_status", "arguments": {"order_id": "ORD-001"}},
        )
        refresh = http.post(f"/workspace/mcps/{mcp_id}/refresh")
        stored = http.get(f"/workspace/mcps/{mcp_id}").json()["data"]
    assert refusal(call)["rule"] == "metadata"
    assert refusal(refresh)["rule"] == "metadata"
    assert stored["status"] == "error"
    assert len(counting.requests) == seen
    assert resolver.lookups.count("rebind.test") >= 3


def test_redirects_from_a_function_server_are_not_followed(platform: Platform, resolver: FakeResolver) -> None:
    from starlette.applications import Starlette
    from starlette.responses import RedirectResponse
    from starlette.routing import Route

    async def moved(request: Any) -> RedirectResponse:
        return RedirectResponse("http://metadata.test/latest/meta-data/", status_code=307)

    app = Starlette(routes=[Route("/{path:path}", moved, methods=["GET", "POST"])])
    with serve_app(app) as url, platform.client() as http:
        response = http.post("/workspace/mcps", json={"name": "moved", "url": url, "transport": "rest"})
    assert (response.status_code, response.json()["error"]["code"]) == (502, "upstream_bad_reply")
    assert "metadata.test" not in resolver.lookups


def test_the_operator_blocks_private_networks_with_an_allowlist(
    platform: Platform, resolver: FakeResolver, counted_shop: tuple[RequestCounter, str]
) -> None:
    counting, shop = counted_shop
    port = port_of(shop)
    resolver.set("shop.test", "127.0.0.1")
    with platform.client() as http:
        # Registered while private networks were allowed.
        before = http.post("/workspace/mcps", json={"name": "old", "url": f"http://127.0.0.1:{port}"}).json()["data"]
    env = {"PLATI_BLOCK_PRIVATE_NETWORKS": "1", "PLATI_ALLOWED_HOSTS": "shop.test"}
    with another_process(platform, resolver, **env) as strict, strict.client() as http:
        details = refusal(http.post("/workspace/mcps", json={"name": "a", "url": f"http://127.0.0.1:{port}"}))
        assert (details["rule"], details["setting"]) == ("loopback", "PLATI_BLOCK_PRIVATE_NETWORKS")
        assert refusal(http.post("/workspace/mcps", json={"name": "b", "url": "http://intranet.test/"}))["rule"] == (
            "private"
        )
        allowed = http.post("/workspace/mcps", json={"name": "c", "url": f"http://shop.test:{port}"})
        assert allowed.status_code == 201, allowed.text
        seen = len(counting.requests)
        old_call = http.post(
            f"/workspace/mcps/{before['id']}/call",
            json={"name": "check_order_status", "arguments": {"order_id": "ORD-001"}},
        )
        assert refusal(old_call)["rule"] == "loopback"
        assert len(counting.requests) == seen
        new_call = http.post(
            f"/workspace/mcps/{allowed.json()['data']['id']}/call",
            json={"name": "check_order_status", "arguments": {"order_id": "ORD-001"}},
        )
        assert new_call.json()["data"]["success"] is True


@pytest.fixture
def fake_model() -> Iterator[tuple[FakeOpenAI, int]]:
    fake = FakeOpenAI()
    with serve_app(fake.app) as url:
        yield fake, int(url.rsplit(":", 1)[1])
        fake.release()


def test_model_base_urls_of_workspaces_and_assistants_follow_the_same_policy(
    platform: Platform, resolver: FakeResolver, fake_model: tuple[FakeOpenAI, int]
) -> None:
    fake, port = fake_model
    with platform.client() as http:
        details = refusal(http.patch("/workspace/settings", json={"openai_base_url": "http://169.254.169.254/v1"}))
        assert (details["field"], details["rule"]) == ("openai_base_url", "metadata")
        details = refusal(http.patch("/workspace/settings", json={"anthropic_base_url": "http://metadata.test/"}))
        assert details["field"] == "anthropic_base_url"
        body = {"name": "A", "provider": "OPENAI", "settings": {"base_url": "http://metadata.test/v1"}}
        details = refusal(http.post("/assistant", json=body))
        assert details["field"] == "settings.base_url"
        assert http.get("/assistants").json()["data"] == []
        assert http.get("/workspace/settings").json()["data"] == {}

        resolver.set("model.test", "127.0.0.1")
        body["settings"] = {"base_url": f"http://model.test:{port}/v1"}
        assistant = http.post("/assistant", json=body).json()["data"]["id"]
        refused = http.patch(f"/assistant/{assistant}", json={"settings": {"base_url": "http://[fe80::1]/v1"}})
        assert refusal(refused)["rule"] == "link_local"
        channel = http.post("/channels", json={"name": "c", "assistant_id": assistant}).json()["data"]["id"]
        fake.script([Reply(text="Hello from the model.")])
        first = http.post(f"/conversation/u/chat/{channel}", json={"text": "hi"})
        assert first.json()["data"]["reply"] == "Hello from the model.", first.text

        # Accepted while the name pointed at loopback, then rebound before the first connection.
        resolver.set("rebound.test", "127.0.0.1")
        body["settings"] = {"base_url": f"http://rebound.test:{port}/v1"}
        rebound = http.post("/assistant", json=body).json()["data"]["id"]
        channel = http.post("/channels", json={"name": "d", "assistant_id": rebound}).json()["data"]["id"]
        resolver.set("rebound.test", "169.254.169.254")
        fake.script([Reply(text="Should never be asked.")])
        second = http.post(f"/conversation/u/chat/{channel}", json={"text": "hi"})
    assert fake.requests == []
    assert refusal(second)["rule"] == "metadata"
