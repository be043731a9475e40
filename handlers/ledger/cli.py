"""``claimflow claims import FILE``, ``claimflow claim show ID`` and ``claimflow db upgrade``.

Registered by handlers/cli.py; heavy imports happen inside the command functions.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

__all__ = ["import_claims", "register"]


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    claims = subparsers.add_parser("claims", help="the claims ledger's claims")
    claims_commands = claims.add_subparsers(dest="claims_command", required=True, metavar="COMMAND")
    load = claims_commands.add_parser(
        "import", help="add claims from a CSV or JSON file (all rows or none)"
    )
    load.add_argument("file", type=Path, metavar="FILE", help="a .csv or .json claims file")
    load.set_defaults(run=_import)

    claim = subparsers.add_parser("claim", help="one claim of the ledger")
    claim_commands = claim.add_subparsers(dest="claim_command", required=True, metavar="COMMAND")
    show = claim_commands.add_parser(
        "show", help="print a claim: money per payer, payments and its timeline"
    )
    show.add_argument("id", metavar="ID", help="claim number or ledger id")
    show.add_argument(
        "--json",
        action="store_true",
        help="print the claim as JSON (schema docs/schemas/claim-view.v1.json)",
    )
    show.set_defaults(run=_show)

    db = subparsers.add_parser("db", help="the claims ledger database")
    db_commands = db.add_subparsers(dest="db_command", required=True, metavar="COMMAND")
    up = db_commands.add_parser("upgrade", help="apply the ledger's migrations")
    up.set_defaults(run=_upgrade)


async def import_claims(settings: Any, path: Path, *, echo: Any = print) -> int:
    """Validate every row, then add them all in one transaction; 0 on success, 1 if any bad."""
    from handlers.followup.rules import load_rules
    from handlers.ledger.database import create_engine, upgrade
    from handlers.ledger.intake import RowError, parse_claims_file
    from handlers.ledger.posting import Poster
    from handlers.ledger.store import ClaimLedger

    try:
        report = parse_claims_file(path)
    except (OSError, ValueError) as exc:
        reason = str(exc) if isinstance(exc, ValueError) else type(exc).__name__
        echo(f"claimflow: cannot read {path}: {reason}")
        return 1
    errors = list(report.errors)
    engine = create_engine(settings.database)
    try:
        await upgrade(engine)
        ledger = ClaimLedger(engine)
        poster = Poster(
            rules=load_rules(settings.handlers.rules_file),
            tolerance=settings.money_tolerance,
            topic_prefix=settings.kafka.topic_prefix,
        )
        added = same = matched = 0
        async with ledger.unit() as unit:
            known = await unit.claims_by_number([c.claim_number for _, c in report.claims])
            for row, new in report.claims:
                old = known.get(new.claim_number)
                if old is not None and _differs(old, new):
                    errors.append(
                        RowError(row, "claim_number", "already in the ledger, differently")
                    )
            if errors:
                await unit.session.rollback()
            else:
                for row, new in report.claims:
                    if new.claim_number in known:
                        same += 1
                        continue
                    _, posted = await poster.add_claim(unit, new, source=f"{path.name} row {row}")
                    added += 1
                    matched += sum(1 for p in posted if p.state == "applied")
    finally:
        await engine.dispose()
    if errors:
        for error in sorted(errors, key=lambda e: e.row):
            echo(f"{path.name}: {error}")
        echo(f"nothing imported: {len(errors)} error(s) in {path.name}")
        return 1
    echo(
        f"imported {added} claims from {path.name} ({same} already in the ledger); "
        f"{matched} parked payments matched"
    )
    return 0


def _differs(old: Any, new: Any) -> bool:
    return any(getattr(old, name) != value for name, value in new.model_dump().items())


def _import(args: argparse.Namespace) -> int:
    from claimflow.settings import load_settings

    return asyncio.run(import_claims(load_settings(), args.file))


async def _show_claim(settings: Any, reference: str, *, as_json: bool = False) -> str | None:
    from handlers.ledger.claim_view import claim_view, render_claim_view
    from handlers.ledger.database import create_engine
    from handlers.ledger.store import ClaimLedger

    engine = create_engine(settings.database)
    try:
        ledger = ClaimLedger(engine)
        claim = await ledger.find_claim(reference)
        if claim is None:
            return None
        view = await claim_view(ledger, claim)
        if as_json:
            return view.model_dump_json(by_alias=True, indent=2)
        return render_claim_view(view)
    finally:
        await engine.dispose()


def _show(args: argparse.Namespace) -> int:
    from claimflow.settings import load_settings

    text = asyncio.run(_show_claim(load_settings(), args.id, as_json=args.json))
    if text is None:
        print(f"claimflow: no claim {args.id!r} in the ledger", file=sys.stderr)
        return 1
    print(text)
    return 0


async def _upgrade_db(settings: Any) -> None:
    from handlers.followup_state import upgrade as upgrade_followups
    from handlers.ledger.database import create_engine, upgrade

    engine = create_engine(settings.database)
    try:
        await upgrade(engine)
        # The partner handlers' own chain (version table alembic_version_followups).
        await upgrade_followups(engine)
    finally:
        await engine.dispose()


def _upgrade(args: argparse.Namespace) -> int:
    from claimflow.settings import load_settings

    asyncio.run(_upgrade_db(load_settings()))
    print("the claims ledger schema is up to date")
    return 0
