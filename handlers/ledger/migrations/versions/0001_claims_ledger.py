"""The claims ledger: claims, payments, parked payments, reconciliations, follow-ups, outbox.

Revision ID: 0001
Revises:
Create Date: 2026-11-23 19:13:29.550096
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "deliveries",
        sa.Column("delivery_id", sa.String(length=80), nullable=False),
        sa.Column("claims_in_batch", sa.Integer(), nullable=False),
        sa.Column("received", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("delivery_id"),
    )
    op.create_table(
        "claims",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("claim_number", sa.String(length=80), nullable=False),
        sa.Column("claim_key", sa.String(length=80), nullable=False),
        sa.Column("payer_id", sa.String(length=80), nullable=True),
        sa.Column("payer_name", sa.String(length=200), nullable=True),
        sa.Column("provider_npi", sa.String(length=20), nullable=True),
        sa.Column("provider_tax_id", sa.String(length=20), nullable=True),
        sa.Column("provider_name", sa.String(length=200), nullable=True),
        sa.Column("patient_first_name", sa.String(length=100), nullable=True),
        sa.Column("patient_last_name", sa.String(length=100), nullable=True),
        sa.Column("patient_last_key", sa.String(length=100), nullable=True),
        sa.Column("patient_dob", sa.Date(), nullable=True),
        sa.Column("member_id", sa.String(length=80), nullable=True),
        sa.Column("patient_account_number", sa.String(length=80), nullable=True),
        sa.Column("service_start", sa.Date(), nullable=True),
        sa.Column("service_end", sa.Date(), nullable=True),
        sa.Column("submitted_on", sa.Date(), nullable=True),
        sa.Column("charged_amount", sa.String(length=40), nullable=False),
        sa.Column("paid_amount", sa.String(length=40), nullable=False),
        sa.Column("patient_responsibility", sa.String(length=40), nullable=False),
        sa.Column("adjusted_amount", sa.String(length=40), nullable=False),
        sa.Column("status", sa.String(length=40), nullable=False),
        sa.Column("source", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("claim_number"),
    )
    with op.batch_alter_table("claims", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_claims_claim_key"), ["claim_key"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_claims_patient_last_key"), ["patient_last_key"], unique=False
        )

    op.create_table(
        "outbox",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("message_id", sa.String(length=64), nullable=False),
        sa.Column("topic", sa.String(length=250), nullable=False),
        sa.Column("key", sa.String(length=250), nullable=True),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("headers", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("message_id"),
    )
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_outbox_sent_at"), ["sent_at"], unique=False)

    op.create_table(
        "parked_payments",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("message_id", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.String(length=40), nullable=False),
        sa.Column("submission_key", sa.String(length=80), nullable=False),
        sa.Column("control_key", sa.String(length=80), nullable=False),
        sa.Column("candidates", sa.JSON(), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("parked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("message_id"),
    )
    with op.batch_alter_table("parked_payments", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_parked_payments_control_key"), ["control_key"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_parked_payments_submission_key"), ["submission_key"], unique=False
        )

    op.create_table(
        "transaction_results",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("delivery_id", sa.String(length=80), nullable=False),
        sa.Column("transaction_index", sa.Integer(), nullable=False),
        sa.Column("transaction_id", sa.String(length=80), nullable=True),
        sa.Column("total_amount", sa.String(length=40), nullable=True),
        sa.Column("payments_amount", sa.String(length=40), nullable=False),
        sa.Column("balanced", sa.Boolean(), nullable=False),
        sa.Column("differences", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("delivery_id", "transaction_index"),
    )
    op.create_table(
        "applied_payments",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("message_id", sa.String(length=64), nullable=False),
        sa.Column("claim_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("control_number", sa.String(length=80), nullable=True),
        sa.Column("status_text", sa.String(length=200), nullable=True),
        sa.Column("outcome", sa.String(length=40), nullable=False),
        sa.Column("charged_amount", sa.String(length=40), nullable=True),
        sa.Column("paid_amount", sa.String(length=40), nullable=False),
        sa.Column("patient_responsibility", sa.String(length=40), nullable=False),
        sa.Column("adjusted_amount", sa.String(length=40), nullable=False),
        sa.Column("adjustments", sa.JSON(), nullable=False),
        sa.Column("match_method", sa.String(length=40), nullable=False),
        sa.Column("match_confidence", sa.String(length=40), nullable=False),
        sa.Column(
            "reverses_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("reversed_by_id", sa.Integer(), nullable=True),
        sa.Column("paid_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("applied_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["claim_id"],
            ["claims.id"],
        ),
        sa.ForeignKeyConstraint(
            ["reverses_id"],
            ["applied_payments.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("message_id"),
    )
    with op.batch_alter_table("applied_payments", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_applied_payments_claim_id"), ["claim_id"], unique=False
        )

    op.create_table(
        "claim_identifiers",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("claim_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("value", sa.String(length=80), nullable=False),
        sa.Column("value_key", sa.String(length=80), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["claim_id"],
            ["claims.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("kind", "value_key", "claim_id"),
    )
    with op.batch_alter_table("claim_identifiers", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_claim_identifiers_claim_id"), ["claim_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_claim_identifiers_value_key"), ["value_key"], unique=False
        )

    op.create_table(
        "follow_ups",
        sa.Column("command_id", sa.String(length=64), nullable=False),
        sa.Column("claim_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("action", sa.String(length=40), nullable=False),
        sa.Column("rule", sa.String(length=80), nullable=False),
        sa.Column("reason", sa.String(length=400), nullable=False),
        sa.Column("trigger_message_id", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["claim_id"],
            ["claims.id"],
        ),
        sa.PrimaryKeyConstraint("command_id"),
    )
    with op.batch_alter_table("follow_ups", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_follow_ups_claim_id"), ["claim_id"], unique=False)

    op.create_table(
        "payment_receipts",
        sa.Column("message_id", sa.String(length=64), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("delivery_id", sa.String(length=80), nullable=False),
        sa.Column("transaction_index", sa.Integer(), nullable=False),
        sa.Column("transaction_id", sa.String(length=80), nullable=True),
        sa.Column("transaction_total", sa.String(length=40), nullable=True),
        sa.Column("credit_or_debit", sa.String(length=20), nullable=True),
        sa.Column("claims_in_batch", sa.Integer(), nullable=False),
        sa.Column("paid_amount", sa.String(length=40), nullable=False),
        sa.Column("state", sa.String(length=40), nullable=False),
        sa.Column("outcome", sa.String(length=40), nullable=False),
        sa.Column("duplicate_of", sa.String(length=64), nullable=True),
        sa.Column("claim_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["claim_id"],
            ["claims.id"],
        ),
        sa.PrimaryKeyConstraint("message_id"),
    )
    with op.batch_alter_table("payment_receipts", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_payment_receipts_claim_id"), ["claim_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_payment_receipts_delivery_id"), ["delivery_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_payment_receipts_fingerprint"), ["fingerprint"], unique=False
        )

    op.create_table(
        "reconciliations",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("message_id", sa.String(length=64), nullable=False),
        sa.Column("claim_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("outcome", sa.String(length=40), nullable=False),
        sa.Column("match_status", sa.String(length=40), nullable=False),
        sa.Column("match_method", sa.String(length=40), nullable=False),
        sa.Column("match_confidence", sa.String(length=40), nullable=False),
        sa.Column("balanced", sa.Boolean(), nullable=False),
        sa.Column("differences", sa.JSON(), nullable=False),
        sa.Column("flags", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["claim_id"],
            ["claims.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("reconciliations", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_reconciliations_claim_id"), ["claim_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_reconciliations_message_id"), ["message_id"], unique=False
        )

    op.create_table(
        "timeline_events",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("claim_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("message_id", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["claim_id"],
            ["claims.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("timeline_events", schema=None) as batch_op:
        batch_op.create_index("ix_timeline_claim_at", ["claim_id", "at"], unique=False)


def downgrade() -> None:
    op.drop_table("deliveries")
    with op.batch_alter_table("timeline_events", schema=None) as batch_op:
        batch_op.drop_index("ix_timeline_claim_at")

    op.drop_table("timeline_events")
    with op.batch_alter_table("reconciliations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_reconciliations_message_id"))
        batch_op.drop_index(batch_op.f("ix_reconciliations_claim_id"))

    op.drop_table("reconciliations")
    with op.batch_alter_table("payment_receipts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_payment_receipts_fingerprint"))
        batch_op.drop_index(batch_op.f("ix_payment_receipts_delivery_id"))
        batch_op.drop_index(batch_op.f("ix_payment_receipts_claim_id"))

    op.drop_table("payment_receipts")
    with op.batch_alter_table("follow_ups", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_follow_ups_claim_id"))

    op.drop_table("follow_ups")
    with op.batch_alter_table("claim_identifiers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_claim_identifiers_value_key"))
        batch_op.drop_index(batch_op.f("ix_claim_identifiers_claim_id"))

    op.drop_table("claim_identifiers")
    with op.batch_alter_table("applied_payments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_applied_payments_claim_id"))

    op.drop_table("applied_payments")
    op.drop_table("transaction_results")
    with op.batch_alter_table("parked_payments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_parked_payments_submission_key"))
        batch_op.drop_index(batch_op.f("ix_parked_payments_control_key"))

    op.drop_table("parked_payments")
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_outbox_sent_at"))

    op.drop_table("outbox")
    with op.batch_alter_table("claims", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_claims_patient_last_key"))
        batch_op.drop_index(batch_op.f("ix_claims_claim_key"))

    op.drop_table("claims")
