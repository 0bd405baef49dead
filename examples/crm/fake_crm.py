"""A small CRM HTTP service standing in for the third-party CRM of the guide's example.

It speaks the JSON API the CRM function server calls (under ``/v1``), checks the bearer API key,
honours ``Idempotency-Key`` on creates and keeps its data in SQLite::

    python -m examples.crm.fake_crm --db crm.db --api-key crm-secret --port 8001
"""

from __future__ import annotations

import argparse
import json
import secrets
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route

SCHEMA = """
CREATE TABLE IF NOT EXISTS customers (
    id                 TEXT PRIMARY KEY,
    name               TEXT NOT NULL,
    email              TEXT NOT NULL UNIQUE COLLATE NOCASE,
    phone              TEXT,
    tier               TEXT NOT NULL,
    total_spent        REAL NOT NULL DEFAULT 0,
    last_purchase_date TEXT
);
CREATE TABLE IF NOT EXISTS tickets (
    seq             INTEGER PRIMARY KEY AUTOINCREMENT,
    id              TEXT NOT NULL UNIQUE,
    customer_id     TEXT NOT NULL REFERENCES customers (id),
    title           TEXT NOT NULL,
    description     TEXT NOT NULL,
    priority        TEXT NOT NULL,
    status          TEXT NOT NULL,
    assigned_agent  TEXT NOT NULL,
    source          TEXT,
    external_ref    TEXT,
    created_at      TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS notes (
    id          TEXT PRIMARY KEY,
    customer_id TEXT NOT NULL REFERENCES customers (id),
    note        TEXT NOT NULL,
    note_type   TEXT NOT NULL,
    created_at  TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS callbacks (
    id             TEXT PRIMARY KEY,
    customer_id    TEXT NOT NULL REFERENCES customers (id),
    scheduled_for  TEXT NOT NULL,
    reason         TEXT,
    status         TEXT NOT NULL,
    created_at     TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS idempotency (
    key        TEXT NOT NULL,
    endpoint   TEXT NOT NULL,
    response   TEXT NOT NULL,
    PRIMARY KEY (key, endpoint)
);
"""

SAMPLE_CUSTOMERS = [
    ("CUST-001", "Alice Johnson", "alice@example.com", "+1-555-0101", "gold", 2480.50, "2024-01-12"),
    ("CUST-002", "Bob Smith", "bob@example.com", "+1-555-0102", "silver", 612.99, "2024-01-02"),
    ("CUST-003", "Carol Diaz", "carol@example.com", None, "bronze", 164.89, "2023-11-22"),
]

PRIORITIES = ("low", "medium", "high", "urgent")
NOTE_TYPES = ("general", "support", "sales")
MAX_NOTE_LENGTH = 2000


class Rejected(Exception):
    """The request is well-formed JSON but the CRM refuses it (422, or 404 for unknown customers)."""

    def __init__(self, status_code: int, message: str) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.message = message


class CRMStore:
    """The CRM's data in a SQLite file; each method is one transaction on its own connection."""

    def __init__(self, db_path: str | Path) -> None:
        self.db_path = Path(db_path)
        with self._transaction() as conn:
            conn.executescript(SCHEMA)
            conn.executemany("INSERT OR IGNORE INTO customers VALUES (?, ?, ?, ?, ?, ?, ?)", SAMPLE_CUSTOMERS)

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        conn = sqlite3.connect(self.db_path, timeout=10.0)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA foreign_keys = ON")
        try:
            with conn:  # commits, or rolls back on error
                yield conn
        finally:
            conn.close()

    def customer(self, *, customer_id: str | None = None, email: str | None = None) -> dict[str, Any]:
        with self._transaction() as conn:
            column, value = ("id", customer_id) if customer_id is not None else ("email", email)
            row = conn.execute(f"SELECT * FROM customers WHERE {column} = ?", (value,)).fetchone()
            if row is None:
                raise Rejected(404, "customer not found")
            (open_tickets,) = conn.execute(
                "SELECT COUNT(*) FROM tickets WHERE customer_id = ? AND status = 'open'", (row["id"],)
            ).fetchone()
        return {**dict(row), "open_tickets_count": open_tickets}

    def idempotent(self, key: str | None, endpoint: str, create: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        """Run ``create`` once per idempotency key; a repeat gets the first answer back."""
        if key is not None:
            with self._transaction() as conn:
                row = conn.execute(
                    "SELECT response FROM idempotency WHERE key = ? AND endpoint = ?", (key, endpoint)
                ).fetchone()
            if row is not None:
                stored: dict[str, Any] = json.loads(row["response"])
                return stored
        created = create()
        if key is not None:
            with self._transaction() as conn:
                conn.execute("INSERT OR IGNORE INTO idempotency VALUES (?, ?, ?)", (key, endpoint, json.dumps(created)))
        return created

    def create_ticket(self, payload: dict[str, Any]) -> dict[str, Any]:
        customer_id = _text(payload, "customer_id")
        title = _text(payload, "title")
        description = _text(payload, "description")
        priority = payload.get("priority", "medium")
        if priority not in PRIORITIES:
            raise Rejected(422, f"priority must be one of {', '.join(PRIORITIES)}")
        agent = "Tier 2 Support" if priority in ("high", "urgent") else "Tier 1 Support"
        with self._transaction() as conn:
            _require_customer(conn, customer_id)
            ticket_id = f"tck_{secrets.token_hex(6)}"
            cursor = conn.execute(
                """INSERT INTO tickets (id, customer_id, title, description, priority, status,
                                        assigned_agent, source, external_ref, created_at)
                   VALUES (?, ?, ?, ?, ?, 'open', ?, ?, ?, ?)""",
                (
                    ticket_id,
                    customer_id,
                    title,
                    description,
                    priority,
                    agent,
                    payload.get("source"),
                    payload.get("external_ref"),
                    _now(),
                ),
            )
            number = f"TCK-{cursor.lastrowid:05d}"
        return {
            "id": ticket_id,
            "number": number,
            "customer_id": customer_id,
            "title": title,
            "priority": priority,
            "status": "open",
            "assigned_agent": agent,
        }

    def add_note(self, customer_id: str, payload: dict[str, Any]) -> dict[str, Any]:
        note = _text(payload, "note")
        if len(note) > MAX_NOTE_LENGTH:
            raise Rejected(422, f"note is longer than {MAX_NOTE_LENGTH} characters")
        note_type = payload.get("note_type", "general")
        if note_type not in NOTE_TYPES:
            raise Rejected(422, f"note_type must be one of {', '.join(NOTE_TYPES)}")
        note_id, created_at = f"note_{secrets.token_hex(6)}", _now()
        with self._transaction() as conn:
            _require_customer(conn, customer_id)
            conn.execute(
                "INSERT INTO notes VALUES (?, ?, ?, ?, ?)",
                (note_id, customer_id, note, note_type, created_at),
            )
        return {"id": note_id, "customer_id": customer_id, "note_type": note_type, "created_at": created_at}

    def schedule_callback(self, payload: dict[str, Any]) -> dict[str, Any]:
        customer_id = _text(payload, "customer_id")
        try:
            when = datetime.fromisoformat(_text(payload, "preferred_time"))
        except ValueError:
            raise Rejected(422, "preferred_time must be an ISO 8601 date-time") from None
        if when.tzinfo is None:
            raise Rejected(422, "preferred_time must include a timezone offset")
        if when <= datetime.now(UTC):
            raise Rejected(422, "preferred_time must be in the future")
        callback_id = f"cb_{secrets.token_hex(6)}"
        scheduled_for = when.astimezone(UTC).isoformat(timespec="seconds")
        reason = payload.get("reason")
        with self._transaction() as conn:
            _require_customer(conn, customer_id)
            conn.execute(
                "INSERT INTO callbacks VALUES (?, ?, ?, ?, 'scheduled', ?)",
                (callback_id, customer_id, scheduled_for, reason, _now()),
            )
        return {
            "id": callback_id,
            "customer_id": customer_id,
            "scheduled_for": scheduled_for,
            "reason": reason,
            "status": "scheduled",
        }

    def count(self, table: str) -> int:
        """Rows in one of the CRM's tables (for tests and operators)."""
        if table not in ("tickets", "notes", "callbacks"):
            raise ValueError(f"unknown table {table!r}")
        with self._transaction() as conn:
            (rows,) = conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()
        return int(rows)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _text(payload: dict[str, Any], key: str) -> str:
    value = payload.get(key)
    if not isinstance(value, str) or not value.strip():
        raise Rejected(422, f"{key} is required")
    return value


def _require_customer(conn: sqlite3.Connection, customer_id: str) -> None:
    if conn.execute("SELECT 1 FROM customers WHERE id = ?", (customer_id,)).fetchone() is None:
        raise Rejected(404, "customer not found")


class BearerKey(BaseHTTPMiddleware):
    def __init__(self, app: Any, api_key: str) -> None:
        super().__init__(app)
        self._expected = f"Bearer {api_key}"

    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        given = request.headers.get("authorization", "")
        if not secrets.compare_digest(given.encode(), self._expected.encode()):
            return JSONResponse({"error": "invalid API key"}, status_code=401)
        return await call_next(request)


def create_app(db_path: str | Path, api_key: str) -> Starlette:
    """The CRM API over the SQLite file at ``db_path`` (created and seeded if new)."""
    store = CRMStore(db_path)

    async def run(work: Callable[[], dict[str, Any]], status_code: int = 200) -> JSONResponse:
        try:
            result = await run_in_threadpool(work)
        except Rejected as exc:
            return JSONResponse({"error": exc.message}, status_code=exc.status_code)
        return JSONResponse(result, status_code=status_code)

    async def body(request: Request) -> dict[str, Any] | JSONResponse:
        try:
            payload = await request.json()
        except ValueError:
            return JSONResponse({"error": "body must be JSON"}, status_code=400)
        if not isinstance(payload, dict):
            return JSONResponse({"error": "body must be a JSON object"}, status_code=400)
        return payload

    async def get_customer(request: Request) -> JSONResponse:
        customer_id = request.path_params["customer_id"]
        return await run(lambda: store.customer(customer_id=customer_id))

    async def search_customers(request: Request) -> JSONResponse:
        email = request.query_params.get("email")
        if not email:
            return JSONResponse({"error": "email query parameter is required"}, status_code=400)
        return await run(lambda: store.customer(email=email))

    async def create_ticket(request: Request) -> JSONResponse:
        payload = await body(request)
        if isinstance(payload, JSONResponse):
            return payload
        key = request.headers.get("idempotency-key")
        return await run(lambda: store.idempotent(key, "tickets", lambda: store.create_ticket(payload)), 201)

    async def add_note(request: Request) -> JSONResponse:
        payload = await body(request)
        if isinstance(payload, JSONResponse):
            return payload
        customer_id = request.path_params["customer_id"]
        key = request.headers.get("idempotency-key")
        return await run(lambda: store.idempotent(key, "notes", lambda: store.add_note(customer_id, payload)), 201)

    async def create_callback(request: Request) -> JSONResponse:
        payload = await body(request)
        if isinstance(payload, JSONResponse):
            return payload
        key = request.headers.get("idempotency-key")
        return await run(lambda: store.idempotent(key, "callbacks", lambda: store.schedule_callback(payload)), 201)

    api = [
        Route("/customers/search", search_customers, methods=["GET"]),
        Route("/customers/{customer_id}", get_customer, methods=["GET"]),
        Route("/customers/{customer_id}/notes", add_note, methods=["POST"]),
        Route("/tickets", create_ticket, methods=["POST"]),
        Route("/callbacks", create_callback, methods=["POST"]),
    ]
    app = Starlette(routes=[Mount("/v1", routes=api)], middleware=[Middleware(BearerKey, api_key=api_key)])
    app.state.store = store
    return app


def main(argv: list[str] | None = None) -> None:
    import uvicorn

    parser = argparse.ArgumentParser(description="Serve the stand-in CRM API.")
    parser.add_argument("--db", default="crm.db", help="SQLite file (created with sample customers if new)")
    parser.add_argument("--api-key", required=True, help="the bearer key clients must send")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001)
    args = parser.parse_args(argv)
    uvicorn.run(create_app(args.db, args.api_key), host=args.host, port=args.port)


if __name__ == "__main__":
    main()
