"""The outbox's ``claimed_until``: a message its writer publishes itself, left alone by relays.

A unit whose owner publishes its outbox messages from memory after the commit
(``ClaimLedger.unit(publish_outbox=True)``) writes them with ``claimed_until`` set; relays
publish only messages without a claim or whose claim has passed, and the owner marks its
messages sent in its next transaction instead of one of their own.

Revision ID: 0006_outbox_claims
Revises: 0005_worklist_indexes
Create Date: 2026-11-30 21:30:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_outbox_claims"
down_revision: str | None = "0005_worklist_indexes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("claimed_until", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_column("claimed_until")
