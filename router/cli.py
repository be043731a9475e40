"""Subcommands of `claimflow` that belong to router/ (registered by claimflow.cli)."""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["register"]


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Add this part's subcommands; heavy imports happen inside the command functions."""
