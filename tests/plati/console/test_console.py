"""The console, driven in headless Chromium the way a person uses it: sign in, register the
e-commerce example server and try a function, write the guide's prompt (a misspelled function is
flagged as you type), attach, open a channel, chat in the playground, read the timeline, manage
keys; a read-only key gets no write controls; content from users, models and function servers
stays text. Tests run in order on one platform per module (each builds on the one before)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from plati.cli.demo import GUIDE_PROMPT
from plati_mcp import MCP, FunctionError
from tests.conftest import serve_app

from .conftest import SHOP_TOKEN, Console

MISSPELLED = GUIDE_PROMPT.replace(
    "2. Call {{function.check_order_status(order_id)}}", "2. Call {{function.check_order_stauts(order_id)}}"
)
PAGES = ["overview", "mcps", "assistants", "channels", "conversations", "playground", "keys", "settings"]
XSS = {
    "script": "<script>window.__xss = 'script'</script>",
    "img": "<img src=x onerror=\"window.__xss = 'img'\">",
}


UNLABELLED_CONTROLS = """() => [...document.querySelectorAll("input, select, textarea, button")]
    .filter((el) => el.type !== "hidden" && !el.labels?.length && !el.getAttribute("aria-label")
        && !(el.tagName === "BUTTON" && el.textContent.trim()))
    .map((el) => el.outerHTML.slice(0, 80))"""


def sign_in(page: Any, console: Console, key: str | None = None, at: str = "#/overview") -> None:
    page.goto(f"{console.url}/{at}")
    page.get_by_label("API key").fill(key or console.key)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("navigation", name="Console").wait_for()


def expect_text(locator: Any, text: str | re.Pattern[str], timeout: float = 10_000) -> None:
    from playwright.sync_api import expect

    expect(locator).to_contain_text(text, timeout=timeout)


def no_script_ran(page: Any) -> None:
    assert page.evaluate("window.__xss") is None


def test_the_console_is_served_at_the_root_with_a_strict_csp_and_the_api_stays_where_it_is(
    console: Console,
) -> None:
    with httpx.Client(base_url=console.url) as http:
        root = http.get("/")
        script = http.get("/console/js/app.js")
        unknown = http.get("/no-such-route")
        health = http.get("/health")
        openapi = http.get("/openapi.json")
    assert root.status_code == 200 and "<title>Plati console</title>" in root.text
    for response in (root, script):
        csp = response.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "default-src 'none'" in csp and "unsafe-inline" not in csp
    assert script.headers["content-type"].startswith("text/javascript")
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "not_found"
    assert health.json()["data"]["status"] == "ok"
    assert "/" not in openapi.json()["paths"]


def test_sign_in_shows_the_apis_refusal_keeps_the_key_in_the_tab_and_signs_out(page: Any, console: Console) -> None:
    page.goto(console.url)
    page.get_by_label("API key").fill("plati_not_a_key")
    page.get_by_role("button", name="Sign in").click()
    expect_text(page.get_by_role("alert"), "Invalid or revoked API key")
    page.get_by_label("API key").fill(console.key)
    page.get_by_role("button", name="Sign in").click()
    expect_text(page.get_by_role("heading", level=1), "Overview")
    assert page.evaluate("sessionStorage.getItem('plati.console.key')") == console.key
    assert page.evaluate("localStorage.length") == 0
    page.get_by_role("button", name="Sign out").click()
    page.get_by_label("API key").wait_for()
    assert page.evaluate("sessionStorage.getItem('plati.console.key')") is None


def test_the_console_works_from_the_keyboard(page: Any, console: Console) -> None:
    page.goto(console.url)
    page.get_by_label("API key").wait_for()
    page.keyboard.type(console.key)  # the key field has the focus
    page.keyboard.press("Enter")
    expect_text(page.get_by_role("heading", level=1), "Overview")
    page.locator("main h1:focus").wait_for()  # focus moves to the page's heading
    page.keyboard.press("Shift+Tab")
    for _ in range(12):
        if page.evaluate("document.activeElement.textContent") == "Channels":
            break
        page.keyboard.press("Shift+Tab")
    page.keyboard.press("Enter")
    expect_text(page.get_by_role("heading", level=1), "Channels")
    page.locator("main h1:focus").wait_for()


def test_the_demo_link_signs_in_and_takes_the_key_out_of_the_address(page: Any, console: Console) -> None:
    page.goto(f"{console.url}/#key={console.key}")
    expect_text(page.get_by_role("heading", level=1), "Overview")
    assert console.key not in page.url
    assert page.evaluate("history.length") >= 1


def test_register_the_ecommerce_server_see_its_tools_and_try_a_function(page: Any, console: Console) -> None:
    sign_in(page, console, at="#/mcps")
    page.get_by_label("Name", exact=True).fill("Shop")
    page.get_by_label("URL").fill(console.shop_url)
    page.get_by_role("button", name="Add a header").click()
    page.get_by_label("Header name").fill("Authorization")
    page.get_by_label("Header value (secret)").fill(f"Bearer {SHOP_TOKEN}")
    page.get_by_label("Timeout (seconds)").fill("10")
    page.get_by_role("button", name="Register").click()
    expect_text(page.get_by_role("heading", level=1), "Shop")
    main = page.locator("main")
    expect_text(main, "Detected protocol")
    expect_text(main, re.compile(r"Detected protocol\s*(mcp|rest)"))
    expect_text(main, "check_order_status")
    assert SHOP_TOKEN not in main.inner_text()  # the header value is masked
    tool = page.get_by_role("region", name="check_order_status")
    tool.get_by_text("Try it").click()
    tool.get_by_label("order_id (required)").fill("ORD-001")
    tool.get_by_role("button", name="Call check_order_status").click()
    expect_text(tool, "Success")
    expect_text(tool, re.compile(r"\d+(\.\d+)? ms at the server"))
    expect_text(tool.locator("pre").last, '"success": true')


def test_errors_are_shown_next_to_the_control_in_the_apis_words(page: Any, console: Console) -> None:
    sign_in(page, console, at="#/mcps")
    page.get_by_label("Name", exact=True).fill("Shop")
    page.get_by_label("URL").fill(console.shop_url)
    page.get_by_role("button", name="Register").click()
    form = page.locator("form", has=page.get_by_role("button", name="Register"))
    expect_text(form.get_by_role("alert").first, "An MCP named 'Shop' already exists in this workspace")


def test_the_guides_prompt_flags_a_misspelled_function_completes_names_and_attaches(
    page: Any, console: Console
) -> None:
    sign_in(page, console, at="#/assistants/new")
    page.get_by_label("Name", exact=True).fill("Customer Service")
    page.get_by_label("Shop (4 tools)").check()
    instructions = page.get_by_label("Instructions")
    instructions.fill(MISSPELLED)
    warning = page.locator(".editor .notice")
    expect_text(warning, "check_order_stauts")
    # Fix it by completion: the name cut back to its start, more typed, chosen from the list.
    cut = MISSPELLED.replace("{{function.check_order_stauts(order_id)}}", "{{function.check_o")
    instructions.fill(cut)
    caret = cut.index("2. Call {{function.check_o") + len("2. Call {{function.check_o")
    instructions.evaluate("(node, caret) => node.setSelectionRange(caret, caret)", caret)
    instructions.press_sequentially("r")
    page.get_by_role("option", name=re.compile("check_order_status")).wait_for()
    instructions.press("Enter")
    assert instructions.input_value() == GUIDE_PROMPT
    assert "check_order_stauts" not in warning.inner_text()
    expect_text(warning, "get_customer_profile")  # the guide's, which the e-commerce example does not offer
    page.get_by_role("button", name="Create assistant").click()
    expect_text(page.get_by_role("heading", level=1), "Customer Service")
    with console.api() as http:
        assistant = http.get("/assistants").json()["data"][0]
        shop = http.get("/workspace/mcps").json()["data"][0]
    assert assistant["mcp_ids"] == [shop["id"]]
    assert "check_order_stauts" not in assistant["unresolved_functions"]


def test_create_a_channel(page: Any, console: Console) -> None:
    sign_in(page, console, at="#/channels")
    page.get_by_label("Name", exact=True).fill("web")
    page.get_by_label("Assistant").select_option(label="Customer Service")
    page.get_by_role("button", name="Create channel").click()
    row = page.get_by_role("row", name=re.compile("web"))
    expect_text(row, "Customer Service")


def test_chat_in_the_playground_streams_the_reply_with_a_live_function_card(page: Any, console: Console) -> None:
    sign_in(page, console, at="#/playground")
    page.get_by_label("Identity").fill("alice")
    page.get_by_label("Identity").dispatch_event("change")
    page.get_by_label("Message").fill("Check my order ORD-001")
    page.get_by_role("button", name="Send").click()
    card = page.get_by_role("article", name="Function call check_order_status")
    expect_text(card, "ORD-001")
    expect_text(card, re.compile(r"succeeded in \d+ ms"))
    expect_text(card, "on Shop")
    reply = page.locator(".bubble.assistant").last
    expect_text(reply, "ORD-001")
    # A message stored later in the conversation by someone else (as a follow-up would be) shows up.
    with console.api() as http:
        channel_id = http.get("/channels").json()["data"][0]["id"]
        later = http.post(f"/conversation/alice/chat/{channel_id}", json={"text": "And ORD-002?"})
        assert later.status_code == 200
    expect_text(page.get_by_role("log"), "And ORD-002?")
    expect_text(page.get_by_role("log"), later.json()["data"]["reply"])
    page.get_by_role("button", name="New conversation").click()
    expect_text(page.get_by_role("log"), "Send a message to start a conversation.")


def test_a_conversations_timeline_shows_messages_and_calls(page: Any, console: Console) -> None:
    sign_in(page, console, at="#/conversations")
    page.get_by_role("link", name="alice").click()
    expect_text(page.get_by_role("heading", level=1), "Conversation with alice")
    expect_text(page.locator("main"), "on web")
    timeline = page.locator(".timeline")
    expect_text(timeline.locator(".bubble.user").first, "Check my order ORD-001")
    card = timeline.get_by_role("article", name="Function call check_order_status")
    expect_text(card, '"order_id": "ORD-001"')
    expect_text(card, re.compile(r"succeeded in \d+ ms"))
    expect_text(card, "on Shop")
    page.goto(f"{console.url}/#/conversations")
    page.get_by_label("Only with failed turns").check()
    expect_text(page.locator("main"), "No conversation matches these filters")


def test_a_failed_turn_shows_its_reason_in_the_playground_the_list_and_the_timeline(
    page: Any, console: Console
) -> None:
    with console.api() as http:
        # A model server that is not there: the turn fails (provider_unavailable), stored as such.
        broken = {"base_url": "http://127.0.0.1:9/v1", "timeout_seconds": 2}
        assistant = http.post(
            "/assistant", json={"name": "Unplugged", "provider": "OPENAI", "model": "none", "settings": broken}
        ).json()["data"]
        channel = http.post("/channels", json={"name": "unplugged", "assistant_id": assistant["id"]}).json()["data"]
    sign_in(page, console, at=f"#/playground/{channel['id']}")
    page.get_by_label("Identity").fill("bob")
    page.get_by_label("Identity").dispatch_event("change")
    page.get_by_label("Message").fill("Hello?")
    page.get_by_role("button", name="Send").click()
    expect_text(page.locator("main"), "The assistant is not available right now")
    page.goto(f"{console.url}/#/conversations")
    page.get_by_role("link", name="alice").wait_for()
    page.get_by_label("Only with failed turns").check()
    page.get_by_role("link", name="alice").wait_for(state="detached")
    row = page.get_by_role("row", name=re.compile("bob"))
    expect_text(row, "1")
    row.get_by_role("link", name="bob").click()
    failed = page.locator(".turn.failed")
    expect_text(failed, "Turn failed: The assistant is not available right now")
    expect_text(failed, "The OpenAI provider could not be reached")


def test_create_and_revoke_an_api_key(page: Any, console: Console) -> None:
    sign_in(page, console, at="#/keys")
    page.get_by_label("Name", exact=True).fill("dashboard")
    page.get_by_label("Access").select_option("read-only")
    page.get_by_role("button", name="Create key").click()
    secret = page.get_by_label("The new key").input_value()
    with console.api(secret) as http:
        assert http.get("/workspace").json()["data"]["key"]["access"] == "read-only"
    page.get_by_role("button", name="Done: I saved it").click()
    page.get_by_role("button", name="Revoke dashboard").click()
    page.get_by_role("dialog").get_by_role("button", name="Revoke").click()
    expect_text(page.get_by_role("row", name=re.compile("dashboard")), "revoked")
    with console.api(secret) as http:
        assert http.get("/workspace").status_code == 401


def test_a_read_only_key_gets_no_write_controls(page: Any, console: Console) -> None:
    sign_in(page, console, key=console.read_only_key)
    expect_text(page.locator("header"), "read-only")
    with console.api() as http:
        mcp_id = http.get("/workspace/mcps").json()["data"][0]["id"]
        assistant_id = http.get("/assistants").json()["data"][0]["id"]
    write_words = re.compile(r"^(Register|Create|Save|Delete|Revoke|Refresh|Disable|Enable|Send|Call)\b")
    for where in [*PAGES, f"mcps/{mcp_id}", f"assistants/{assistant_id}"]:
        page.goto(f"{console.url}/#/{where}")
        page.locator("main h1").wait_for()
        page.locator("main .loading").wait_for(state="detached")
        buttons = [text.strip() for text in page.locator("main button").all_inner_texts()]
        assert [text for text in buttons if write_words.match(text)] == [], where
        assert page.locator("main form textarea:not([readonly]), main .composer").count() == 0, where
        assert page.get_by_text("Try it").count() == 0, where


def _show_something(page: Any, name: str, width: int) -> None:
    """Pages with a result worth showing in the docs: a tried function, a chat."""
    if name == "mcp":
        tool = page.get_by_role("region", name="check_order_status")
        tool.get_by_text("Try it").click()
        tool.get_by_label("order_id (required)").fill("ORD-002")
        tool.get_by_role("button", name="Call check_order_status").click()
        expect_text(tool, "Success")
    elif name == "playground":
        page.get_by_label("Message").fill("I want to return order ORD-003 because it arrived damaged")
        page.get_by_role("button", name="Send").click()
        page.get_by_role("article", name="Function call process_return").wait_for()
        expect_text(page.locator(".bubble.assistant").last, "ORD-003")
        page.get_by_label("Message").blur()


def test_every_page_fits_1280_and_375_pixels_and_is_screenshot(
    browser: Any, console: Console, screenshot_dir: Path
) -> None:
    with console.api() as http:
        conversation = http.get("/conversations?identity_id=alice").json()["data"]["conversations"][0]["id"]
        mcp_id = http.get("/workspace/mcps").json()["data"][0]["id"]
        assistant_id = http.get("/assistants").json()["data"][0]["id"]
        channel_id = http.get("/channels").json()["data"][0]["id"]
    shots = {page: page for page in PAGES}
    shots.update(
        {
            "mcp": f"mcps/{mcp_id}",
            "assistant": f"assistants/{assistant_id}",
            "conversation": f"conversations/{conversation}?identity=alice&channel={channel_id}",
            "playground": f"playground/{channel_id}",
        }
    )
    for width, suffix in ((1280, ""), (375, "-375")):
        context = browser.new_context(viewport={"width": width, "height": 900})
        page = context.new_page()
        sign_in(page, console)
        for name, where in shots.items():
            page.goto(f"{console.url}/#/{where}")
            page.locator("main h1").wait_for()
            page.locator("main .loading").wait_for(state="detached")
            _show_something(page, name, width)
            unlabelled = page.evaluate(UNLABELLED_CONTROLS)
            assert unlabelled == [], f"{where}: controls without a label: {unlabelled}"
            overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
            assert overflow <= 0, f"{where} scrolls sideways at {width}px"
            if suffix == "" or name in {"overview", "playground", "conversation", "mcp"}:
                page.screenshot(path=str(screenshot_dir / f"{name}{suffix}.png"), full_page=True)
        context.close()
    signed_out = browser.new_page(viewport={"width": 1280, "height": 700})
    signed_out.goto(console.url)
    signed_out.get_by_label("API key").wait_for()
    signed_out.screenshot(path=str(screenshot_dir / "sign-in.png"))
    signed_out.close()


@pytest.fixture
def hostile_server(console: Console) -> Any:
    """A function server whose description, results and errors hold markup."""
    mcp = MCP(name="hostile")

    @mcp.function(description=f"Echo {XSS['img']}")
    def echo_markup(text: str = "") -> dict[str, str]:
        """Return markup."""
        return {"script": XSS["script"], "img": XSS["img"], "text": text}

    @mcp.function
    def fail_with_markup() -> str:
        """Fail with markup in the error."""
        raise FunctionError(f"Refused {XSS['img']}")

    with serve_app(mcp.app) as url:
        yield url


def test_content_from_users_models_and_function_servers_stays_text(
    page: Any, console: Console, hostile_server: str
) -> None:
    with console.api() as http:
        mcp = http.post("/workspace/mcps", json={"name": f"Evil {XSS['script']}", "url": hostile_server}).json()["data"]
        assistant = http.post(
            "/assistant",
            json={"name": f"Bot {XSS['img']}", "instructions": "Use {{function.echo_markup(text)}}"},
        ).json()["data"]
        http.put(f"/assistant/{assistant['id']}/mcp/{mcp['id']}")
        channel = http.post("/channels", json={"name": f"xss {XSS['img']}", "assistant_id": assistant["id"]})
        channel_id = channel.json()["data"]["id"]
    sign_in(page, console, at=f"#/mcps/{mcp['id']}")
    expect_text(page.get_by_role("heading", level=1), XSS["script"])
    expect_text(page.locator("main"), XSS["img"])  # the tool's description, as text
    tool = page.get_by_role("region", name="echo_markup")
    tool.get_by_text("Try it").click()
    tool.get_by_label("text", exact=True).fill(XSS["img"])
    tool.get_by_role("button", name="Call echo_markup").click()
    expect_text(tool, "<script>window.__xss")
    failing = page.get_by_role("region", name="fail_with_markup")
    failing.get_by_text("Try it").click()
    failing.get_by_role("button", name="Call fail_with_markup").click()
    expect_text(failing, f"Refused {XSS['img']}")

    page.goto(f"{console.url}/#/playground/{channel_id}")
    page.get_by_label("Message").fill(f"echo_markup {XSS['img']}")
    page.get_by_role("button", name="Send").click()
    expect_text(page.get_by_role("log").locator(".bubble.user"), XSS["img"])
    expect_text(page.get_by_role("article", name="Function call echo_markup"), "window.__xss")
    expect_text(page.locator(".bubble.assistant").last, XSS["script"])  # the model's reply, as text
    for where in ["assistants", "channels", "conversations", f"mcps/{mcp['id']}"]:
        page.goto(f"{console.url}/#/{where}")
        page.locator("main h1").wait_for()
        page.locator("main .loading").wait_for(state="detached")
    assert page.locator("main img, main script").count() == 0
    no_script_ran(page)


def test_refresh_disable_enable_and_delete_a_function_server_with_a_confirmation(page: Any, console: Console) -> None:
    with console.api() as http:
        headers = [{"key": "Authorization", "value": f"Bearer {SHOP_TOKEN}"}]
        spare = http.post("/workspace/mcps", json={"name": "Spare", "url": console.shop_url, "headers": headers})
        mcp_id = spare.json()["data"]["id"]
    sign_in(page, console, at=f"#/mcps/{mcp_id}")
    page.get_by_role("button", name="Refresh tools").click()
    expect_text(page.locator("main"), "Tools (4)")
    page.get_by_role("button", name="Disable").click()
    page.get_by_role("button", name="Enable").wait_for()
    expect_text(page.locator("main dl"), "(disabled)")
    page.get_by_role("button", name="Enable").click()
    page.get_by_role("button", name="Disable").wait_for()
    page.get_by_role("button", name="Delete").click()
    page.get_by_role("dialog").get_by_role("button", name="Cancel").click()
    expect_text(page.get_by_role("heading", level=1), "Spare")
    page.get_by_role("button", name="Delete").click()
    page.get_by_role("dialog").get_by_role("button", name="Delete").click()
    page.get_by_role("link", name="Shop", exact=True).wait_for()
    assert page.get_by_role("link", name="Spare").count() == 0
    with console.api() as http:
        assert http.get(f"/workspace/mcps/{mcp_id}").status_code == 404
