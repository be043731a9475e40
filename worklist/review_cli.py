"""``claimflow review …``: the worklist's decisions for ops and scripts.

``list|show|post|dismiss`` decide payments waiting for review; ``note``, ``status-check``,
``attachments`` and ``mark-attachment`` are the worklist's other actions (a note on a claim, a
claim status check now, attachments whose outcome is unknown and releasing one).

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


def _cli_person(by: str) -> Any:
    from worklist.people import Person

    return Person(subject=f"cli:{by}", name=by, roles=frozenset({"poster"}))


def _cli_access(person: Any, action: str, target: str, claim_ids: tuple[int, ...]) -> Any:
    from worklist.audit import Access

    return Access(
        actor=person.subject,
        action=action,
        target=target,
        client_address=None,
        request_id=str(uuid.uuid4()),
        claim_ids=claim_ids,
    )


async def _claim_version(ledger: Any, claim_id: int, given: str | None) -> str | None:
    """``--version`` as given, else the claim's version now (None: no such claim)."""
    from worklist.read_model import claim_version

    async with ledger.engine.connect() as connection:
        current = await claim_version(connection, claim_id)
    return given if given and current is not None else current


async def _note(
    ledger: Any,
    _poster: Any,
    settings: Any,
    *,
    claim_id: int,
    version: str | None,
    text: str,
    by: str,
) -> int:
    from worklist.audit import AccessLog
    from worklist.errors import WorklistError
    from worklist.messages import WorklistTopics
    from worklist.notes import add_note

    seen = await _claim_version(ledger, claim_id, version)
    if seen is None:
        return _fail(f"claim_id: no claim {claim_id} in the ledger")
    topics = WorklistTopics(prefix=settings.kafka.topic_prefix)
    person = _cli_person(by)
    try:
        decided = await add_note(
            ledger,
            AccessLog(ledger, topics),
            topics,
            claim_id=claim_id,
            seen_version=seen,
            note=text,
            person=person,
            access=_cli_access(person, "add_note", f"claim:{claim_id}", (claim_id,)),
        )
    except WorklistError as exc:
        current = getattr(exc, "current_version", None)
        return _fail(f"{exc}" + (f" (current version {current})" if current else ""))
    print(f"decision {decided}: note added to claim {claim_id}")
    return 0


async def _status_check(
    ledger: Any,
    poster: Any,
    settings: Any,
    *,
    claim_id: int,
    version: str | None,
    why: str,
    by: str,
) -> int:
    from worklist.audit import AccessLog
    from worklist.errors import WorklistError
    from worklist.followup_actions import request_status_check
    from worklist.messages import WorklistTopics

    seen = await _claim_version(ledger, claim_id, version)
    if seen is None:
        return _fail(f"claim_id: no claim {claim_id} in the ledger")
    topics = WorklistTopics(prefix=settings.kafka.topic_prefix)
    person = _cli_person(by)
    target = f"claim:{claim_id}"
    try:
        asked = await request_status_check(
            ledger,
            poster,
            AccessLog(ledger, topics),
            topics,
            claim_id=claim_id,
            seen_version=seen,
            why=why,
            person=person,
            access=_cli_access(person, "request_status_check", target, (claim_id,)),
        )
    except WorklistError as exc:
        current = getattr(exc, "current_version", None)
        return _fail(f"{exc}" + (f" (current version {current})" if current else ""))
    said = "requested" if asked.new else "was already requested (nothing sent twice)"
    print(f"status check {asked.command_id} {said} for claim {claim_id}")
    return 0


async def _attachments(ledger: Any, _poster: Any, _settings: Any, *, limit: int) -> int:
    from worklist.followup_state import attachment_version_of
    from worklist.queues import QueueKind
    from worklist.read_model import QueueFilter, ReadModel

    model = ReadModel(ledger.engine)
    async with ledger.engine.connect() as connection:
        page = await model.queue(QueueKind.ATTACHMENT_UNKNOWN, QueueFilter(), limit=limit)
        print("attachment control number\tclaim id\tclaim number\tsince\tversion")
        for row in page.rows:
            acn = str(row.item_id).removeprefix("attachment:")
            version = await attachment_version_of(connection, acn)
            since = row.at.strftime("%Y-%m-%d %H:%M")
            print(f"{acn}\t{row.claim_id or '—'}\t{row.claim_number or '—'}\t{since}\t{version}")
    return 0


async def _mark_attachment(
    ledger: Any,
    _poster: Any,
    settings: Any,
    *,
    acn: str,
    sent: bool,
    request_id: int | None,
    version: str | None,
    why: str,
    by: str,
) -> int:
    from worklist.audit import AccessLog
    from worklist.errors import WorklistError
    from worklist.followup_actions import mark_attachment
    from worklist.followup_state import attachment_version_of
    from worklist.messages import WorklistTopics

    async with ledger.engine.connect() as connection:
        current = await attachment_version_of(connection, acn)
    if current is None:
        return _fail(f"attachment_control_number: no attachment {acn!r}")
    topics = WorklistTopics(prefix=settings.kafka.topic_prefix)
    person = _cli_person(by)
    try:
        decided = await mark_attachment(
            ledger,
            AccessLog(ledger, topics),
            topics,
            control_number=acn,
            seen_version=version or current,
            sent=sent,
            availity_request_id=request_id,
            why=why,
            person=person,
            access=_cli_access(person, "mark_attachment", f"attachment:{acn}", ()),
            deadline_seconds=settings.availity.poll_deadline_seconds,
        )
    except WorklistError as exc:
        return _fail(str(exc))
    then = "its status is polled again" if sent else "it is sent again"
    print(f"decision {decided}: attachment {acn} marked {'sent' if sent else 'not sent'}; {then}")
    return 0


def _run(args: argparse.Namespace) -> int:
    by = args.by or getpass.getuser()
    work: Callable[[Any, Any, Any], Awaitable[int]]
    if args.review_command == "note":
        work = functools.partial(
            _note, claim_id=args.claim_id, version=args.version, text=args.note, by=by
        )
    elif args.review_command == "status-check":
        work = functools.partial(
            _status_check, claim_id=args.claim_id, version=args.version, why=args.why, by=by
        )
    elif args.review_command == "attachments":
        work = functools.partial(_attachments, limit=args.limit)
    elif args.review_command == "mark-attachment":
        work = functools.partial(
            _mark_attachment,
            acn=args.acn,
            sent=args.as_ == "sent",
            request_id=args.availity_request_id,
            version=args.version,
            why=args.why,
            by=by,
        )
    elif args.review_command == "list":
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
        help="worklist decisions: review payments, notes, status checks, attachments",
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
    note = commands.add_parser(
        "note",
        help="add a note to a claim's timeline (refused if the claim changed since --version)",
        epilog="example: claimflow review note 12 --note 'Appeal sent with the operative report'",
    )
    note.add_argument("claim_id", type=int, help="the ledger id of the claim")
    note.add_argument("--note", required=True, help="what you decided and why")
    status_check = commands.add_parser(
        "status-check",
        help="request a claim status check now (the ledger's follow-up command, sent once)",
        epilog="example: claimflow review status-check 12 --why 'Denied CARC 16: what is missing'",
    )
    status_check.add_argument("claim_id", type=int, help="the ledger id of the claim")
    status_check.add_argument("--why", required=True, help="why ask now (on the timeline)")
    attachments = commands.add_parser(
        "attachments",
        help="attachments whose outcome is unknown, with their versions",
        epilog="example: claimflow review attachments --limit 20",
    )
    attachments.add_argument("--limit", type=int, default=100)
    mark = commands.add_parser(
        "mark-attachment",
        help="release an attachment whose outcome is unknown: sent, or not sent",
        epilog="example: claimflow review mark-attachment ACN0042 --as sent "
        "--availity-request-id 880123 --why 'Found at Availity'",
    )
    mark.add_argument("acn", help="the attachment control number")
    mark.add_argument("--as", dest="as_", required=True, choices=("sent", "not-sent"))
    mark.add_argument(
        "--availity-request-id", type=int, help="the request id Availity shows (with --as sent)"
    )
    mark.add_argument("--why", required=True, help="why (on the claim's timeline)")
    for command in (note, status_check, mark):
        command.add_argument(
            "--version", help="the version you looked at (default: now; refused if it changed)"
        )
    for command in (listing, show, post, dismiss, note, status_check, attachments, mark):
        command.add_argument("--by", help="who decides (default: the login name)")
    review.set_defaults(run=_run)
