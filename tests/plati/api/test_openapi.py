"""The OpenAPI document is complete and true: every documented response schema holds for the real
responses of a guide-style walk (success and errors), auth is a bearer scheme, and the docs pages
load their assets from the package, not a CDN."""

from __future__ import annotations

from typing import Any

import httpx
import jsonschema
import pytest

from .conftest import Platform


def documented_schema(document: dict[str, Any], method: str, path: str, status: int) -> dict[str, Any]:
    responses = document["paths"][path][method]["responses"]
    assert str(status) in responses, f"{method.upper()} {path} does not document {status}"
    schema: dict[str, Any] = responses[str(status)]["content"]["application/json"]["schema"]
    return {**schema, "components": document["components"]}


class Checker:
    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document
        self.checked: set[tuple[str, str, int]] = set()

    def __call__(self, response: httpx.Response, method: str, path: str) -> Any:
        schema = documented_schema(self.document, method, path, response.status_code)
        jsonschema.validate(response.json(), schema)
        self.checked.add((method, path, response.status_code))
        return response.json()


@pytest.fixture
def document(platform: Platform) -> dict[str, Any]:
    with httpx.Client(base_url=platform.url) as http:
        found: dict[str, Any] = http.get("/openapi.json").json()
    return found


def test_the_document_declares_a_bearer_scheme_used_by_every_route_but_health(document: dict[str, Any]) -> None:
    assert document["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "description": document["components"]["securitySchemes"]["bearerAuth"]["description"],
    }
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            if path == "/health":
                assert "security" not in operation
                continue
            assert operation["security"] == [{"bearerAuth": []}], (method, path)
            assert {"401", "429"} <= set(operation["responses"]), (method, path)
    assert "HTTPValidationError" not in document["components"]["schemas"]


def test_documented_response_schemas_hold_for_real_responses(
    platform: Platform, document: dict[str, Any], shop: str
) -> None:
    check = Checker(document)
    with platform.client() as http:
        check(http.get("/health"), "get", "/health")
        mcp = check(
            http.post("/workspace/mcps", json={"name": "shop", "url": shop + "/mcp"}), "post", "/workspace/mcps"
        )
        mcp_id = mcp["data"]["id"]
        check(http.get("/workspace/mcps"), "get", "/workspace/mcps")
        check(http.get(f"/workspace/mcps/{mcp_id}"), "get", "/workspace/mcps/{mcp_id}")
        check(http.get(f"/workspace/mcps/{mcp_id}/tools"), "get", "/workspace/mcps/{mcp_id}/tools")
        check(http.post(f"/workspace/mcps/{mcp_id}/refresh"), "post", "/workspace/mcps/{mcp_id}/refresh")
        call = {"name": "check_order_status", "arguments": {"order_id": "ORD-001"}}
        check(http.post(f"/workspace/mcps/{mcp_id}/call", json=call), "post", "/workspace/mcps/{mcp_id}/call")
        check(
            http.patch(f"/workspace/mcps/{mcp_id}", json={"timeout_seconds": 10}), "patch", "/workspace/mcps/{mcp_id}"
        )
        body = {"name": "Support", "instructions": "Use {{function.check_order_status(order_id)}}"}
        assistant_id = check(http.post("/assistant", json=body), "post", "/assistant")["data"]["id"]
        check(http.get("/assistants"), "get", "/assistants")
        check(http.get(f"/assistant/{assistant_id}"), "get", "/assistant/{assistant_id}")
        check(http.patch(f"/assistant/{assistant_id}", json={"model": "m"}), "patch", "/assistant/{assistant_id}")
        attach = f"/assistant/{assistant_id}/mcp/{mcp_id}"
        check(http.put(attach), "put", "/assistant/{assistant_id}/mcp/{mcp_id}")
        check(http.get(f"/assistant/{assistant_id}/mcp/tools"), "get", "/assistant/{assistant_id}/mcp/tools")
        channel = {"name": "web", "type": "api", "assistant_id": assistant_id}
        channel_id = check(http.post("/channels", json=channel), "post", "/channels")["data"]["id"]
        check(http.get("/channels"), "get", "/channels")
        check(http.get(f"/channels/{channel_id}"), "get", "/channels/{channel_id}")
        check(http.put(f"/channels/{channel_id}", json={"active": True}), "put", "/channels/{channel_id}")
        chat_path = "/conversation/{identity_id}/chat/{channel_id}"
        reply = check(
            http.post(f"/conversation/test_user/chat/{channel_id}", json={"text": "Check my order ORD-001"}),
            "post",
            chat_path,
        )
        conversation_id = reply["data"]["conversation_id"]
        check(http.get("/conversations"), "get", "/conversations")
        messages = "/conversation/{conversation_id}/messages"
        check(http.get(f"/conversation/{conversation_id}/messages"), "get", messages)
        check(http.get("/workspace/settings"), "get", "/workspace/settings")

        # The errors, each with the real envelope.
        check(http.get("/workspace/mcps/mcp_nope"), "get", "/workspace/mcps/{mcp_id}")
        check(http.post("/workspace/mcps", json={"name": "shop", "url": shop}), "post", "/workspace/mcps")
        check(http.post("/assistant", json={"instructions": "no name"}), "post", "/assistant")
        check(
            http.post("/assistant", content=b"{oops", headers={"content-type": "application/json"}),
            "post",
            "/assistant",
        )
        down = {"name": "down", "url": "http://127.0.0.1:9/mcp"}
        check(http.post("/workspace/mcps", json=down), "post", "/workspace/mcps")
        check(http.delete(attach), "delete", "/assistant/{assistant_id}/mcp/{mcp_id}")
        check(http.delete(f"/channels/{channel_id}"), "delete", "/channels/{channel_id}")
        check(http.delete(f"/assistant/{assistant_id}"), "delete", "/assistant/{assistant_id}")
        check(http.delete(f"/workspace/mcps/{mcp_id}"), "delete", "/workspace/mcps/{mcp_id}")
    with platform.client("plati_wrong") as http:
        check(http.get("/assistants"), "get", "/assistants")
    with platform.client(platform.tenant.read_only_key) as http:
        check(http.post("/assistant", json={"name": "x"}), "post", "/assistant")
    statuses = {status for _, _, status in check.checked}
    assert {200, 201, 400, 401, 403, 404, 409, 422, 502} <= statuses


def test_swagger_ui_and_redoc_load_their_assets_from_the_package(platform: Platform) -> None:
    with httpx.Client(base_url=platform.url) as http:
        for page in ("/docs", "/redoc"):
            html = http.get(page)
            assert html.status_code == 200
            assert "cdn." not in html.text and "fonts.googleapis" not in html.text
            assert "/docs/assets/" in html.text
        for asset in ("swagger-ui-bundle.js", "swagger-ui.css", "redoc.standalone.js"):
            assert http.get(f"/docs/assets/{asset}").status_code == 200
        root = http.get("/")  # the web console, mounted after every API route
        assert root.status_code == 200 and "text/html" in root.headers["content-type"]
