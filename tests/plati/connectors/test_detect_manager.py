"""Transport "http" detection against real servers, and the connector manager."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from plati.connectors import (
    CallContext,
    Connector,
    ConnectorConfig,
    ConnectorManager,
    McpConnector,
    RestConnector,
    StreamableHttpConnector,
    UpstreamBadReply,
    UpstreamUnauthorized,
    UpstreamUnreachable,
    open_connector,
)
from tests.conftest import serve_app

from .conftest import Stub, closed_port_url, connected, serve_stub

CTX = CallContext(conversation_id="conv_1")


def http(url: str, **options: object) -> ConnectorConfig:
    return ConnectorConfig(transport="http", url=url, **options)  # type: ignore[arg-type]


@pytest.mark.parametrize(("suffix", "protocol"), [("", "rest"), ("/mcp", "streamable-http")])
async def test_the_sdk_server_is_detected_by_its_url(shop_url: str, suffix: str, protocol: str) -> None:
    async with connected(http(shop_url + suffix)) as connector:
        assert connector.protocol == protocol
        discovery = await connector.discover()
        result = await connector.call("check_order_status", {"order_id": "ORD-001"}, CTX)
    assert discovery.protocol == protocol
    assert result.success and result.data["status"] == "shipped"


async def test_the_guide_flask_server_is_detected_as_rest(flask_url: str) -> None:
    async with connected(http(flask_url)) as connector:
        assert isinstance(connector, RestConnector) and connector.protocol == "rest"
        assert len((await connector.discover()).tools) == 4


async def test_a_detected_mcp_server_keeps_its_session(shop_url: str) -> None:
    async with connected(http(shop_url + "/mcp")) as connector:
        assert isinstance(connector, StreamableHttpConnector)
        await connector.discover()
        await connector.call("check_order_status", {"order_id": "ORD-001"}, CTX)
        assert connector.sessions_opened == 1


async def test_detection_on_a_closed_port_raises_unreachable() -> None:
    with pytest.raises(UpstreamUnreachable) as caught:
        await open_connector(http(closed_port_url()))
    assert caught.value.code == "upstream_unreachable"


async def test_the_guide_registration_url_finds_the_guide_flask_server_at_its_parent(flask_url: str) -> None:
    async with connected(http(flask_url + "/mcp")) as connector:
        assert isinstance(connector, RestConnector) and connector.protocol == "rest"
        discovery = await connector.discover()
        result = await connector.call("check_order_status", {"order_id": "ORD-001"}, CTX)
    assert discovery.endpoint == flask_url
    assert result.success and result.data["status"] == "shipped"


async def test_detection_names_the_endpoint_it_chose(shop_url: str) -> None:
    async with connected(http(shop_url + "/mcp")) as connector:
        assert (await connector.discover()).endpoint == shop_url + "/mcp"


async def test_detection_of_a_server_speaking_neither_lists_what_it_tried_and_the_fix() -> None:
    stub = Stub(status=404, body=b"<h1>Not here</h1>", content_type="text/html")
    with serve_stub(stub) as url, pytest.raises(UpstreamBadReply) as caught:
        await open_connector(http(url + "/mcp"))
    assert caught.value.code == "upstream_bad_reply"
    tried = [(item["url"], item["protocol"]) for item in caught.value.details["tried"]]
    assert tried == [(url + "/mcp", "streamable-http"), (url + "/mcp", "rest"), (url, "rest")]
    assert "transport" in caught.value.details["hint"]
    assert caught.value.details["hint"] in caught.value.message


async def test_detection_on_a_closed_port_says_to_start_the_server() -> None:
    with pytest.raises(UpstreamUnreachable) as caught:
        await open_connector(http(closed_port_url()))
    assert [item["protocol"] for item in caught.value.details["tried"]] == ["streamable-http"]
    assert caught.value.details["hint"].startswith("Start the function server")


async def test_detection_with_refused_credentials_raises_unauthorized(shop_db: Path) -> None:
    from examples.ecommerce.server import create_server

    with serve_app(create_server(shop_db, auth_tokens=["right"]).app) as url:
        for suffix in ("", "/mcp"):
            with pytest.raises(UpstreamUnauthorized):
                await open_connector(http(url + suffix, headers={"Authorization": "Bearer wrong"}))


# -- the manager ------------------------------------------------------------------------------


async def test_the_manager_reuses_a_connector_while_the_config_is_equal(shop_url: str) -> None:
    manager = ConnectorManager()
    try:
        first = await manager.get("mcp_1", ConnectorConfig(transport="rest", url=shop_url))
        again = await manager.get("mcp_1", ConnectorConfig(transport="rest", url=shop_url))
        assert again is first and "mcp_1" in manager and len(manager) == 1
    finally:
        await manager.aclose()


async def test_the_manager_replaces_and_closes_a_connector_when_the_config_changes(shop_url: str) -> None:
    manager = ConnectorManager()
    try:
        old = await manager.get("mcp_1", ConnectorConfig(transport="streamable-http", url=shop_url + "/mcp"))
        assert isinstance(old, McpConnector)
        await old.discover()
        new = await manager.get(
            "mcp_1", ConnectorConfig(transport="streamable-http", url=shop_url + "/mcp", timeout_seconds=10)
        )
        assert new is not old and old.closed is True
        assert (await new.call("check_order_status", {"order_id": "ORD-001"}, CTX)).success
        with pytest.raises(RuntimeError):
            await old.discover()
    finally:
        await manager.aclose()


async def test_concurrent_gets_for_one_key_open_one_connector(shop_url: str) -> None:
    opened: list[Connector] = []

    async def opener(key: str, config: ConnectorConfig) -> Connector:
        await asyncio.sleep(0)  # let the other getters reach the lock
        connector = await open_connector(config)
        opened.append(connector)
        return connector

    manager = ConnectorManager(opener)
    try:
        config = http(shop_url + "/mcp")
        got = await asyncio.gather(*(manager.get("mcp_1", config) for _ in range(5)))
        assert len(opened) == 1 and all(connector is opened[0] for connector in got)
    finally:
        await manager.aclose()


async def test_discard_closes_the_connector(shop_url: str) -> None:
    manager = ConnectorManager()
    try:
        connector = await manager.get("mcp_1", ConnectorConfig(transport="streamable-http", url=shop_url + "/mcp"))
        assert isinstance(connector, McpConnector)
        await connector.discover()
        await manager.discard("mcp_1")
        await manager.discard("mcp_1")  # a second discard is a no-op
        assert "mcp_1" not in manager and connector.closed
    finally:
        await manager.aclose()
    with pytest.raises(RuntimeError):
        await manager.get("mcp_1", ConnectorConfig(transport="rest", url=shop_url))
