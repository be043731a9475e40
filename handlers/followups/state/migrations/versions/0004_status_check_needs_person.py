"""Status checks remember whether they need a person (the worklist's partner queue).

``status_checks.needs_person`` (boolean, not null, default false) is written by the
status-check store with every state (``handlers.followups.status_check.store.needs_person``);
existing rows are backfilled here by the same rule, as it stood at this revision. The index
``ix_status_checks_needs_person`` on ``(updated_at, command_id)`` holds only those rows.

Revision ID: f0004
Revises: f0003
Create Date: 2026-11-30 15:30:00
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "f0004"
down_revision: str | None = "f0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ENDED_UNANSWERED = ("failed", "timed_out", "unknown")
_NOTHING_TO_DO = ("A0", "A1", "A2", "A5", "F0", "F1", "F3")
_BATCH = 1000


def _needs_person(state: str, result: Mapping[str, Any] | None) -> bool:
    if state in _ENDED_UNANSWERED:
        return True
    if state != "answered":
        return False
    answer = result or {}
    category = answer.get("category_code") or ""
    return (
        (answer.get("outcome") or "") != "answered"
        or bool(answer.get("needs_documents"))
        or (not category.startswith("P") and category not in _NOTHING_TO_DO)
    )


def upgrade() -> None:
    with op.batch_alter_table("status_checks") as batch:
        batch.add_column(
            sa.Column("needs_person", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    rows = sa.table(
        "status_checks",
        sa.column("command_id", sa.String()),
        sa.column("state", sa.String()),
        sa.column("result", sa.JSON()),
        sa.column("needs_person", sa.Boolean()),
    )
    bind = op.get_bind()
    found = bind.execute(
        sa.select(rows.c.command_id, rows.c.state, rows.c.result).where(
            rows.c.state.in_([*_ENDED_UNANSWERED, "answered"])
        )
    ).all()
    keys = [key for key, state, result in found if _needs_person(state, result)]
    for start in range(0, len(keys), _BATCH):
        bind.execute(
            sa.update(rows)
            .where(rows.c.command_id.in_(keys[start : start + _BATCH]))
            .values(needs_person=True)
        )
    op.create_index(
        "ix_status_checks_needs_person",
        "status_checks",
        ["updated_at", "command_id"],
        postgresql_where=sa.text("needs_person"),
        sqlite_where=sa.text("needs_person"),
    )


def downgrade() -> None:
    op.drop_index("ix_status_checks_needs_person", table_name="status_checks")
    with op.batch_alter_table("status_checks") as batch:
        batch.drop_column("needs_person")
