"""The ledger's bulk writes make money and time values themselves (``unit_cache.driver_value``):
each must be exactly what SQLAlchemy's bind processor of the column would send."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy.dialects import postgresql, sqlite

from handlers.ledger.tables import MoneyText, UTCDateTime
from handlers.ledger.unit_cache import driver_value

DIALECTS = [sqlite.dialect(), postgresql.asyncpg.dialect()]  # type: ignore[no-untyped-call]

AMOUNTS = [
    None,
    Decimal("0"),
    Decimal("65.00"),
    Decimal("-35.82"),
    Decimal("-0.00"),
    Decimal("1E+2"),
    Decimal("0.000001"),
    Decimal("123456789012345678901234567890.12"),
]
TIMES = [
    None,
    datetime(2026, 11, 30, 19, 40, tzinfo=UTC),  # no microseconds: still written
    datetime(2026, 11, 30, 19, 40, 0, 123456, tzinfo=UTC),
    datetime(2016, 11, 8, 2, 11, 3, 111000, tzinfo=timezone(timedelta(hours=-5))),
    datetime(2024, 2, 29, 23, 59, 59, 999999, tzinfo=timezone(timedelta(hours=9, minutes=30))),
]


def _sqlalchemy(dialect: Any, column_type: Any) -> Any:
    process = column_type.dialect_impl(dialect).bind_processor(dialect)
    return process or (lambda value: value)


@pytest.mark.parametrize("dialect", DIALECTS, ids=lambda d: d.name)
@pytest.mark.parametrize(
    ("column_type", "values"),
    [(MoneyText(), AMOUNTS), (UTCDateTime(), TIMES)],
    ids=["money", "time"],
)
def test_a_bulk_value_is_what_sqlalchemy_would_send(
    dialect: Any, column_type: Any, values: list[Any]
) -> None:
    ours, theirs = driver_value(dialect, column_type), _sqlalchemy(dialect, column_type)
    assert ours is not None
    for value in values:
        got, expected = ours(value), theirs(value)
        assert got == expected, value
        assert type(got) is type(expected), value
