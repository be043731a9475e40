"""The partner handlers' state: status_checks and attachment_submissions.

Revision ID: f0001
Revises:
Create Date: 2026-11-23 19:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "f0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "status_checks",
        sa.Column("command_id", sa.String(length=64), nullable=False),
        sa.Column("claim_id", sa.String(length=80), nullable=False),
        sa.Column("submission_number", sa.String(length=80), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("integrex_request_id", sa.String(length=80), nullable=True),
        sa.Column("result", sa.JSON(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("command_id"),
    )
    op.create_index("ix_status_checks_submission_number", "status_checks", ["submission_number"])
    op.create_table(
        "attachment_submissions",
        sa.Column("attachment_control_number", sa.String(length=50), nullable=False),
        sa.Column("command_id", sa.String(length=64), nullable=False),
        sa.Column("loinc_codes", sa.String(length=400), nullable=False),
        sa.Column("claim_id", sa.String(length=80), nullable=False),
        sa.Column("submission_number", sa.String(length=80), nullable=False),
        sa.Column("request_number", sa.String(length=80), nullable=False),
        sa.Column("solicited", sa.Boolean(), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("availity_request_id", sa.Integer(), nullable=True),
        sa.Column("result", sa.JSON(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("attachment_control_number"),
    )
    op.create_index(
        "ix_attachment_submissions_command_id", "attachment_submissions", ["command_id"]
    )
    op.create_index(
        "ix_attachment_submissions_submission_number",
        "attachment_submissions",
        ["submission_number"],
    )
    op.create_index(
        "ix_attachment_submissions_request_number", "attachment_submissions", ["request_number"]
    )


def downgrade() -> None:
    op.drop_table("attachment_submissions")
    op.drop_table("status_checks")
