"""Several API processes on one database: turn ownership and leases, one running turn per
conversation, and each channel's policy for a message that arrives while a turn runs.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from plati.store.models import UTCDateTime

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | None = None
depends_on: str | None = None

_RUNNING = sa.text("status = 'running'")


def upgrade() -> None:
    with op.batch_alter_table("turns") as batch:
        batch.add_column(sa.Column("owner", sa.String(length=120), nullable=True))
        batch.add_column(sa.Column("lease_expires_at", UTCDateTime(), nullable=True))
    # Earlier versions could leave several turns of one conversation running (two processes on
    # one database); all but one are marked failed before the index that forbids it.
    op.execute(
        "UPDATE turns SET status = 'failed', error = 'The service stopped during this turn', "
        "finished_at = started_at WHERE status = 'running' AND id NOT IN "
        "(SELECT max(id) FROM turns WHERE status = 'running' GROUP BY conversation_id)"
    )
    op.create_index(
        "uq_turns_running_conversation",
        "turns",
        ["conversation_id"],
        unique=True,
        sqlite_where=_RUNNING,
        postgresql_where=_RUNNING,
    )
    with op.batch_alter_table("channels") as batch:
        batch.add_column(
            sa.Column("multitask_strategy", sa.String(length=20), nullable=False, server_default="enqueue")
        )


def downgrade() -> None:
    with op.batch_alter_table("channels") as batch:
        batch.drop_column("multitask_strategy")
    op.drop_index("uq_turns_running_conversation", table_name="turns")
    with op.batch_alter_table("turns") as batch:
        batch.drop_column("lease_expires_at")
        batch.drop_column("owner")
