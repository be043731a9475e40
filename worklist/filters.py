"""A queue list's query string, read into a :class:`QueueFilter` with errors by field name."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation

from worklist.queues import SortKey
from worklist.read_model import QueueFilter

__all__ = ["ListRequest", "read_list_request"]

LANES = ("production", "test")


@dataclass(frozen=True, slots=True)
class ListRequest:
    where: QueueFilter
    sort: SortKey
    after: str | None
    errors: dict[str, str] = field(default_factory=dict)
    values: dict[str, str] = field(default_factory=dict)


def _date(text: str) -> date:
    return date.fromisoformat(text)


def _amount(text: str) -> Decimal:
    value = Decimal(text.replace(",", ""))
    if not value.is_finite():
        raise InvalidOperation
    return value


def read_list_request(query: Mapping[str, str]) -> ListRequest:
    """Parse ``payer, from, to, min, max, lane, sort, after``; a bad field is named, not used."""
    errors: dict[str, str] = {}
    values = {name: query.get(name, "").strip() for name in (
        "payer", "from", "to", "min", "max", "lane", "sort",
    )}  # fmt: skip
    parsed: dict[str, object] = {}
    for name, reader, reason in (
        ("from", _date, "a date like 2026-11-30"),
        ("to", _date, "a date like 2026-11-30"),
        ("min", _amount, "an amount like 125.00"),
        ("max", _amount, "an amount like 125.00"),
    ):
        if values[name]:
            try:
                parsed[name] = reader(values[name])
            except (ValueError, InvalidOperation):
                errors[name] = f"must be {reason}"
    if values["lane"] and values["lane"] not in LANES:
        errors["lane"] = "must be production or test"
    sort = SortKey.OLDEST
    if values["sort"]:
        try:
            sort = SortKey(values["sort"])
        except ValueError:
            errors["sort"] = "must be one of " + ", ".join(key.value for key in SortKey)
    payer = values["payer"][:100] or None
    where = QueueFilter(
        payer=payer,
        received_from=parsed.get("from"),  # type: ignore[arg-type]
        received_to=parsed.get("to"),  # type: ignore[arg-type]
        amount_min=parsed.get("min"),  # type: ignore[arg-type]
        amount_max=parsed.get("max"),  # type: ignore[arg-type]
        lane=values["lane"] if values["lane"] in LANES else None,
    )
    return ListRequest(where, sort, query.get("after") or None, errors, values)
