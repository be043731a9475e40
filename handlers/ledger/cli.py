"""``claimflow claims import FILE``, ``claimflow ledger post FILE...``, ``claimflow claim show ID``.

``claimflow db upgrade`` (the ledger's migrations and the follow-up state's) is handlers/cli.py's.

Registered by handlers/cli.py; heavy imports happen inside the command functions.
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path
from typing import Any

from claimflow.errors import CommandError, DataRefused, FileProblem

__all__ = ["import_claims", "register"]


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    claims = subparsers.add_parser(
        "claims",
        help="the claims ledger's claims",
        epilog="example: claimflow claims import claims.csv",
    )
    claims_commands = claims.add_subparsers(dest="claims_command", required=True, metavar="COMMAND")
    load = claims_commands.add_parser(
        "import",
        help="add claims from a CSV or JSON file (all rows or none)",
        epilog="example: claimflow claims import sandboxes/data/redox-sample-claims.csv",
    )
    load.add_argument("file", type=Path, metavar="FILE", help="a .csv or .json claims file")
    load.set_defaults(run=_import)

    ledger = subparsers.add_parser(
        "ledger",
        help="the claims ledger's payments",
        epilog="example: claimflow ledger post remittance-2026-11.json",
    )
    ledger_commands = ledger.add_subparsers(dest="ledger_command", required=True, metavar="COMMAND")
    post = ledger_commands.add_parser(
        "post",
        help="post Redox PaymentBatch JSON files into the ledger, without Kafka",
        epilog="example: claimflow ledger post samples/redox-claim-paymentbatch.json",
    )
    post.add_argument(
        "files", type=Path, nargs="+", metavar="FILE", help="a Claim.PaymentBatch JSON file"
    )
    post.set_defaults(run=_post)

    claim = subparsers.add_parser(
        "claim", help="one claim of the ledger", epilog="example: claimflow claim show A-1"
    )
    claim_commands = claim.add_subparsers(dest="claim_command", required=True, metavar="COMMAND")
    show = claim_commands.add_parser(
        "show",
        help="print a claim: money per payer, payments and its timeline",
        epilog="example: claimflow claim show 66729659983 --json",
    )
    show.add_argument("id", metavar="ID", help="claim number or ledger id")
    show.add_argument(
        "--json",
        action="store_true",
        help="print the claim as JSON (schema docs/schemas/claim-view.v1.json)",
    )
    show.set_defaults(run=_show)


async def import_claims(settings: Any, path: Path, *, echo: Any = print) -> int:
    """Validate every row, then add them all in one transaction; 0 on success, 1 if any bad.

    A file that cannot be read raises ``FileProblem``; the embedded SQLite ledger gets its
    schema on first use, PostgreSQL must be migrated (``ensure_schema``).
    """
    from handlers.ledger.claims_import import import_claims_file
    from handlers.ledger.database import create_engine, ensure_schema
    from handlers.ledger.followup_rules import load_rules
    from handlers.ledger.posting import Poster
    from handlers.ledger.store import ClaimLedger

    try:
        path.open("rb").close()  # a file that cannot be read is told before the database
    except OSError as exc:
        reason = (exc.strerror or type(exc).__name__).lower()
        raise FileProblem(f"cannot read the claims file {path}: {reason}") from exc
    engine = create_engine(settings.database, sqlite_on_loop=True)  # a command's own loop
    try:
        await ensure_schema(engine)
        poster = Poster(
            rules=load_rules(settings.handlers.rules_file),
            tolerance=settings.money_tolerance,
            topic_prefix=settings.kafka.topic_prefix,
        )
        outcome = await import_claims_file(ClaimLedger(engine), poster, path)
    except OSError as exc:
        reason = (exc.strerror or type(exc).__name__).lower()
        raise FileProblem(f"cannot read the claims file {path}: {reason}") from exc
    except ValueError as exc:
        echo(f"claimflow: cannot read {path}: {exc}")
        return 1
    finally:
        await engine.dispose()
    if outcome.errors:
        for error in sorted(outcome.errors, key=lambda e: e.row):
            echo(f"{path.name}: {error}")
        echo(f"nothing imported: {len(outcome.errors)} error(s) in {path.name}")
        return 1
    echo(
        f"imported {outcome.added} claims from {path.name} ({outcome.same} already in the "
        f"ledger); {outcome.matched} parked payments matched"
    )
    return 0


def _import(args: argparse.Namespace) -> int:
    from claimflow.settings import load_settings

    if asyncio.run(import_claims(load_settings(), args.file)) != 0:
        raise DataRefused(f"nothing imported from {args.file}: fix the rows listed above")
    return 0


async def _show_claim(settings: Any, reference: str, *, as_json: bool = False) -> str | None:
    from handlers.ledger.claim_view import claim_view, render_claim_view
    from handlers.ledger.database import create_engine, ensure_schema
    from handlers.ledger.store import ClaimLedger

    engine = create_engine(settings.database)
    try:
        await ensure_schema(engine)
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


async def post_payment_files(
    settings: Any,
    paths: list[Path],
    *,
    echo: Any = print,
    stream: Any = None,
    interval: float = 5.0,
) -> None:
    """``claimflow ledger post``: check every file, then post them (handlers.ledger.offline).

    A bad file raises ``FileProblem`` or ``DataRefused`` before anything is posted; a database
    failure propagates for ``claimflow.cli.main`` to tell (what was committed stays posted, and
    posting the same files again completes them: the message ids are the router's).
    """
    from handlers.ledger.database import create_engine, ensure_schema
    from handlers.ledger.followup_rules import load_rules
    from handlers.ledger.offline import check_files, post_files
    from handlers.ledger.posting import Poster
    from handlers.ledger.store import ClaimLedger

    files = check_files(paths)
    engine = create_engine(settings.database, sqlite_on_loop=True)  # a command's own loop
    try:
        await ensure_schema(engine)
        poster = Poster(
            rules=load_rules(settings.handlers.rules_file),
            tolerance=settings.money_tolerance,
            topic_prefix=settings.kafka.topic_prefix,
        )
        summary = await post_files(
            ClaimLedger(engine), poster, files, stream=stream, interval=interval
        )
    finally:
        await engine.dispose()
    echo(summary.line())


def _post(args: argparse.Namespace) -> int:
    from claimflow.settings import load_settings

    asyncio.run(post_payment_files(load_settings(), args.files))
    return 0


def _show(args: argparse.Namespace) -> int:
    from claimflow.settings import load_settings

    text = asyncio.run(_show_claim(load_settings(), args.id, as_json=args.json))
    if text is None:
        raise CommandError(
            f"no claim {args.id!r} in the ledger; `claimflow claims import` adds claims"
        )
    print(text)
    return 0
