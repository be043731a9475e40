"""The cursor of a queue list: where the next page starts (keyset paging).

A cursor names the queue and sort it belongs to, the sort value of the last row shown and
that row's id. It is opaque to people (URL-safe base64 of JSON) and holds no PHI: a date or an
amount and a number.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation

from worklist.queues import QueueKind, SortKey

__all__ = ["Cursor"]


@dataclass(frozen=True, slots=True)
class Cursor:
    kind: QueueKind
    sort: SortKey
    value: str
    item_id: int | str

    def encode(self) -> str:
        raw = json.dumps([self.kind.value, self.sort.value, self.value, self.item_id])
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str, *, kind: QueueKind, sort: SortKey) -> Cursor | None:
        """The cursor, or None when it is malformed or belongs to another list or sort."""
        try:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
            found_kind, found_sort, value, item_id = json.loads(raw)
        except (binascii.Error, ValueError, TypeError):
            return None
        if (found_kind, found_sort) != (kind.value, sort.value):
            return None
        if not isinstance(value, str) or not isinstance(item_id, (int, str)):
            return None
        try:
            if sort in (SortKey.LARGEST, SortKey.SMALLEST):
                Decimal(value)
            else:
                datetime.fromisoformat(value)
        except (InvalidOperation, ValueError):
            return None
        return cls(kind, sort, value, item_id)
