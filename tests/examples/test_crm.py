"""The CRM example (examples/crm): the function server calling a real CRM served on loopback."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import anyio.to_thread
import httpx
import pytest
from examples.crm.fake_crm import CRMStore, create_app
from examples.crm.server import create_server
from examples.serving import serve_in_thread
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from plati_mcp import FunctionTestClient

from .support import free_port, running_module, wait_until_serving

API_KEY = "crm-test-key"
CEST = timezone(timedelta(hours=2))


@pytest.fixture
def crm(tmp_path: Path) -> Iterator[tuple[str, CRMStore]]:
    """The stand-in CRM on a loopback port: its API root and its store."""
    app = create_app(tmp_path / "crm.db", API_KEY)
    with serve_in_thread(app) as base_url:
        yield f"{base_url}/v1", app.state.store


@pytest.fixture
def client(crm: tuple[str, CRMStore]) -> Iterator[FunctionTestClient]:
    with create_server(crm[0], API_KEY, timeout=5.0).test_client() as test_client:
        yield test_client


def in_days(days: int) -> str:
    """A time ``days`` from now, written with a +02:00 offset as a user in Europe would give it."""
    return (datetime.now(CEST) + timedelta(days=days)).replace(microsecond=0).isoformat()


# -- get_customer_profile ---------------------------------------------------------------------


def test_get_customer_profile_by_id_returns_the_crm_profile(client: FunctionTestClient) -> None:
    response = client.call("get_customer_profile", {"customer_id": "CUST-001"})
    assert response.success, response.body
    assert response.data == {
        "customer_id": "CUST-001",
        "name": "Alice Johnson",
        "email": "alice@example.com",
        "phone": "+1-555-0101",
        "tier": "gold",
        "total_spent": 2480.5,
        "last_purchase": "2024-01-12",
        "open_tickets": 0,
    }


def test_get_customer_profile_by_email_finds_the_customer(client: FunctionTestClient) -> None:
    response = client.call("get_customer_profile", {"email": "Bob@Example.com"})
    assert response.data["customer_id"] == "CUST-002"


def test_an_email_with_query_characters_is_sent_encoded(client: FunctionTestClient) -> None:
    response = client.call("get_customer_profile", {"email": "alice@example.com&email=bob@example.com"})
    assert response.error == "Customer not found in CRM"


def test_an_unknown_customer_is_not_found_in_the_crm(client: FunctionTestClient) -> None:
    response = client.call("get_customer_profile", {"customer_id": "CUST-404"})
    assert (response.status_code, response.body) == (200, {"success": False, "error": "Customer not found in CRM"})


def test_a_profile_lookup_needs_an_id_or_an_email(client: FunctionTestClient) -> None:
    response = client.call("get_customer_profile", {})
    assert response.error == "Give a customer_id or an email to look the customer up."


# -- create_support_ticket --------------------------------------------------------------------


def test_create_support_ticket_opens_a_ticket_in_the_crm(client: FunctionTestClient) -> None:
    response = client.call(
        "create_support_ticket",
        {
            "customer_id": "CUST-001",
            "title": "Refund missing",
            "description": "Refund not received",
            "priority": "high",
        },
        headers={"X-Plati-Conversation": "conv-1"},
    )
    assert response.success, response.body
    ticket = response.data
    assert ticket["ticket_number"].startswith("TCK-")
    assert (ticket["status"], ticket["assigned_to"]) == ("open", "Tier 2 Support")
    profile = client.call("get_customer_profile", {"customer_id": "CUST-001"})
    assert profile.data["open_tickets"] == 1


def test_a_ticket_without_a_priority_is_medium(client: FunctionTestClient) -> None:
    response = client.call("create_support_ticket", {"customer_id": "CUST-002", "title": "Hi", "description": "Hello"})
    assert response.data["assigned_to"] == "Tier 1 Support"


def test_a_ticket_with_an_unknown_priority_is_refused_naming_the_field(client: FunctionTestClient) -> None:
    response = client.call(
        "create_support_ticket", {"customer_id": "CUST-001", "title": "t", "description": "d", "priority": "asap"}
    )
    assert response.status_code == 400
    assert [detail["field"] for detail in response.details] == ["priority"]


def test_a_ticket_for_an_unknown_customer_is_not_found(client: FunctionTestClient, crm: tuple[str, CRMStore]) -> None:
    response = client.call("create_support_ticket", {"customer_id": "CUST-404", "title": "t", "description": "d"})
    assert response.error == "Customer not found in CRM"
    assert crm[1].count("tickets") == 0


def test_a_retried_ticket_call_creates_one_ticket(client: FunctionTestClient, crm: tuple[str, CRMStore]) -> None:
    arguments = {"customer_id": "CUST-001", "title": "Broken", "description": "It broke"}
    headers = {"Idempotency-Key": "call-123"}
    first = client.call("create_support_ticket", arguments, headers=headers)
    retry = client.call("create_support_ticket", arguments, headers=headers)
    assert retry.data == first.data
    assert crm[1].count("tickets") == 1


# -- update_customer_notes --------------------------------------------------------------------


def test_update_customer_notes_adds_a_typed_note(client: FunctionTestClient, crm: tuple[str, CRMStore]) -> None:
    response = client.call(
        "update_customer_notes", {"customer_id": "CUST-003", "note": "Prefers email", "note_type": "sales"}
    )
    assert response.success, response.body
    assert (response.data["customer_id"], response.data["note_type"]) == ("CUST-003", "sales")
    assert crm[1].count("notes") == 1


def test_a_note_of_an_unknown_type_is_refused_naming_the_field(client: FunctionTestClient) -> None:
    response = client.call("update_customer_notes", {"customer_id": "CUST-003", "note": "x", "note_type": "gossip"})
    assert response.status_code == 400
    assert [detail["field"] for detail in response.details] == ["note_type"]


def test_the_crms_own_refusal_reaches_the_caller(client: FunctionTestClient) -> None:
    response = client.call("update_customer_notes", {"customer_id": "CUST-003", "note": "x" * 2001})
    assert response.error == "CRM rejected the request: note is longer than 2000 characters"


def test_a_note_for_an_unknown_customer_is_not_found(client: FunctionTestClient) -> None:
    response = client.call("update_customer_notes", {"customer_id": "CUST-404", "note": "Hello"})
    assert response.error == "Customer not found in CRM"


# -- schedule_callback ------------------------------------------------------------------------


def test_schedule_callback_books_a_future_time(client: FunctionTestClient, crm: tuple[str, CRMStore]) -> None:
    when = in_days(2)
    response = client.call(
        "schedule_callback", {"customer_id": "CUST-002", "preferred_time": when, "reason": "Billing question"}
    )
    assert response.success, response.body
    assert response.data["status"] == "scheduled"
    assert datetime.fromisoformat(response.data["scheduled_for"]) == datetime.fromisoformat(when)
    assert crm[1].count("callbacks") == 1


def test_a_callback_in_the_past_is_refused(client: FunctionTestClient, crm: tuple[str, CRMStore]) -> None:
    when = in_days(-1)
    response = client.call("schedule_callback", {"customer_id": "CUST-002", "preferred_time": when})
    assert response.error == f"preferred_time {when} is in the past; pick a future time."
    assert crm[1].count("callbacks") == 0


@pytest.mark.parametrize("preferred_time", ["tomorrow at 3pm", "2030-05-01T15:00:00"])
def test_a_callback_time_that_is_not_iso_8601_with_a_timezone_is_refused(
    client: FunctionTestClient, preferred_time: str
) -> None:
    response = client.call("schedule_callback", {"customer_id": "CUST-002", "preferred_time": preferred_time})
    assert response.success is False
    assert response.error is not None
    assert "preferred_time" in response.error


def test_a_callback_without_a_time_is_refused_naming_the_field(client: FunctionTestClient) -> None:
    response = client.call("schedule_callback", {"customer_id": "CUST-002"})
    assert response.status_code == 400
    assert [detail["field"] for detail in response.details] == ["preferred_time"]


def test_a_callback_for_an_unknown_customer_is_not_found(client: FunctionTestClient) -> None:
    response = client.call("schedule_callback", {"customer_id": "CUST-404", "preferred_time": in_days(1)})
    assert response.error == "Customer not found in CRM"


# -- the CRM failing --------------------------------------------------------------------------


def test_an_unreachable_crm_is_reported_as_temporarily_unavailable() -> None:
    with create_server(f"http://127.0.0.1:{free_port()}/v1", API_KEY, timeout=2.0).test_client() as client:
        response = client.call("get_customer_profile", {"customer_id": "CUST-001"})
    assert (response.status_code, response.body) == (200, {"success": False, "error": "CRM temporarily unavailable"})


def test_a_crm_answering_5xx_is_reported_as_temporarily_unavailable() -> None:
    async def broken(request: Request) -> JSONResponse:
        return JSONResponse({"error": "database down"}, status_code=503)

    failing_crm = Starlette(routes=[Route("/v1/{path:path}", broken, methods=["GET", "POST"])])
    with serve_in_thread(failing_crm) as base_url, create_server(f"{base_url}/v1", API_KEY).test_client() as client:
        profile = client.call("get_customer_profile", {"customer_id": "CUST-001"})
        ticket = client.call("create_support_ticket", {"customer_id": "CUST-001", "title": "t", "description": "d"})
    assert profile.error == ticket.error == "CRM temporarily unavailable"


def test_a_crm_slower_than_the_timeout_is_reported_as_temporarily_unavailable() -> None:
    release = threading.Event()

    async def stuck(request: Request) -> JSONResponse:
        await anyio.to_thread.run_sync(release.wait, 10.0)
        return JSONResponse({}, status_code=200)

    slow_crm = Starlette(routes=[Route("/v1/{path:path}", stuck)])
    with serve_in_thread(slow_crm) as base_url:
        try:
            with create_server(f"{base_url}/v1", API_KEY, timeout=0.2).test_client() as client:
                response = client.call("get_customer_profile", {"customer_id": "CUST-001"})
        finally:
            release.set()
    assert response.error == "CRM temporarily unavailable"


def test_a_crm_answer_in_an_unexpected_shape_is_reported_as_unavailable() -> None:
    async def odd(request: Request) -> JSONResponse:
        return JSONResponse({"unexpected": True})

    odd_crm = Starlette(routes=[Route("/v1/{path:path}", odd)])
    with serve_in_thread(odd_crm) as base_url, create_server(f"{base_url}/v1", API_KEY).test_client() as client:
        response = client.call("get_customer_profile", {"customer_id": "CUST-001"})
    assert response.error == "CRM temporarily unavailable"


def test_a_wrong_crm_api_key_is_reported_without_revealing_it(crm: tuple[str, CRMStore]) -> None:
    with create_server(crm[0], "wrong-key").test_client() as client:
        response = client.call("get_customer_profile", {"customer_id": "CUST-001"})
    assert response.error == "CRM rejected this server's credentials"
    assert "wrong-key" not in str(response.body)


def test_the_fake_crm_refuses_requests_without_the_api_key(crm: tuple[str, CRMStore]) -> None:
    response = httpx.get(f"{crm[0]}/customers/CUST-001", timeout=5.0)
    assert response.status_code == 401


def test_the_crm_commands_serve_the_crm_and_the_function_server(tmp_path: Path) -> None:
    crm_port, server_port = free_port(), free_port()
    crm_url = f"http://127.0.0.1:{crm_port}"
    server_url = f"http://127.0.0.1:{server_port}"
    crm_command = ("examples.crm.fake_crm", "--db", str(tmp_path / "crm.db"), "--api-key", API_KEY)
    server_command = ("examples.crm.server", "--crm-url", f"{crm_url}/v1", "--crm-api-key", API_KEY)
    with (
        running_module(*crm_command, "--port", str(crm_port)) as crm_process,
        running_module(*server_command, "--port", str(server_port)) as server_process,
    ):
        wait_until_serving(server_url, server_process)
        profile = None
        for _attempt in range(600):  # the CRM may still be starting: at most ~30 s
            if crm_process.poll() is not None:
                break
            profile = httpx.post(
                f"{server_url}/call",
                json={"name": "get_customer_profile", "arguments": {"email": "carol@example.com"}},
                timeout=5.0,
            ).json()
            if profile.get("success"):
                break
            time.sleep(0.05)
    assert profile is not None
    assert profile["data"]["customer_id"] == "CUST-003"
