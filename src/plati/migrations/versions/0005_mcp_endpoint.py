"""The URL that detection chose for a ``transport: "http"`` MCP (``mcp_servers.endpoint``): the
registered URL itself, or its parent when a URL ending in ``/mcp`` serves the simple protocol at
the root (the guide's registration body against the guide's own server).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("mcp_servers") as batch:
        batch.add_column(sa.Column("endpoint", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("mcp_servers") as batch:
        batch.drop_column("endpoint")
