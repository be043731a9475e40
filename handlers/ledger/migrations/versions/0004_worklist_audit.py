"""The billing worklist's access records (who saw or decided what, identifiers only).

Revision ID: 0004_worklist_audit
Revises: 0002_ledger_rules
Create Date: 2026-11-30 11:30:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_worklist_audit"
down_revision: str | None = "0002_ledger_rules"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "access_records",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("record_id", sa.String(length=64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("action", sa.String(length=40), nullable=False),
        sa.Column("outcome", sa.String(length=20), nullable=False),
        sa.Column("target", sa.String(length=200), nullable=False),
        sa.Column("claim_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("claim_ids", sa.JSON(), nullable=False),
        sa.Column("client_address", sa.String(length=64), nullable=True),
        sa.Column("request_id", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("record_id"),
    )
    with op.batch_alter_table("access_records", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_access_records_actor"), ["actor"], unique=False)
        batch_op.create_index(batch_op.f("ix_access_records_at"), ["at"], unique=False)
        batch_op.create_index("ix_access_records_claim_at", ["claim_id", "at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("access_records", schema=None) as batch_op:
        batch_op.drop_index("ix_access_records_claim_at")
        batch_op.drop_index(batch_op.f("ix_access_records_at"))
        batch_op.drop_index(batch_op.f("ix_access_records_actor"))
    op.drop_table("access_records")
