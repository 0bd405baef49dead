"""The guide's CRM integration as an SDK server: four async functions calling a CRM over HTTP.

Run it against the stand-in CRM (:mod:`examples.crm.fake_crm`) or any CRM with the same API::

    python -m examples.crm.server --crm-url http://127.0.0.1:8001/v1 --crm-api-key crm-secret --port 5001

The API key can also come from the ``CRM_API_KEY`` environment variable (read when the command
starts, never on import).
"""

from __future__ import annotations

import argparse
import logging
import os
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from typing_extensions import TypedDict

from plati_mcp import MCP, Context, FunctionError

logger = logging.getLogger(__name__)

UNAVAILABLE = "CRM temporarily unavailable"
NOT_FOUND = "Customer not found in CRM"

CustomerId = Annotated[str, Field(description="The CRM customer id, e.g. CUST-001", min_length=1, max_length=64)]


# -- the CRM's wire format ------------------------------------------------------------------------


class _CRMModel(BaseModel):
    model_config = ConfigDict(extra="ignore")


_M = TypeVar("_M", bound=_CRMModel)


class CRMCustomer(_CRMModel):
    id: str
    name: str
    email: str
    phone: str | None = None
    tier: str | None = None
    total_spent: float = 0.0
    last_purchase_date: str | None = None
    open_tickets_count: int = 0


class CRMTicket(_CRMModel):
    id: str
    number: str
    status: str
    assigned_agent: str | None = None


class CRMNote(_CRMModel):
    id: str
    note_type: str
    created_at: str


class CRMCallback(_CRMModel):
    id: str
    scheduled_for: str
    status: str


# -- what the functions return -------------------------------------------------------------------


class CustomerProfile(TypedDict):
    customer_id: str
    name: str
    email: str
    phone: str | None
    tier: str | None
    total_spent: float
    last_purchase: str | None
    open_tickets: int


class TicketCreated(TypedDict):
    ticket_id: str
    ticket_number: str
    status: str
    assigned_to: str | None
    message: str


class NoteAdded(TypedDict):
    note_id: str
    customer_id: str
    note_type: str
    created_at: str


class CallbackScheduled(TypedDict):
    callback_id: str
    customer_id: str
    scheduled_for: str
    status: str


class CRMClient:
    """Calls the CRM API; turns its failures into :class:`FunctionError` the assistant can relay.

    A fresh ``httpx.AsyncClient`` per request keeps this independent of which event loop runs the
    function; every request is bounded by ``timeout`` seconds.
    """

    def __init__(self, base_url: str, api_key: str, *, timeout: float = 10.0) -> None:
        self.base_url = base_url.rstrip("/")
        self._api_key = api_key
        self.timeout = timeout

    async def request(
        self,
        method: str,
        path: str,
        *,
        json: dict[str, Any] | None = None,
        params: dict[str, str] | None = None,
        idempotency_key: str | None = None,
    ) -> httpx.Response:
        """Send one request; 404 and 422 answers are returned for the caller to interpret.

        Raises:
            FunctionError: the CRM is unreachable, timed out, failed (5xx) or refused our key.
        """
        headers = {"Authorization": f"Bearer {self._api_key}", "Accept": "application/json"}
        if idempotency_key:
            headers["Idempotency-Key"] = idempotency_key
        try:
            async with httpx.AsyncClient(base_url=self.base_url, timeout=self.timeout) as client:
                response = await client.request(method, path, json=json, params=params, headers=headers)
        except httpx.HTTPError as exc:
            logger.warning("CRM %s %s failed: %r", method, path, exc)
            raise FunctionError(UNAVAILABLE) from exc
        if response.status_code >= 500:
            logger.warning("CRM %s %s answered %s", method, path, response.status_code)
            raise FunctionError(UNAVAILABLE)
        if response.status_code in (401, 403):
            logger.error("CRM rejected this server's API key (%s on %s %s)", response.status_code, method, path)
            raise FunctionError("CRM rejected this server's credentials")
        return response


def _parse(model: type[_M], response: httpx.Response) -> _M:
    """Read a successful CRM answer, refusing anything that is not the documented shape."""
    try:
        return model.model_validate_json(response.content)
    except ValidationError as exc:
        logger.error("CRM sent an unexpected %s body: %s", model.__name__, exc)
        raise FunctionError(UNAVAILABLE) from exc


def _refusal(response: httpx.Response) -> FunctionError:
    """The error for a 4xx answer (other than auth): not found, or the CRM's own reason."""
    if response.status_code == 404:
        return FunctionError(NOT_FOUND)
    try:
        reason = str(response.json().get("error") or response.reason_phrase)
    except ValueError:
        reason = response.reason_phrase
    return FunctionError(f"CRM rejected the request: {reason}")


def _customer_path(customer_id: str) -> str:
    return f"/customers/{quote(customer_id, safe='')}"


def create_server(base_url: str, api_key: str, *, timeout: float = 10.0, **mcp_kwargs: Any) -> MCP:
    """The CRM function server for the CRM API at ``base_url`` (e.g. ``https://crm.example.com/v1``).

    Args:
        base_url: the CRM API root.
        api_key: sent to the CRM as a bearer token.
        timeout: seconds allowed for each CRM request.
        mcp_kwargs: passed to :class:`plati_mcp.MCP` (``auth_tokens=``, ``rate_limit=``, ...).
    """
    crm = CRMClient(base_url, api_key, timeout=timeout)
    mcp_kwargs.setdefault("version", "1.0.0")
    mcp = MCP(name="CRM", **mcp_kwargs)

    @mcp.function
    async def get_customer_profile(
        customer_id: Annotated[str | None, Field(description="The CRM customer id, e.g. CUST-001")] = None,
        email: Annotated[str | None, Field(description="The customer's email address")] = None,
    ) -> CustomerProfile:
        """Retrieve the complete customer profile from the CRM, by customer id or email."""
        if customer_id:
            response = await crm.request("GET", _customer_path(customer_id))
        elif email:
            response = await crm.request("GET", "/customers/search", params={"email": email})
        else:
            raise FunctionError("Give a customer_id or an email to look the customer up.")
        if response.status_code != 200:
            raise _refusal(response)
        customer = _parse(CRMCustomer, response)
        return {
            "customer_id": customer.id,
            "name": customer.name,
            "email": customer.email,
            "phone": customer.phone,
            "tier": customer.tier,
            "total_spent": customer.total_spent,
            "last_purchase": customer.last_purchase_date,
            "open_tickets": customer.open_tickets_count,
        }

    @mcp.function
    async def create_support_ticket(
        customer_id: CustomerId,
        title: Annotated[str, Field(description="A one-line summary", min_length=1, max_length=200)],
        description: Annotated[str, Field(description="What happened, in detail", min_length=1)],
        ctx: Context,
        priority: Literal["low", "medium", "high", "urgent"] = "medium",
    ) -> TicketCreated:
        """Create a new support ticket in the CRM."""
        payload = {
            "customer_id": customer_id,
            "title": title,
            "description": description,
            "priority": priority,
            "source": "ai_assistant",
            "external_ref": ctx.conversation_id,
        }
        response = await crm.request("POST", "/tickets", json=payload, idempotency_key=ctx.idempotency_key)
        if response.status_code != 201:
            raise _refusal(response)
        ticket = _parse(CRMTicket, response)
        return {
            "ticket_id": ticket.id,
            "ticket_number": ticket.number,
            "status": ticket.status,
            "assigned_to": ticket.assigned_agent,
            "message": "Support ticket created successfully",
        }

    @mcp.function
    async def update_customer_notes(
        customer_id: CustomerId,
        note: Annotated[str, Field(description="The note to add to the profile", min_length=1)],
        ctx: Context,
        note_type: Literal["general", "support", "sales"] = "general",
    ) -> NoteAdded:
        """Add a note to the customer's CRM profile."""
        response = await crm.request(
            "POST",
            f"{_customer_path(customer_id)}/notes",
            json={"note": note, "note_type": note_type},
            idempotency_key=ctx.idempotency_key,
        )
        if response.status_code != 201:
            raise _refusal(response)
        added = _parse(CRMNote, response)
        return {
            "note_id": added.id,
            "customer_id": customer_id,
            "note_type": added.note_type,
            "created_at": added.created_at,
        }

    @mcp.function
    async def schedule_callback(
        customer_id: CustomerId,
        preferred_time: Annotated[
            str,
            Field(description="When to call, ISO 8601 with a timezone, e.g. 2030-05-01T15:00:00+02:00"),
        ],
        ctx: Context,
        reason: Annotated[str | None, Field(description="What the call is about")] = None,
    ) -> CallbackScheduled:
        """Schedule a callback for the customer."""
        try:
            when = datetime.fromisoformat(preferred_time)
        except ValueError:
            raise FunctionError(
                f"preferred_time {preferred_time!r} is not an ISO 8601 date-time; use e.g. 2030-05-01T15:00:00+02:00."
            ) from None
        if when.tzinfo is None:
            raise FunctionError("preferred_time needs a timezone offset, e.g. 2030-05-01T15:00:00+02:00.")
        if when <= datetime.now(UTC):
            raise FunctionError(f"preferred_time {preferred_time} is in the past; pick a future time.")
        response = await crm.request(
            "POST",
            "/callbacks",
            json={"customer_id": customer_id, "preferred_time": when.isoformat(), "reason": reason},
            idempotency_key=ctx.idempotency_key,
        )
        if response.status_code != 201:
            raise _refusal(response)
        callback = _parse(CRMCallback, response)
        return {
            "callback_id": callback.id,
            "customer_id": customer_id,
            "scheduled_for": callback.scheduled_for,
            "status": callback.status,
        }

    return mcp


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Serve the CRM example functions.")
    parser.add_argument("--crm-url", required=True, help="the CRM API root, e.g. http://127.0.0.1:8001/v1")
    parser.add_argument(
        "--crm-api-key", default=os.environ.get("CRM_API_KEY"), help="CRM API key (default: $CRM_API_KEY)"
    )
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds per CRM request")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5001)
    parser.add_argument("--token", action="append", help="accept this bearer token from callers (repeatable)")
    args = parser.parse_args(argv)
    if not args.crm_api_key:
        parser.error("--crm-api-key (or CRM_API_KEY) is required")
    logging.basicConfig(level=logging.INFO)
    mcp = create_server(args.crm_url, args.crm_api_key, timeout=args.timeout, auth_tokens=args.token)
    mcp.run(host=args.host, port=args.port)


if __name__ == "__main__":
    main()
