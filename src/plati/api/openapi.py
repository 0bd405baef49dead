"""The OpenAPI document and the pages that show it, served from the package (no CDN).

``install(app)`` runs after every router is included: it serves Swagger UI at ``/docs`` and ReDoc
at ``/redoc`` with their assets from ``fastapi_offline`` under ``/docs/assets``, and builds
``/openapi.json`` once from FastAPI's document plus what FastAPI cannot know: the bearer scheme,
the success envelope with each route's ``data`` (``plati.api.responses``), every error status a
route can answer with the real error envelope, and examples. The root path ``/`` stays free.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import fastapi_offline
from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel

from .responses import DATA_MODELS, ErrorEnvelope

ASSETS = Path(fastapi_offline.__file__).parent / "static"
ASSETS_URL = "/docs/assets"
SCHEME = "bearerAuth"
PUBLIC = frozenset({"/health"})

# status -> (codes the body may carry, when)
ERRORS: dict[int, tuple[list[str], str]] = {
    400: (["bad_request"], "The body is not JSON"),
    401: (["unauthorized"], "Missing, unknown or revoked API key"),
    403: (
        ["forbidden", "stdio_disabled", "command_not_allowed"],
        "A read-only key on a route that writes, runs a turn or calls a function; "
        "a stdio MCP the operator does not allow",
    ),
    404: (
        ["not_found", "function_not_found"],
        "No such resource in this workspace, or the function server lacks the function",
    ),
    409: (
        ["conflict", "conversation_busy"],
        "A name already taken, or a turn running under the channel's `reject` policy",
    ),
    413: (["payload_too_large"], "The body is over PLATI_MAX_REQUEST_BYTES"),
    422: (
        ["validation_error", "address_not_allowed"],
        "A field is invalid (`details`: `[{field, message}]`), above an operator maximum, "
        "or a URL the network policy refuses",
    ),
    429: (
        ["rate_limited", "too_many_auth_failures", "too_many_turns"],
        "The key's rate limit, the address's failed authentications or the workspace's turns at once; see Retry-After",
    ),
    502: (
        ["upstream_unreachable", "upstream_bad_reply", "upstream_too_large", "upstream_unauthorized", "provider_error"],
        "The function server (or the model provider) failed; the message says what was tried and the likely fix",
    ),
    503: (["rate_limit_unavailable"], "The rate-limit storage (Redis) cannot be reached"),
    504: (
        ["upstream_timeout", "provider_timeout"],
        "The function server (or the model provider) did not answer in time",
    ),
}

EXAMPLE_MESSAGES = {
    400: "Request body is not valid JSON",
    401: "Missing or invalid API key",
    403: "This API key is read-only",
    404: "No MCP mcp_0123456789abcdef01234567 in this workspace",
    409: "An MCP named 'Order Management System' already exists in this workspace",
    413: "Request body too large",
    422: "Invalid request: name: Field required",
    429: "Rate limit exceeded; retry in 12 s",
    502: "http://127.0.0.1:5000/mcp answers neither as MCP nor as the simple protocol (tried ...). Register ...",
    503: "The rate-limit storage cannot be reached",
    504: "http://127.0.0.1:5000 did not answer within 30 s",
}

GUIDE_MCP_BODY = {
    "name": "Order Management System",
    "transport": "http",
    "url": "https://your-domain.com/mcp",
    "headers": [{"key": "Authorization", "value": "Bearer YOUR_MCP_API_KEY"}],
}

_UPSTREAM_ROUTES = {
    ("post", "/workspace/mcps"),
    ("patch", "/workspace/mcps/{mcp_id}"),
    ("get", "/workspace/mcps/{mcp_id}/tools"),
    ("post", "/workspace/mcps/{mcp_id}/refresh"),
    ("post", "/workspace/mcps/{mcp_id}/call"),
    ("post", "/conversation/{identity_id}/chat/{channel_id}"),
    ("get", "/conversation/{identity_id}/streaming"),
    ("patch", "/assistant/{assistant_id}"),
    ("post", "/assistant"),
}
_TURN_ROUTES = {
    ("post", "/conversation/{identity_id}/chat/{channel_id}"),
    ("get", "/conversation/{identity_id}/streaming"),
}
_CONFLICT_ROUTES = {("post", "/workspace/mcps"), ("patch", "/workspace/mcps/{mcp_id}"), *_TURN_ROUTES}


def install(app: FastAPI) -> None:
    """Docs pages, their assets and the complete document (call after the routers are included)."""
    app.mount(ASSETS_URL, StaticFiles(directory=ASSETS), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_swagger_ui_html(
            openapi_url=f"{root}/openapi.json",
            title=f"{app.title} API",
            oauth2_redirect_url=f"{root}/docs/oauth2-redirect",
            swagger_js_url=f"{root}{ASSETS_URL}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{ASSETS_URL}/swagger-ui.css",
            swagger_favicon_url=f"{root}{ASSETS_URL}/favicon.png",
            swagger_ui_parameters={"persistAuthorization": True},
        )

    @app.get("/docs/oauth2-redirect", include_in_schema=False)
    async def swagger_ui_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    @app.get("/redoc", include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_redoc_html(
            openapi_url=f"{root}/openapi.json",
            title=f"{app.title} API",
            redoc_js_url=f"{root}{ASSETS_URL}/redoc.standalone.js",
            redoc_favicon_url=f"{root}{ASSETS_URL}/favicon.png",
            with_google_fonts=False,
        )

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            base = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
            app.openapi_schema = complete(base)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def complete(document: dict[str, Any]) -> dict[str, Any]:
    """FastAPI's document with the auth scheme, the envelopes, every error status and examples."""
    document = copy.deepcopy(document)
    components = document.setdefault("components", {})
    schemas: dict[str, Any] = components.setdefault("schemas", {})
    schemas.pop("HTTPValidationError", None)
    schemas.pop("ValidationError", None)
    _add_model(schemas, ErrorEnvelope)
    components["securitySchemes"] = {
        SCHEME: {
            "type": "http",
            "scheme": "bearer",
            "description": "A workspace API key (`plati init`, `plati keys create`): `Authorization: Bearer plati_...`",
        }
    }
    for path, operations in document.get("paths", {}).items():
        for method, operation in operations.items():
            _complete_operation(schemas, path, method, operation)
    return document


def _add_model(schemas: dict[str, Any], model: type[BaseModel]) -> dict[str, str]:
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    for name, definition in schema.pop("$defs", {}).items():
        schemas.setdefault(name, definition)
    schemas.setdefault(model.__name__, schema)
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def _envelope(data: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["message", "data"],
        "properties": {"message": {"type": "string"}, "data": data},
    }


def _complete_operation(schemas: dict[str, Any], path: str, method: str, operation: dict[str, Any]) -> None:
    responses: dict[str, Any] = operation.setdefault("responses", {})
    key = (method, path)
    success = next((status for status in ("200", "201") if status in responses), "200")
    if key in DATA_MODELS:
        entry = DATA_MODELS[key]
        if entry is None:
            data: dict[str, Any] = {"type": "object"}
        else:
            model, many = entry
            ref = _add_model(schemas, model)
            data = {"type": "array", "items": ref} if many else ref
        responses[success] = {
            "description": responses.get(success, {}).get("description", "Success"),
            "content": {"application/json": {"schema": _envelope(data)}},
        }
    if path == "/conversation/{identity_id}/streaming":
        responses[success] = {
            "description": "Server-Sent Events: JSON `data:` lines of type token, function_call, "
            "function_result, complete (with the chat reply as `data`) and error",
            "content": {"text/event-stream": {}},
        }
    if path == "/workspace/mcps" and method == "post":
        content = operation.get("requestBody", {}).get("content", {}).get("application/json")
        if content is not None:
            content["example"] = GUIDE_MCP_BODY
    if path == "/conversation/{identity_id}/chat/{channel_id}":
        content = operation.get("requestBody", {}).get("content", {}).get("application/json")
        if content is not None:
            content["example"] = {"text": "Check my order ORD-001"}
    for status in _error_statuses(path, method, operation):
        codes, when = ERRORS[status]
        responses[str(status)] = {
            "description": when,
            "content": {
                "application/json": {
                    "schema": {"$ref": "#/components/schemas/ErrorEnvelope"},
                    "example": {
                        "message": EXAMPLE_MESSAGES[status],
                        "error": {"code": codes[0], "details": None},
                    },
                }
            },
        }
        if status in (429, 503):
            responses[str(status)]["headers"] = {
                "Retry-After": {"description": "Seconds to wait", "schema": {"type": "integer"}}
            }
    if path not in PUBLIC:
        operation["security"] = [{SCHEME: []}]


def _error_statuses(path: str, method: str, operation: dict[str, Any]) -> list[int]:
    key = (method, path)
    if path in PUBLIC:
        return []
    statuses = {401, 429, 503}
    if "requestBody" in operation:
        statuses |= {400, 413, 422}
    if operation.get("parameters"):
        statuses.add(422)
    if method != "get" or key in _TURN_ROUTES:
        statuses.add(403)
    if "{" in path or key in _TURN_ROUTES:
        statuses.add(404)
    if key in _CONFLICT_ROUTES:
        statuses.add(409)
    if key in _UPSTREAM_ROUTES:
        statuses |= {502, 504}
    return sorted(statuses)
