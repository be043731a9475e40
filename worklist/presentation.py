"""How values read on the pages: money with two decimals and thousands, UTC times, words."""

from __future__ import annotations

from datetime import datetime

from jinja2 import Environment

from worklist.reasons import money_text

__all__ = ["install_filters"]


def _when(value: datetime | None) -> str:
    return "—" if value is None else value.strftime("%Y-%m-%d %H:%M UTC")


def _day(value: datetime | None) -> str:
    return "—" if value is None else value.strftime("%Y-%m-%d")


def _words(value: str | None) -> str:
    return "—" if not value else value.replace("_", " ").replace("-", " ")


def install_filters(environment: Environment) -> None:
    environment.filters["money"] = money_text
    environment.filters["when"] = _when
    environment.filters["day"] = _day
    environment.filters["words"] = _words
    environment.filters["thousands"] = lambda number: f"{number:,}"
