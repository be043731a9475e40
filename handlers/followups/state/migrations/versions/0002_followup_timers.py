"""Durable timers and request budgets: what a follow-up sends, when to look next, by lane.

Revision ID: f0002
Revises: f0001
Create Date: 2026-11-30 11:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "f0002"
down_revision: str | None = "f0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TABLES = ("status_checks", "attachment_submissions")


def upgrade() -> None:
    for table in _TABLES:
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("command", sa.JSON(), nullable=True))
            batch.add_column(
                sa.Column("lane", sa.String(length=12), nullable=False, server_default="production")
            )
            batch.add_column(sa.Column("due_at", sa.DateTime(timezone=True), nullable=True))
            batch.add_column(sa.Column("deadline_at", sa.DateTime(timezone=True), nullable=True))
            batch.add_column(sa.Column("lease_token", sa.String(length=36), nullable=True))
            batch.add_column(sa.Column("polls", sa.Integer(), nullable=False, server_default="0"))
            batch.add_column(
                sa.Column("failed_calls", sa.Integer(), nullable=False, server_default="0")
            )
            batch.add_column(sa.Column("last_error", sa.String(length=200), nullable=True))
        op.create_index(f"ix_{table}_lane_due_at", table, ["lane", "due_at"])
    with op.batch_alter_table("attachment_submissions") as batch:
        batch.add_column(sa.Column("last_status", sa.String(length=40), nullable=True))
    op.create_table(
        "partner_request_budgets",
        sa.Column("partner", sa.String(length=20), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("used", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("partner", "day"),
    )


def downgrade() -> None:
    op.drop_table("partner_request_budgets")
    with op.batch_alter_table("attachment_submissions") as batch:
        batch.drop_column("last_status")
    for table in _TABLES:
        op.drop_index(f"ix_{table}_lane_due_at", table_name=table)
        with op.batch_alter_table(table) as batch:
            for column in (
                "last_error",
                "failed_calls",
                "polls",
                "lease_token",
                "deadline_at",
                "due_at",
                "lane",
                "command",
            ):
                batch.drop_column(column)
