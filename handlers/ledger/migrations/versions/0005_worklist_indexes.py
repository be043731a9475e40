"""Indexes for the billing worklist's queues: claims by status, and credit balances.

- ``ix_claims_status`` (both databases): the denied and overpaid queues pick claims by status;
- ``ix_claims_credit_balance`` (PostgreSQL only): a partial index on
  ``(updated_at, id)`` of the claims whose payments exceed what they may receive. Its predicate
  is exactly the overpaid queue's (``handlers.ledger.tables.claim_credit_balance() > 0``);
  PostgreSQL uses a partial index only when the query's condition implies it.

Revision ID: 0005_worklist_indexes
Revises: 0004_worklist_audit
Create Date: 2026-11-30 15:30:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_worklist_indexes"
down_revision: str | None = "0004_worklist_audit"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_CREDIT_BALANCE = (
    "(COALESCE(CAST(paid_amount AS NUMERIC(18, 2)), 0)"
    " + COALESCE(CAST(patient_responsibility AS NUMERIC(18, 2)), 0)"
    " + COALESCE(CAST(adjusted_amount AS NUMERIC(18, 2)), 0)"
    " - COALESCE(CAST(charged_amount AS NUMERIC(18, 2)), 0)) > 0"
)


def upgrade() -> None:
    with op.batch_alter_table("claims", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_claims_status"), ["status"], unique=False)
    if op.get_bind().dialect.name == "postgresql":
        op.create_index(
            "ix_claims_credit_balance",
            "claims",
            ["updated_at", "id"],
            unique=False,
            postgresql_where=sa.text(_CREDIT_BALANCE),
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.drop_index("ix_claims_credit_balance", table_name="claims")
    with op.batch_alter_table("claims", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_claims_status"))
