"""The simple protocol connector against real servers: the guide's Flask server, the SDK's server,
and stubs that fail in each way the contract names."""

from __future__ import annotations

import threading

import pytest

from plati.connectors import (
    CallContext,
    ConnectorConfig,
    FunctionNotFound,
    UpstreamBadReply,
    UpstreamTimeout,
    UpstreamTooLarge,
    UpstreamUnauthorized,
    UpstreamUnreachable,
)

from .conftest import Recorder, Stub, closed_port_url, connected, serve_stub

CTX = CallContext(
    workspace_id="ws_1",
    assistant_id="asst_1",
    conversation_id="conv_1",
    identity_id="user-7",
    request_id="req_1",
    idempotency_key="idem_1",
)


def rest(url: str, **options: object) -> ConnectorConfig:
    return ConnectorConfig(transport="rest", url=url, **options)  # type: ignore[arg-type]


async def test_the_guide_flask_server_lists_its_tools(flask_url: str) -> None:
    async with connected(rest(flask_url)) as connector:
        discovery = await connector.discover()
    assert discovery.protocol == "rest"
    assert [tool.name for tool in discovery.tools] == [
        "check_order_status",
        "process_return",
        "apply_discount",
        "get_product_recommendations",
    ]
    check = discovery.tools[0]
    assert check.description == "Get current order status and tracking info"
    assert check.input_schema["required"] == ["order_id"]
    assert check.output_schema is None and check.annotations is None


async def test_the_guide_flask_server_answers_a_call_with_its_data(flask_url: str) -> None:
    async with connected(rest(flask_url)) as connector:
        result = await connector.call("check_order_status", {"order_id": "ORD-001"}, CTX)
    assert result.success is True
    assert result.data["tracking_number"] == "1Z999AA1234567890"
    assert result.error is None and result.duration_ms > 0


async def test_a_function_failure_is_a_failed_result_not_an_exception(flask_url: str) -> None:
    async with connected(rest(flask_url)) as connector:
        result = await connector.call("check_order_status", {"order_id": "ORD-9"}, CTX)
    assert (result.success, result.error) == (False, "Order ORD-9 not found")


async def test_an_unknown_function_raises_function_not_found(flask_url: str) -> None:
    async with connected(rest(flask_url)) as connector:
        with pytest.raises(FunctionNotFound) as caught:
            await connector.call("send_email", {}, CTX)
    assert (caught.value.code, caught.value.status_code, caught.value.function) == (
        "function_not_found",
        404,
        "send_email",
    )


async def test_invalid_arguments_are_a_failed_result_naming_each_field(flask_url: str) -> None:
    async with connected(rest(flask_url)) as connector:
        result = await connector.call("apply_discount", {}, CTX)
    assert result.success is False
    assert result.error is not None and "customer_id" in result.error and "discount_code" in result.error


async def test_the_sdk_server_speaks_the_simple_protocol_at_its_base_url(shop_url: str) -> None:
    async with connected(rest(shop_url)) as connector:
        discovery = await connector.discover()
        result = await connector.call("check_order_status", {"order_id": "ORD-001"}, CTX)
        missing = await connector.call("check_order_status", {"order_id": "ORD-9"}, CTX)
    tools = {tool.name: tool for tool in discovery.tools}
    assert "check_order_status" in tools
    assert tools["check_order_status"].output_schema is not None
    assert result.success and result.data["status"] == "shipped"
    assert (missing.success, missing.error) == (False, "Order ORD-9 not found")


async def test_the_sdk_server_speaks_the_simple_protocol_under_mcp_too(shop_url: str) -> None:
    async with connected(rest(shop_url + "/mcp")) as connector:
        result = await connector.call("check_order_status", {"order_id": "ORD-001"}, CTX)
    assert result.success and result.data["status"] == "shipped"


async def test_context_headers_reach_the_function(context_url: str) -> None:
    async with connected(rest(context_url)) as connector:
        result = await connector.call("whoami", {}, CTX)
    assert result.data == {
        "workspace": "ws_1",
        "assistant": "asst_1",
        "conversation": "conv_1",
        "identity": "user-7",
        "request": "req_1",
        "idempotency_key": "idem_1",
    }


async def test_registered_headers_arrive_on_every_request(context_url: str, recorder: Recorder) -> None:
    config = rest(context_url, headers={"Authorization": "Bearer registered", "X-Team": "blue"})
    async with connected(config) as connector:
        await connector.discover()
        await connector.call("whoami", {}, CTX)
        await connector.call("whoami", {}, CallContext())
    assert len(recorder.requests) == 3
    for request in recorder.requests:
        assert request.headers["authorization"] == "Bearer registered"
        assert request.headers["x-team"] == "blue"
    assert "x-plati-conversation" not in recorder.requests[2].headers


async def test_several_calls_reuse_one_connection(context_url: str, recorder: Recorder) -> None:
    async with connected(rest(context_url)) as connector:
        for _ in range(4):
            await connector.call("whoami", {}, CTX)
    assert len({request.client for request in recorder.requests}) == 1


async def test_background_work_is_a_success_with_the_task_id() -> None:
    stub = Stub(body=b'{"success": true, "task_id": "task_42", "message": "Report started", "extra": 1}')
    with serve_stub(stub) as url:
        async with connected(rest(url)) as connector:
            result = await connector.call("report", {}, CTX)
    assert result.success and result.task_id == "task_42"
    assert result.data == {"task_id": "task_42", "message": "Report started"}


async def test_tools_with_mcp_casing_and_extras_are_tolerated() -> None:
    body = (
        b'{"tools": [{"name": "a", "inputSchema": {"type": "object"}, "title": "A",'
        b' "annotations": {"readOnlyHint": true}, "output_schema": {"type": "object"}, "extra": 1},'
        b' {"name": "b"}], "name": "Stubby"}'
    )
    with serve_stub(Stub(body=body)) as url:
        async with connected(rest(url)) as connector:
            discovery = await connector.discover()
    a, b = discovery.tools
    assert (a.title, a.annotations, a.output_schema, a.input_schema) == (
        "A",
        {"readOnlyHint": True},
        {"type": "object"},
        {"type": "object"},
    )
    assert (b.description, b.input_schema) == ("", {"type": "object", "properties": {}})
    assert discovery.server_name == "Stubby"


async def test_a_closed_port_raises_unreachable() -> None:
    async with connected(rest(closed_port_url())) as connector:
        with pytest.raises(UpstreamUnreachable) as caught:
            await connector.discover()
    assert (caught.value.code, caught.value.status_code) == ("upstream_unreachable", 502)


async def test_a_slow_server_raises_timeout() -> None:
    stub = Stub(hold=threading.Event())
    with serve_stub(stub) as url:
        async with connected(rest(url, timeout_seconds=0.5)) as connector:
            with pytest.raises(UpstreamTimeout) as caught:
                await connector.call("anything", {}, CTX)
    assert (caught.value.code, caught.value.status_code) == ("upstream_timeout", 504)


async def test_an_oversized_reply_raises_too_large_without_reading_it_all() -> None:
    stub = Stub(body=b"x" * 65_536, chunks=80)  # 5 MB, streamed without a Content-Length
    with serve_stub(stub) as url:
        async with connected(rest(url, max_response_bytes=10_000)) as connector:
            with pytest.raises(UpstreamTooLarge) as caught:
                await connector.call("anything", {}, CTX)
    assert (caught.value.code, caught.value.status_code) == ("upstream_too_large", 502)


async def test_a_declared_oversized_reply_raises_too_large() -> None:
    with serve_stub(Stub(body=b"y" * 20_000)) as url:
        async with connected(rest(url, max_response_bytes=10_000)) as connector:
            with pytest.raises(UpstreamTooLarge):
                await connector.discover()


async def test_a_non_json_reply_raises_bad_reply_with_the_status() -> None:
    with serve_stub(Stub(body=b"<html>hello</html>", content_type="text/html")) as url:
        async with connected(rest(url)) as connector:
            with pytest.raises(UpstreamBadReply) as caught:
                await connector.call("anything", {}, CTX)
    assert caught.value.code == "upstream_bad_reply"
    assert "HTTP 200" in caught.value.message


async def test_a_500_reply_raises_bad_reply_with_the_servers_error_text() -> None:
    stub = Stub(status=500, body=b'{"success": false, "error": "Internal error (id 1a2b3c4d)"}')
    with serve_stub(stub) as url:
        async with connected(rest(url)) as connector:
            with pytest.raises(UpstreamBadReply) as caught:
                await connector.call("anything", {}, CTX)
    assert caught.value.code == "upstream_bad_reply"
    assert "HTTP 500" in caught.value.message and "1a2b3c4d" in caught.value.message


async def test_a_429_reply_raises_bad_reply() -> None:
    with serve_stub(Stub(status=429, body=b'{"error": "Too many requests"}')) as url:
        async with connected(rest(url)) as connector:
            with pytest.raises(UpstreamBadReply) as caught:
                await connector.call("anything", {}, CTX)
    assert "HTTP 429" in caught.value.message


@pytest.mark.parametrize("status", [401, 403])
async def test_refused_credentials_raise_unauthorized_without_the_secret(status: int) -> None:
    stub = Stub(status=status, body=b'{"error": "Unauthorized"}')
    secret = "Bearer sk-very-secret-value"
    with serve_stub(stub) as url:
        async with connected(rest(url, headers={"Authorization": secret})) as connector:
            with pytest.raises(UpstreamUnauthorized) as caught:
                await connector.call("anything", {}, CTX)
            with pytest.raises(UpstreamUnauthorized):
                await connector.discover()
    assert (caught.value.code, caught.value.status_code) == ("upstream_unauthorized", 502)
    assert "sk-very-secret-value" not in str(caught.value) and "sk-very-secret-value" not in repr(caught.value.details)
    assert stub.headers_seen[0]["authorization"] == secret


async def test_the_guide_flask_servers_token_check_is_honoured(shop_db: object) -> None:
    from examples.guide_flask.ecommerce_flask import create_app

    from .conftest import serve_wsgi

    with serve_wsgi(create_app(shop_db, api_token="right")) as url:  # type: ignore[arg-type]
        async with connected(rest(url, headers={"Authorization": "Bearer wrong"})) as connector:
            with pytest.raises(UpstreamUnauthorized):
                await connector.discover()
        async with connected(rest(url, headers={"Authorization": "Bearer right"})) as connector:
            assert len((await connector.discover()).tools) == 4


def test_the_config_repr_hides_header_values() -> None:
    config = rest("http://x", headers={"Authorization": "Bearer hidden"}, env={"K": "hidden"})
    assert "hidden" not in repr(config)
