"""The web console: a static single-page app over the public HTTP API.

The console is plain ES modules and CSS committed under ``static/`` (no build step, no Node, no
CDN): the browser signs in with an API key and calls the same routes as any client, so the
console holds no business logic and no second path into the database. This module only serves
the files, with a strict Content-Security-Policy: scripts and styles from this origin only, no
inline code, no frames, connections to this origin only.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from starlette.responses import FileResponse, Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

STATIC_DIR = Path(__file__).parent / "static"

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "manifest-src 'self'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    ]
)

SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    # Sign-in keys live in the page's session storage: never serve a stale console from a cache.
    "Cache-Control": "no-cache",
}


class _ConsoleFiles(StaticFiles):
    """Static files with the console's security headers."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        response.headers.update(SECURITY_HEADERS)
        return response


def mount_console(app: FastAPI) -> None:
    """Serve the console at ``/`` (the page) and ``/console/`` (its files).

    Call it after every API router is included: only ``/`` and ``/console/...`` are taken, so
    the API routes, ``/docs``, ``/redoc`` and ``/openapi.json`` stay where they are, and an
    unknown path is still the API's JSON 404.
    """

    index = STATIC_DIR / "index.html"

    @app.get("/", include_in_schema=False)
    async def console_page() -> FileResponse:
        return FileResponse(index, media_type="text/html", headers=SECURITY_HEADERS)

    app.mount("/console", _ConsoleFiles(directory=STATIC_DIR), name="console")


__all__ = ["CONTENT_SECURITY_POLICY", "SECURITY_HEADERS", "STATIC_DIR", "mount_console"]
