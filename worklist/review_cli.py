"""``claimflow review list|show|post|dismiss``: the worklist's review decisions for ops and scripts.

The same decisions as the worklist's pages (:mod:`worklist.review`): through the ledger's
posting rules, refused when the payment changed since ``--version`` was read, recorded on the
claim's timeline, published on ``worklist.decisions.v1`` and audited (actor ``cli:<user>``).
Errors are one line on stderr, naming the field and the reason.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import getpass
import sys
import uuid
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

__all__ = ["register"]

_DISMISSALS = {"not-ours": "not_ours", "duplicate": "duplicate", "write-off": "write_off",
               "park": "park"}  # fmt: skip


def _fail(message: str) -> int:
    print(f"claimflow: {message}", file=sys.stderr)
    return 1


async def _with_ledger(work: Callable[[Any, Any, Any], Awaitable[int]]) -> int:
    from claimflow.settings import load_settings
    from handlers.ledger.database import create_engine, ensure_schema
    from handlers.ledger.followup_rules import load_rules
    from handlers.ledger.posting import Poster
    from handlers.ledger.store import ClaimLedger

    settings = load_settings()
    engine = create_engine(settings.database)
    try:
        await ensure_schema(engine)  # a database that is down or not migrated: one line
        poster = Poster(
            rules=load_rules(settings.handlers.rules_file),
            tolerance=settings.money_tolerance,
            topic_prefix=settings.kafka.topic_prefix,
        )
        return await work(ClaimLedger(engine), poster, settings)
    finally:
        await engine.dispose()


def _paid(payload: str) -> tuple[str, str, str]:
    """(claim number, payer, paid) as the payment says; no patient identifiers."""
    from router.messages import ClaimPaymentMessage

    try:
        message = ClaimPaymentMessage.model_validate_json(payload)
    except ValueError:
        return "?", "?", "?"
    submitter = message.transaction.submitter
    paid = message.claim.payment_amount
    return (
        message.claim.submission_number or "—",
        (submitter.name if submitter else None) or "—",
        f"{paid:,.2f}" if isinstance(paid, Decimal) else "—",
    )


async def _list(ledger: Any, _poster: Any, _settings: Any, *, limit: int) -> int:
    from sqlalchemy import select

    from handlers.ledger.tables import ParkedPayment
    from worklist.review import waiting_reasons

    async with ledger.unit() as unit:
        rows = list(
            await unit.session.scalars(
                select(ParkedPayment)
                .where(
                    ParkedPayment.reason.in_(waiting_reasons()),
                    ParkedPayment.resolved_at.is_(None),
                )
                .order_by(ParkedPayment.parked_at, ParkedPayment.id)
                .limit(limit)
            )
        )
    print("message id\treason\tclaim number\tpayer\tpaid\tcandidate claims")
    for row in rows:
        number, payer, paid = _paid(row.payload)
        candidates = ",".join(str(c) for c in row.candidates or []) or "—"
        print(f"{row.message_id}\t{row.reason}\t{number}\t{payer}\t{paid}\t{candidates}")
    return 0


async def _show(ledger: Any, _poster: Any, _settings: Any, *, message_id: str) -> int:
    from sqlalchemy import select

    from handlers.ledger.tables import Claim
    from worklist.review import item_version

    async with ledger.unit() as unit:
        parked = await unit.parked(message_id)
        if parked is None:
            return _fail(f"message_id: no payment {message_id!r} waits for review")
        ids = list(parked.candidates or [])
        claims = {
            c.id: c for c in await unit.session.scalars(select(Claim).where(Claim.id.in_(ids)))
        }
    number, payer, paid = _paid(parked.payload)
    state = "decided" if parked.resolved_at else "waiting"
    print(f"payment {parked.message_id}: {paid} from {payer} for claim number {number}")
    print(f"reason: {parked.reason} ({state}); note: {parked.note or '—'}")
    print(f"version: {item_version(parked)}")
    print("candidate claims (best first):")
    for rank, claim_id in enumerate(ids, 1):
        claim = claims.get(claim_id)
        if claim is None:
            continue
        print(
            f"  {rank}. claim {claim.id} {claim.claim_number}: charged "
            f"{claim.charged_amount:,.2f}, paid {claim.paid_amount:,.2f}, status {claim.status}"
        )
    if not ids:
        print("  none")
    return 0


async def _decide(
    ledger: Any,
    poster: Any,
    settings: Any,
    *,
    message_id: str,
    action: str,
    version: str | None,
    claim_id: int | None = None,
    reason_code: str | None = None,
    duplicate_of: str | None = None,
    note: str | None = None,
    by: str,
) -> int:
    from worklist.audit import Access, AccessLog
    from worklist.errors import WorklistError
    from worklist.messages import WorklistTopics
    from worklist.people import Person
    from worklist.review import ReviewDecision, decide, item_version

    async with ledger.unit() as unit:
        parked = await unit.parked(message_id)
    if parked is None:
        return _fail(f"message_id: no payment {message_id!r} waits for review")
    topics = WorklistTopics(prefix=settings.kafka.topic_prefix)
    person = Person(subject=f"cli:{by}", name=by, roles=frozenset({"poster"}))
    access = Access(
        actor=person.subject,
        action=f"review_{action}",
        target=f"payment:{message_id}",
        client_address=None,
        request_id=str(uuid.uuid4()),
        claim_ids=(claim_id,) if claim_id is not None else (),
    )
    decision = ReviewDecision(
        action,  # type: ignore[arg-type]
        version or item_version(parked),
        claim_id=claim_id,
        reason_code=reason_code,
        duplicate_of=duplicate_of,
        note=note,
    )
    try:
        decided = await decide(
            ledger,
            poster,
            AccessLog(ledger, topics),
            topics,
            message_id=message_id,
            decision=decision,
            person=person,
            access=access,
        )
    except WorklistError as exc:
        current = getattr(exc, "current_version", None)
        return _fail(f"{exc}" + (f" (current version {current})" if current else ""))
    print(f"decision {decided}: {action.replace('_', ' ')} recorded for payment {message_id}")
    return 0


def _run(args: argparse.Namespace) -> int:
    by = args.by or getpass.getuser()
    work: Callable[[Any, Any, Any], Awaitable[int]]
    if args.review_command == "list":
        work = functools.partial(_list, limit=args.limit)
    elif args.review_command == "show":
        work = functools.partial(_show, message_id=args.id)
    elif args.review_command == "post":
        work = functools.partial(
            _decide,
            message_id=args.id,
            action="post",
            version=args.version,
            claim_id=args.claim,
            note=args.note,
            by=by,
        )
    else:
        work = functools.partial(
            _decide,
            message_id=args.id,
            action=_DISMISSALS[args.as_],
            version=args.version,
            reason_code=args.reason_code,
            duplicate_of=args.duplicate_of,
            note=args.note,
            by=by,
        )
    return asyncio.run(_with_ledger(work))


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Add ``review``; heavy imports happen inside the command function."""
    review = subparsers.add_parser(
        "review",
        help="payments waiting for review: list, show, post to a claim, dismiss",
        epilog="example: claimflow review list --limit 20",
    )
    commands = review.add_subparsers(dest="review_command", required=True, metavar="ACTION")
    listing = commands.add_parser(
        "list",
        help="payments waiting for review, oldest first",
        epilog="example: claimflow review list --limit 20",
    )
    listing.add_argument("--limit", type=int, default=100)
    show = commands.add_parser(
        "show",
        help="one payment, its version and candidate claims",
        epilog="example: claimflow review show d7cdf668-4821-5916-8acf-54fbbd5ff9d6",
    )
    show.add_argument("id", help="the payment's message id")
    post = commands.add_parser(
        "post",
        help="post the payment to a claim (posting rules apply)",
        epilog="example: claimflow review post MESSAGE-ID --claim 12 --version 3:2026-11-30T13:02Z",
    )
    post.add_argument("id", help="the payment's message id")
    post.add_argument("--claim", type=int, required=True, help="the ledger id of the claim")
    dismiss = commands.add_parser(
        "dismiss",
        help="not ours, duplicate, write off, or park",
        epilog="example: claimflow review dismiss MESSAGE-ID --as park --note 'ask the payer'",
    )
    dismiss.add_argument("id", help="the payment's message id")
    dismiss.add_argument("--as", dest="as_", required=True, choices=sorted(_DISMISSALS))
    dismiss.add_argument("--duplicate-of", help="message id of the payment it repeats")
    dismiss.add_argument("--reason-code", help="the write-off's reason code")
    for command in (post, dismiss):
        command.add_argument(
            "--version", help="the version `review show` printed (refused if it changed)"
        )
        command.add_argument("--note", help="why (required for not-ours and park)")
    for command in (listing, show, post, dismiss):
        command.add_argument("--by", help="who decides (default: the login name)")
    review.set_defaults(run=_run)
