"""Ledger rules (part 2): money per payer, duplicate keys, parked-payment holds, wide values.

- ``applied_payments``: payer key, name and coordination-of-benefits rank, the prior payer's
  amount (CARC 23) and the content key that finds possible duplicates;
- ``parked_payments``: the folded patient last name (re-ranking review candidates), the claim
  a hold is against, the earlier payment it names, and a note;
- every column that holds a value from a payment notification becomes ``TEXT`` on PostgreSQL
  (SQLite never enforced the lengths): a long control number or amount is stored as given;
- claim and control-number keys and folded patient names are recomputed (leading zeros dropped,
  names Unicode-folded), on claims, remembered control numbers and unresolved parked payments.

Revision ID: 0002_ledger_rules
Revises: 0001
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence

import sqlalchemy as sa
from alembic import op

from handlers.ledger.matching import fold_name, normalise_key

revision: str = "0002_ledger_rules"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (table, column, old type) widened to TEXT on PostgreSQL.
_WIDENED: tuple[tuple[str, str, sa.String], ...] = (
    ("claims", "charged_amount", sa.String(40)),
    ("claims", "paid_amount", sa.String(40)),
    ("claims", "patient_responsibility", sa.String(40)),
    ("claims", "adjusted_amount", sa.String(40)),
    ("claim_identifiers", "value", sa.String(80)),
    ("claim_identifiers", "value_key", sa.String(80)),
    ("payment_receipts", "delivery_id", sa.String(80)),
    ("payment_receipts", "transaction_id", sa.String(80)),
    ("payment_receipts", "transaction_total", sa.String(40)),
    ("payment_receipts", "credit_or_debit", sa.String(20)),
    ("payment_receipts", "paid_amount", sa.String(40)),
    ("deliveries", "delivery_id", sa.String(80)),
    ("applied_payments", "control_number", sa.String(80)),
    ("applied_payments", "status_text", sa.String(200)),
    ("applied_payments", "charged_amount", sa.String(40)),
    ("applied_payments", "paid_amount", sa.String(40)),
    ("applied_payments", "patient_responsibility", sa.String(40)),
    ("applied_payments", "adjusted_amount", sa.String(40)),
    ("applied_payments", "match_confidence", sa.String(40)),
    ("parked_payments", "submission_key", sa.String(80)),
    ("parked_payments", "control_key", sa.String(80)),
    ("reconciliations", "match_confidence", sa.String(40)),
    ("transaction_results", "delivery_id", sa.String(80)),
    ("transaction_results", "transaction_id", sa.String(80)),
    ("transaction_results", "total_amount", sa.String(40)),
    ("transaction_results", "payments_amount", sa.String(40)),
    ("follow_ups", "reason", sa.String(400)),
    ("outbox", "key", sa.String(250)),
)


def _rekey(
    table: str, key_column: str, source_column: str, fold: Callable[[str | None], str]
) -> None:
    bind = op.get_bind()
    rows = bind.execute(sa.text(f"SELECT id, {source_column} FROM {table}")).all()  # noqa: S608
    for row_id, value in rows:
        key: str | None = fold(value)
        if key_column == "patient_last_key" and not key:
            key = None
        bind.execute(
            sa.text(f"UPDATE {table} SET {key_column} = :key WHERE id = :id"),  # noqa: S608
            {"key": key, "id": row_id},
        )


def upgrade() -> None:
    with op.batch_alter_table("applied_payments", schema=None) as batch_op:
        batch_op.add_column(sa.Column("payer_key", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("payer_name", sa.Text(), nullable=True))
        batch_op.add_column(
            sa.Column("payer_rank", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.add_column(sa.Column("prior_payer_amount", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("payment_key", sa.String(length=64), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_applied_payments_payment_key"), ["payment_key"], unique=False
        )
    with op.batch_alter_table("parked_payments", schema=None) as batch_op:
        batch_op.add_column(sa.Column("patient_last_key", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("claim_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("related_message_id", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("note", sa.Text(), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_parked_payments_patient_last_key"), ["patient_last_key"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_parked_payments_claim_id"), ["claim_id"], unique=False)
    if op.get_bind().dialect.name != "sqlite":
        for table, column, old in _WIDENED:
            op.alter_column(table, column, type_=sa.Text(), existing_type=old)
    _rekey("claims", "claim_key", "claim_number", normalise_key)
    _rekey("claims", "patient_last_key", "patient_last_name", fold_name)
    _rekey("claim_identifiers", "value_key", "value", normalise_key)
    _rekey_parked()


def _rekey_parked() -> None:
    """Parked payments: claim keys in the new form, and the folded patient last name."""
    bind = op.get_bind()
    rows = bind.execute(
        sa.text("SELECT id, payload FROM parked_payments WHERE resolved_at IS NULL")
    ).all()
    for row_id, payload in rows:
        try:
            message = json.loads(payload)
        except ValueError:
            continue
        claim = message.get("claim") or {}
        demographics = (message.get("patient") or {}).get("Demographics") or {}
        bind.execute(
            sa.text(
                "UPDATE parked_payments SET submission_key = :submission, control_key = :control,"
                " patient_last_key = :last WHERE id = :id"
            ),
            {
                "submission": normalise_key(claim.get("SubmissionNumber")),
                "control": normalise_key(claim.get("ControlNumber")),
                "last": fold_name(demographics.get("LastName")) or None,
                "id": row_id,
            },
        )


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        for table, column, old in _WIDENED:
            op.alter_column(table, column, type_=old, existing_type=sa.Text())
    with op.batch_alter_table("parked_payments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_parked_payments_claim_id"))
        batch_op.drop_index(batch_op.f("ix_parked_payments_patient_last_key"))
        batch_op.drop_column("note")
        batch_op.drop_column("related_message_id")
        batch_op.drop_column("claim_id")
        batch_op.drop_column("patient_last_key")
    with op.batch_alter_table("applied_payments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_applied_payments_payment_key"))
        batch_op.drop_column("payment_key")
        batch_op.drop_column("prior_payer_amount")
        batch_op.drop_column("payer_rank")
        batch_op.drop_column("payer_name")
        batch_op.drop_column("payer_key")
