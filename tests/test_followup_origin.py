"""One place decides follow-ups: only the ledger's rules make a follow-up command."""

from __future__ import annotations

import ast
from pathlib import Path

HANDLERS = Path(__file__).parents[1] / "handlers"
COMMANDS = {"AttachmentRequest", "StatusCheckRequest"}


def _builds_a_command(path: Path) -> bool:
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call):
            name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
            if name in COMMANDS:
                return True
    return False


def test_follow_up_commands_are_made_only_where_the_ledger_records_its_decisions() -> None:
    builders = {
        str(path.relative_to(HANDLERS.parent))
        for path in HANDLERS.rglob("*.py")
        if _builds_a_command(path)
    }
    assert builders == {"handlers/ledger/followup_decisions.py"}
