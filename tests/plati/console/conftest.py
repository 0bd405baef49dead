"""The console in a real browser: headless Chromium (Debian's ``chromium``) driven by Playwright,
against the platform and the e-commerce example server served on loopback, once per module.

Without a browser (or without the ``playwright`` package) these tests are skipped with the
reason; under ``CI=true`` they fail instead, so CI cannot pass without running them.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from examples.ecommerce.db import create_database
from examples.ecommerce.server import create_server

from plati.admin import create_api_key, create_workspace
from plati.app import create_app
from plati.settings import Settings
from tests.conftest import serve_app

SHOP_TOKEN = "console-test-shop-token"
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def chromium_path() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


_skipped: list[str] = []


def _unavailable(reason: str) -> None:
    if IN_CI:
        pytest.fail(f"{reason} (CI=true: the browser tests must run; .ci/run installs chromium)")
    if reason not in _skipped:
        _skipped.append(reason)
    pytest.skip(reason)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Say why the browser tests did not run, whatever the -r options."""
    for reason in _skipped:
        terminalreporter.write_line(f"The console's browser tests were skipped: {reason}", yellow=True)


@dataclass
class Console:
    url: str
    shop_url: str
    key: str
    read_only_key: str
    settings: Settings

    def api(self, key: str | None = None) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {key or self.key}"}, timeout=30)


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    """The platform (SQLite, OFFLINE engine), a workspace with a read-write and a read-only key,
    and the e-commerce shop (bearer token) to register."""
    root = tmp_path_factory.mktemp("console")
    settings = Settings.load(env={"PLATI_DATA_DIR": str(root / "data")})
    _, key = asyncio.run(create_workspace(settings, "Console shop"))
    _, read_only = asyncio.run(create_api_key(settings, None, "viewer", "read-only"))
    create_database(root / "shop.db")
    shop = create_server(root / "shop.db", auth_tokens=[SHOP_TOKEN])
    with serve_app(create_app(settings)) as url, serve_app(shop.app) as shop_url:
        yield Console(url, shop_url, key, read_only, settings)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    executable = chromium_path()
    if executable is None:
        _unavailable("no Chromium found (install Debian's package: apt-get install -y chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("the playwright package is not installed (pip install -e '.[dev]')")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=executable, args=["--no-sandbox", "--disable-background-networking", "--disable-gpu"]
        )
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh browser context (its own session storage) at 1280x900; page errors and
    Content-Security-Policy violations fail the test."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(10_000)
    opened = context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda error: errors.append(str(error)))
    opened.on(
        "console",
        lambda message: errors.append(message.text) if "Content Security Policy" in message.text else None,
    )
    yield opened
    context.close()
    assert errors == [], f"JavaScript errors in the console: {errors}"


SCREENSHOTS = os.environ.get("PLATI_CONSOLE_SCREENSHOTS")


@pytest.fixture(scope="module")
def screenshot_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where page screenshots go: ``PLATI_CONSOLE_SCREENSHOTS`` (docs/console to refresh the
    docs), else a temporary folder."""
    if SCREENSHOTS:
        path = Path(SCREENSHOTS)
        path.mkdir(parents=True, exist_ok=True)
        return path
    return tmp_path_factory.mktemp("screenshots")
