"""The e-commerce example's SQLite database: schema, sample data and connections.

``python -m examples.ecommerce.db --db orders.db`` creates (or tops up) the database. Running it
again changes nothing: tables are created if missing and sample rows are inserted only once.
"""

from __future__ import annotations

import argparse
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS customers (
    customer_id TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    email       TEXT NOT NULL UNIQUE,
    tier        TEXT NOT NULL CHECK (tier IN ('bronze', 'silver', 'gold')),
    created_at  TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS products (
    product_id TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    category   TEXT NOT NULL,
    price      REAL NOT NULL CHECK (price >= 0),
    in_stock   INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX IF NOT EXISTS products_category ON products (category);

CREATE TABLE IF NOT EXISTS orders (
    order_id           TEXT PRIMARY KEY,
    customer_id        TEXT NOT NULL REFERENCES customers (customer_id),
    status             TEXT NOT NULL
                       CHECK (status IN ('processing', 'shipped', 'delivered', 'completed', 'cancelled')),
    tracking_number    TEXT,
    estimated_delivery TEXT,
    total_amount       REAL NOT NULL,
    created_at         TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS orders_customer ON orders (customer_id);

CREATE TABLE IF NOT EXISTS order_items (
    order_id   TEXT NOT NULL REFERENCES orders (order_id),
    product_id TEXT NOT NULL REFERENCES products (product_id),
    quantity   INTEGER NOT NULL CHECK (quantity > 0),
    unit_price REAL NOT NULL,
    PRIMARY KEY (order_id, product_id)
);

CREATE TABLE IF NOT EXISTS returns (
    return_id  TEXT PRIMARY KEY,
    order_id   TEXT NOT NULL REFERENCES orders (order_id),
    reason     TEXT NOT NULL,
    items      TEXT NOT NULL DEFAULT '[]',  -- JSON list of product ids; empty means the whole order
    status     TEXT NOT NULL CHECK (status IN ('pending', 'approved', 'rejected', 'completed')),
    created_at TEXT NOT NULL
);
-- At most one open return per order, even when two requests race.
CREATE UNIQUE INDEX IF NOT EXISTS returns_one_open_per_order
    ON returns (order_id) WHERE status IN ('pending', 'approved');

CREATE TABLE IF NOT EXISTS discount_codes (
    code          TEXT PRIMARY KEY,
    description   TEXT NOT NULL,
    discount_type TEXT NOT NULL CHECK (discount_type IN ('percent', 'fixed')),
    amount        REAL NOT NULL CHECK (amount > 0),
    expires_at    TEXT,     -- ISO 8601 UTC; NULL never expires
    max_uses      INTEGER   -- across all customers; NULL is unlimited
);

CREATE TABLE IF NOT EXISTS customer_discounts (
    customer_id TEXT NOT NULL REFERENCES customers (customer_id),
    code        TEXT NOT NULL REFERENCES discount_codes (code),
    applied_at  TEXT NOT NULL,
    PRIMARY KEY (customer_id, code)
);

CREATE TABLE IF NOT EXISTS refunds (
    refund_id       TEXT PRIMARY KEY,
    order_id        TEXT NOT NULL REFERENCES orders (order_id),
    amount          REAL NOT NULL CHECK (amount > 0),
    reason          TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('processed', 'failed')),
    idempotency_key TEXT UNIQUE,
    created_at      TEXT NOT NULL
);
"""

CUSTOMERS = [
    ("CUST-001", "Alice Johnson", "alice@example.com", "gold", "2023-02-11T09:30:00+00:00"),
    ("CUST-002", "Bob Smith", "bob@example.com", "silver", "2023-05-20T14:00:00+00:00"),
    ("CUST-003", "Carol Diaz", "carol@example.com", "bronze", "2023-08-02T17:45:00+00:00"),
    ("CUST-004", "Dan Okafor", "dan@example.com", "bronze", "2024-01-03T08:15:00+00:00"),
]

PRODUCTS = [
    ("P-101", "Wireless Headphones", "electronics", 129.99),
    ("P-102", "USB-C Charger 65W", "electronics", 39.99),
    ("P-103", "Bluetooth Speaker", "electronics", 79.50),
    ("P-104", "E-Reader", "electronics", 119.00),
    ("P-105", "Smart Watch", "electronics", 199.00),
    ("P-201", "The Pragmatic Programmer", "books", 42.00),
    ("P-202", "Designing Data-Intensive Applications", "books", 48.50),
    ("P-203", "Cooking for Engineers", "books", 24.95),
    ("P-204", "A Field Guide to Birds", "books", 19.99),
    ("P-301", "Cast Iron Skillet", "home", 34.90),
    ("P-302", "Pour-Over Coffee Set", "home", 45.00),
    ("P-303", "Linen Throw Blanket", "home", 59.00),
    ("P-401", "Trail Running Shoes", "outdoor", 110.00),
    ("P-402", "Two-Person Tent", "outdoor", 189.00),
    ("P-403", "Insulated Water Bottle", "outdoor", 27.50),
]

# order_id, customer_id, status, tracking_number, estimated_delivery, created_at, [(product, quantity)]
ORDERS = [
    (
        "ORD-001",
        "CUST-001",
        "shipped",
        "1Z999AA1234567890",
        "2024-01-18",
        "2024-01-10T10:12:00+00:00",
        [("P-101", 1), ("P-201", 1)],
    ),
    (
        "ORD-002",
        "CUST-001",
        "processing",
        None,
        "2024-01-22",
        "2024-01-12T16:40:00+00:00",
        [("P-302", 1), ("P-203", 2)],
    ),
    (
        "ORD-003",
        "CUST-002",
        "delivered",
        "1Z999AA1234567891",
        "2024-01-09",
        "2024-01-02T11:05:00+00:00",
        [("P-401", 1), ("P-403", 2)],
    ),
    ("ORD-004", "CUST-003", "cancelled", None, None, "2024-01-05T09:00:00+00:00", [("P-105", 1)]),
    (
        "ORD-005",
        "CUST-002",
        "delivered",
        "1Z999AA1234567892",
        "2023-12-20",
        "2023-12-14T13:30:00+00:00",
        [("P-102", 1), ("P-202", 1)],
    ),
    (
        "ORD-006",
        "CUST-003",
        "completed",
        "1Z999AA1234567893",
        "2023-11-30",
        "2023-11-22T19:20:00+00:00",
        [("P-301", 1), ("P-101", 1)],
    ),
]

# code, description, type, amount, expires_at, max_uses
DISCOUNT_CODES = [
    ("WELCOME10", "10% off your next order", "percent", 10.0, None, None),
    ("SAVE20", "20% off, spring promotion", "percent", 20.0, "2099-12-31T23:59:59+00:00", None),
    ("SUMMER2020", "15% off, summer 2020 sale", "percent", 15.0, "2020-09-01T00:00:00+00:00", None),
    ("VIP50", "$50 off, one customer only", "fixed", 50.0, None, 1),
]

# An already-redeemed code, so "already used" is visible in the sample data.
CUSTOMER_DISCOUNTS = [("CUST-002", "WELCOME10", "2023-12-14T13:25:00+00:00")]


def connect(db_path: str | Path) -> sqlite3.Connection:
    """Open a connection in autocommit mode (transactions are explicit) with foreign keys on."""
    conn = sqlite3.connect(db_path, timeout=10.0, isolation_level=None)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA foreign_keys = ON")
    return conn


@contextmanager
def transaction(db_path: str | Path, *, write: bool = False) -> Iterator[sqlite3.Connection]:
    """One connection, one transaction: committed on success, rolled back on error, then closed.

    ``write=True`` takes the write lock up front (``BEGIN IMMEDIATE``) so that a check followed by
    an insert cannot interleave with another writer doing the same.
    """
    conn = connect(db_path)
    try:
        conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
    finally:
        conn.close()


def create_database(path: str | Path) -> None:
    """Create the schema and the sample data in the SQLite file at ``path`` (idempotent)."""
    conn = connect(path)
    try:
        conn.execute("PRAGMA journal_mode = WAL")  # readers do not block the writer (kept in the file)
        conn.executescript(SCHEMA)
        conn.execute("BEGIN IMMEDIATE")
        try:
            _insert_sample_data(conn)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
    finally:
        conn.close()


def _insert_sample_data(conn: sqlite3.Connection) -> None:
    conn.executemany("INSERT OR IGNORE INTO customers VALUES (?, ?, ?, ?, ?)", CUSTOMERS)
    conn.executemany("INSERT OR IGNORE INTO products (product_id, name, category, price) VALUES (?, ?, ?, ?)", PRODUCTS)
    prices = {product_id: price for product_id, _name, _category, price in PRODUCTS}
    for order_id, customer_id, status, tracking, delivery, created_at, items in ORDERS:
        total = round(sum(prices[product_id] * quantity for product_id, quantity in items), 2)
        inserted = conn.execute(
            "INSERT OR IGNORE INTO orders VALUES (?, ?, ?, ?, ?, ?, ?)",
            (order_id, customer_id, status, tracking, delivery, total, created_at),
        ).rowcount
        if inserted:
            conn.executemany(
                "INSERT INTO order_items VALUES (?, ?, ?, ?)",
                [(order_id, product_id, quantity, prices[product_id]) for product_id, quantity in items],
            )
    conn.executemany("INSERT OR IGNORE INTO discount_codes VALUES (?, ?, ?, ?, ?, ?)", DISCOUNT_CODES)
    conn.executemany("INSERT OR IGNORE INTO customer_discounts VALUES (?, ?, ?)", CUSTOMER_DISCOUNTS)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Create the e-commerce example database.")
    parser.add_argument("--db", default="orders.db", help="SQLite file to create (default: orders.db)")
    args = parser.parse_args(argv)
    create_database(args.db)
    print(f"Database ready: {Path(args.db).resolve()}")


if __name__ == "__main__":
    main()
