"""Initial schema: workspaces, API keys, MCP servers and their cached tools, assistants, channels.

Revision ID: 0001
Revises:
Create Date: 2026-11-23

Written against the models of ``plati.store.models`` at this revision, but self-contained: a
migration never imports the models, which keep changing after it.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None


def _id(name: str = "id") -> sa.Column[str]:
    return sa.Column(name, sa.String(length=64), nullable=False)


def _ts(name: str, *, nullable: bool = False) -> sa.Column[datetime]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _workspace_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["workspace_id"], ["workspaces.id"], name=op.f(f"fk_{table}_workspace_id_workspaces"), ondelete="CASCADE"
    )


def _workspace_index(table: str) -> None:
    op.create_index(op.f(f"ix_{table}_workspace_id"), table, ["workspace_id"], unique=False)


def upgrade() -> None:
    op.create_table(
        "workspaces",
        _id(),
        sa.Column("name", sa.String(length=200), nullable=False),
        _ts("created_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workspaces")),
    )

    op.create_table(
        "api_keys",
        _id(),
        _id("workspace_id"),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("access", sa.String(length=20), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("prefix", sa.String(length=20), nullable=False),
        _ts("created_at"),
        _ts("last_used_at", nullable=True),
        _ts("revoked_at", nullable=True),
        _workspace_fk("api_keys"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
        sa.UniqueConstraint("key_hash", name=op.f("uq_api_keys_key_hash")),
    )
    _workspace_index("api_keys")

    op.create_table(
        "assistants",
        _id(),
        _id("workspace_id"),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("instructions", sa.Text(), nullable=False),
        sa.Column("provider", sa.String(length=20), nullable=False),
        sa.Column("model", sa.String(length=200), nullable=True),
        sa.Column("languages", sa.JSON(), nullable=False),
        sa.Column("settings", sa.JSON(), nullable=False),
        _ts("created_at"),
        _ts("updated_at"),
        _workspace_fk("assistants"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_assistants")),
    )
    _workspace_index("assistants")

    op.create_table(
        "mcp_servers",
        _id(),
        _id("workspace_id"),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("transport", sa.String(length=20), nullable=False),
        sa.Column("protocol", sa.String(length=20), nullable=True),
        sa.Column("url", sa.Text(), nullable=True),
        sa.Column("headers_encrypted", sa.Text(), nullable=True),
        sa.Column("command", sa.Text(), nullable=True),
        sa.Column("args", sa.JSON(), nullable=False),
        sa.Column("env_encrypted", sa.Text(), nullable=True),
        sa.Column("timeout_seconds", sa.Float(), nullable=False),
        sa.Column("max_response_bytes", sa.Integer(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        _ts("tools_refreshed_at", nullable=True),
        _ts("tools_expire_at", nullable=True),
        _ts("created_at"),
        _ts("updated_at"),
        _workspace_fk("mcp_servers"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mcp_servers")),
        sa.UniqueConstraint("workspace_id", "name", name=op.f("uq_mcp_servers_workspace_id_name")),
    )
    _workspace_index("mcp_servers")

    op.create_table(
        "mcp_tools",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        _id("mcp_id"),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("input_schema", sa.JSON(), nullable=False),
        sa.Column("output_schema", sa.JSON(), nullable=True),
        sa.Column("annotations", sa.JSON(), nullable=True),
        sa.Column("title", sa.Text(), nullable=True),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["mcp_id"], ["mcp_servers.id"], name=op.f("fk_mcp_tools_mcp_id_mcp_servers"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mcp_tools")),
        sa.UniqueConstraint("mcp_id", "name", name=op.f("uq_mcp_tools_mcp_id_name")),
    )
    op.create_index(op.f("ix_mcp_tools_mcp_id"), "mcp_tools", ["mcp_id"], unique=False)

    op.create_table(
        "assistant_mcps",
        _id("assistant_id"),
        _id("mcp_id"),
        _ts("created_at"),
        sa.ForeignKeyConstraint(
            ["assistant_id"],
            ["assistants.id"],
            name=op.f("fk_assistant_mcps_assistant_id_assistants"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["mcp_id"], ["mcp_servers.id"], name=op.f("fk_assistant_mcps_mcp_id_mcp_servers"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("assistant_id", "mcp_id", name=op.f("pk_assistant_mcps")),
    )
    op.create_index(op.f("ix_assistant_mcps_mcp_id"), "assistant_mcps", ["mcp_id"], unique=False)

    op.create_table(
        "channels",
        _id(),
        _id("workspace_id"),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("type", sa.String(length=20), nullable=False),
        sa.Column("assistant_id", sa.String(length=64), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        _ts("created_at"),
        _ts("updated_at"),
        _workspace_fk("channels"),
        sa.ForeignKeyConstraint(
            ["assistant_id"], ["assistants.id"], name=op.f("fk_channels_assistant_id_assistants"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_channels")),
    )
    _workspace_index("channels")
    op.create_index(op.f("ix_channels_assistant_id"), "channels", ["assistant_id"], unique=False)


def downgrade() -> None:
    # Dropping a table drops its indexes too (SQLite and PostgreSQL).
    for table in ("channels", "assistant_mcps", "mcp_tools", "mcp_servers", "assistants", "api_keys", "workspaces"):
        op.drop_table(table)
