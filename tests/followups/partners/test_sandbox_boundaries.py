"""The sandboxes are a second, independent reading of the partner references."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SANDBOXES = Path(__file__).parents[3] / "sandboxes"
PARTNER_SANDBOXES = ["integrex.py", "availity.py", "availity_rules.py", "control.py", "tokens.py"]


@pytest.mark.parametrize("module", PARTNER_SANDBOXES)
def test_partner_sandboxes_import_neither_receiver_nor_the_clients(module: str) -> None:
    tree = ast.parse((SANDBOXES / module).read_text())
    imported = {
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    } | {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert not {name for name in imported if name.startswith(("receiver", "handlers"))}
