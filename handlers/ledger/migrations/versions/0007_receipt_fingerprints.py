"""Receipt fingerprints in the canonical JSON the ledger now hashes (compact, orjson's).

``posting.fingerprint`` hashes a payment's transaction, payer and claim as canonical JSON. It
was ``json.dumps(..., sort_keys=True)`` (spaced); it is now orjson's sorted, compact JSON, a
tenth of the time per payment. Each receipt's fingerprint is recomputed from the payload it
keeps, so that a payment that arrives again under a new message id is still found to be the
same payment (a duplicate, not a new one). A payload that no longer reads as a claim payment
keeps the fingerprint it had. Downgrading recomputes the old form.

Revision ID: 0007_receipt_fingerprints
Revises: 0006_outbox_claims
Create Date: 2026-11-30 22:10:00.000000
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from typing import Any

import orjson
import sqlalchemy as sa
from alembic import op
from pydantic import ValidationError

from router.messages import ClaimPaymentMessage

revision: str = "0007_receipt_fingerprints"
down_revision: str | None = "0006_outbox_claims"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_CHUNK = 1000
_RECEIPTS = sa.table(
    "payment_receipts",
    sa.column("message_id", sa.String),
    sa.column("fingerprint", sa.String),
    sa.column("payload", sa.Text),
)


def _content(message: ClaimPaymentMessage) -> dict[str, Any]:
    """What ``posting.fingerprint`` hashes (its form at this revision)."""
    t = message.transaction
    total = t.total_payment_amount
    return {
        "transaction": [
            t.id,
            t.tracking_number,
            "-" if total is None else format(total, "f"),
            t.credit_or_debit,
        ],
        "payer": [(i.id, i.id_type) for i in (t.submitter.identifiers if t.submitter else [])],
        "claim": message.claim.model_dump(mode="json", by_alias=True),
    }


def _compact(content: dict[str, Any]) -> bytes:
    return orjson.dumps(content, default=str, option=orjson.OPT_SORT_KEYS)


def _spaced(content: dict[str, Any]) -> bytes:
    return json.dumps(content, sort_keys=True, default=str).encode()


def _recompute(canonical: Callable[[dict[str, Any]], bytes]) -> None:
    bind = op.get_bind()
    last = ""
    while True:
        rows = bind.execute(
            sa.select(_RECEIPTS.c.message_id, _RECEIPTS.c.payload)
            .where(_RECEIPTS.c.message_id > last)
            .order_by(_RECEIPTS.c.message_id)
            .limit(_CHUNK)
        ).all()
        changes = []
        for message_id, payload in rows:
            try:
                message = ClaimPaymentMessage.model_validate_json(payload)
            except ValidationError:
                continue  # keeps its fingerprint (module docs)
            print_ = hashlib.sha256(canonical(_content(message))).hexdigest()
            changes.append({"id": message_id, "print": print_})
        if changes:
            bind.execute(
                _RECEIPTS.update()
                .where(_RECEIPTS.c.message_id == sa.bindparam("id"))
                .values(fingerprint=sa.bindparam("print")),
                changes,
            )
        if len(rows) < _CHUNK:
            return
        last = rows[-1][0]


def upgrade() -> None:
    _recompute(_compact)


def downgrade() -> None:
    _recompute(_spaced)
