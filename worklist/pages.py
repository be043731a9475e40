"""The worklist's pages: queues, a queue list, a claim, and adding a note.

Every page that shows claims needs a signed-in ``viewer`` (or ``poster``) and leaves an access
record; adding a note needs a ``poster``, the session's CSRF token and the claim version the
person saw.
"""

from __future__ import annotations

from typing import Any, Literal
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from worklist.audit import Access
from worklist.client_address import client_address
from worklist.context import WorklistContext
from worklist.cursor import Cursor
from worklist.errors import (
    AccessDeniedError,
    AttachmentChangedError,
    ClaimNotFoundError,
    InvalidDecisionError,
    StaleDecisionError,
)
from worklist.filters import LANES, read_list_request
from worklist.followup_actions import MAX_WHY_LENGTH, mark_attachment, request_status_check
from worklist.notes import MAX_NOTE_LENGTH, add_note
from worklist.people import Person
from worklist.queues import QUEUES, QueueKind, SortKey
from worklist.sessions import check_csrf, csrf_token, current_person

__all__ = [
    "add_claim_note",
    "claim_page",
    "mark_attachment_outcome",
    "queue_list",
    "queues_overview",
    "request_claim_status_check",
]


def context_of(request: Request) -> WorklistContext:
    context: WorklistContext = request.state.context
    return context


def signed_in(request: Request, *, decide: bool = False) -> Person:
    """The signed-in person, if their role allows this page; raises otherwise."""
    context = context_of(request)
    person = current_person(request, context.settings.web)
    if not person.can_view:
        raise AccessDeniedError("Your account has no worklist role.", subject=person.subject)
    if decide and not person.can_decide:
        raise AccessDeniedError(
            "Your role (viewer) can see the worklist but not decide. Ask a poster to record "
            "this decision.",
            subject=person.subject,
        )
    return person


def access(
    request: Request,
    actor: str,
    action: str,
    target: str,
    claim_ids: tuple[int, ...] = (),
    outcome: Literal["allowed", "refused"] = "allowed",
) -> Access:
    return Access(
        actor=actor,
        action=action,
        target=target,
        client_address=client_address(request, context_of(request).settings.web.trusted_proxies),
        request_id=str(getattr(request.state, "request_id", "")),
        claim_ids=claim_ids,
        outcome=outcome,
    )


def render(
    request: Request, template: str, values: dict[str, Any], *, status_code: int = 200
) -> Response:
    context = context_of(request)
    person = values.get("person")
    return context.templates.TemplateResponse(
        request,
        template,
        {
            "queues": QUEUES,
            "csrf_token": csrf_token(request),
            "person": person,
            **values,
        },
        status_code=status_code,
    )


async def queues_overview(request: Request) -> Response:
    person = signed_in(request)
    context = context_of(request)
    counts = await context.read_model.counts()
    await context.access_log.record(access(request, person.subject, "view_queues", "queues"))
    return render(request, "queues.html", {"person": person, "counts": counts})


async def queue_list(request: Request) -> Response:
    person = signed_in(request)
    context = context_of(request)
    try:
        kind = QueueKind(request.path_params["kind"])
    except ValueError:
        return render(
            request,
            "error.html",
            {"person": person, "title": "No such queue", "message": "That queue does not exist."},
            status_code=404,
        )
    asked = read_list_request(request.query_params)
    cursor = Cursor.decode(asked.after, kind=kind, sort=asked.sort) if asked.after else None
    page = await context.read_model.queue(
        kind, asked.where, sort=asked.sort, cursor=cursor, limit=context.settings.web.page_size
    )
    claim_ids = tuple(sorted({row.claim_id for row in page.rows if row.claim_id is not None}))
    await context.access_log.record(
        access(request, person.subject, "view_queue", f"queue:{kind.value}", claim_ids)
    )
    kept = {name: value for name, value in asked.values.items() if value}
    next_url = None
    if page.next_cursor:
        next_url = f"{request.url.path}?{urlencode({**kept, 'after': page.next_cursor})}"
    return render(
        request,
        "queue.html",
        {
            "person": person,
            "queue": QUEUES[kind],
            "page": page,
            "asked": asked,
            "lanes": LANES,
            "sorts": list(SortKey),
            "next_url": next_url,
            "first_url": f"{request.url.path}?{urlencode(kept)}" if asked.after else None,
        },
        status_code=422 if asked.errors else 200,
    )


async def _claim_response(
    request: Request,
    person: Person,
    claim_id: int,
    *,
    problem: str | None = None,
    note: str = "",
    why: str = "",
    done: str | None = None,
    next_item: int | None = None,
    status_code: int = 200,
) -> Response:
    context = context_of(request)
    view = await context.read_model.claim(claim_id)
    if view is None:
        raise ClaimNotFoundError(f"There is no claim {claim_id} in the ledger.")
    return render(
        request,
        "claim.html",
        {
            "person": person,
            "view": view,
            "problem": problem,
            "note": note,
            "why": why,
            "done": done,
            "next_item": next_item,
            "max_note_length": MAX_NOTE_LENGTH,
            "max_why_length": MAX_WHY_LENGTH,
        },
        status_code=status_code,
    )


_DONE = {
    "status-check": "Status check requested: it is on its way to the payer through Integrex.",
    "status-check-again": "That status check was already requested; nothing was sent twice.",
    "sent": "Attachment marked sent: its status is asked of Availity again.",
    "not-sent": "Attachment marked not sent: it is sent again.",
    "note": "Note added.",
    "posted": "Payment posted to this claim after review; its money is below.",
}


async def claim_page(request: Request) -> Response:
    person = signed_in(request)
    claim_id = int(request.path_params["claim_id"])
    done = _DONE.get(str(request.query_params.get("done", "")))
    following = str(request.query_params.get("next", ""))
    response = await _claim_response(
        request,
        person,
        claim_id,
        done=done,
        next_item=int(following) if following.isdigit() else None,
    )
    await context_of(request).access_log.record(
        access(request, person.subject, "view_claim", f"claim:{claim_id}", (claim_id,))
    )
    return response


async def add_claim_note(request: Request) -> Response:
    context = context_of(request)
    claim_id = int(request.path_params["claim_id"])
    async with request.form(max_files=0, max_fields=10) as form:
        check_csrf(request, form, context.settings.web.public_url)
        fields = {name: str(form.get(name) or "") for name in ("version", "note")}
    try:
        person = signed_in(request, decide=True)
    except AccessDeniedError as refused:
        await context.access_log.record(
            access(
                request,
                refused.subject or "anonymous",
                "add_note",
                f"claim:{claim_id}",
                (claim_id,),
                "refused",
            )
        )
        raise
    try:
        await add_note(
            context.ledger,
            context.access_log,
            context.topics,
            claim_id=claim_id,
            seen_version=fields["version"],
            note=fields["note"],
            person=person,
            access=access(request, person.subject, "add_note", f"claim:{claim_id}", (claim_id,)),
        )
    except (StaleDecisionError, InvalidDecisionError) as refused:
        await context.access_log.record(
            access(request, person.subject, "add_note", f"claim:{claim_id}", (claim_id,), "refused")
        )
        return await _claim_response(
            request,
            person,
            claim_id,
            problem=refused.message,
            note=fields["note"],
            status_code=refused.status_code,
        )
    return RedirectResponse(f"/claims/{claim_id}#timeline", status_code=303)


async def _decider(
    request: Request, action: str, target: str, claim_ids: tuple[int, ...]
) -> Person:
    """The signed-in poster; a refusal is audited before it is raised."""
    try:
        return signed_in(request, decide=True)
    except AccessDeniedError as refused:
        await context_of(request).access_log.record(
            access(request, refused.subject or "anonymous", action, target, claim_ids, "refused")
        )
        raise


async def request_claim_status_check(request: Request) -> Response:
    context = context_of(request)
    claim_id = int(request.path_params["claim_id"])
    async with request.form(max_files=0, max_fields=10) as form:
        check_csrf(request, form, context.settings.web.public_url)
        fields = {name: str(form.get(name) or "") for name in ("version", "why")}
    target = f"claim:{claim_id}"
    person = await _decider(request, "request_status_check", target, (claim_id,))
    try:
        requested = await request_status_check(
            context.ledger,
            context.poster,
            context.access_log,
            context.topics,
            claim_id=claim_id,
            seen_version=fields["version"],
            why=fields["why"],
            person=person,
            access=access(request, person.subject, "request_status_check", target, (claim_id,)),
        )
    except (StaleDecisionError, InvalidDecisionError) as refused:
        await context.access_log.record(
            access(request, person.subject, "request_status_check", target, (claim_id,), "refused")
        )
        return await _claim_response(
            request,
            person,
            claim_id,
            problem=refused.message,
            why=fields["why"],
            status_code=refused.status_code,
        )
    done = "status-check" if requested.new else "status-check-again"
    return RedirectResponse(f"/claims/{claim_id}?done={done}", status_code=303)


async def mark_attachment_outcome(request: Request) -> Response:
    context = context_of(request)
    control_number = str(request.path_params["acn"])
    fields_named = ("version", "outcome", "availity_request_id", "why", "claim_id")
    async with request.form(max_files=0, max_fields=12) as form:
        check_csrf(request, form, context.settings.web.public_url)
        fields = {name: str(form.get(name) or "").strip() for name in fields_named}
    claim_id = int(fields["claim_id"]) if fields["claim_id"].isdigit() else None
    claim_ids = (claim_id,) if claim_id is not None else ()
    target = f"attachment:{control_number}"
    person = await _decider(request, "mark_attachment", target, claim_ids)
    try:
        if fields["outcome"] not in ("sent", "not_sent"):
            raise InvalidDecisionError("outcome", "choose sent or not sent")
        request_id = fields["availity_request_id"]
        if request_id and not request_id.isdigit():
            raise InvalidDecisionError("availity_request_id", "digits only, as Availity shows it")
        await mark_attachment(
            context.ledger,
            context.access_log,
            context.topics,
            control_number=control_number,
            seen_version=fields["version"],
            sent=fields["outcome"] == "sent",
            availity_request_id=int(request_id) if request_id else None,
            why=fields["why"],
            person=person,
            access=access(request, person.subject, "mark_attachment", target, claim_ids),
            deadline_seconds=context.settings.availity.poll_deadline_seconds,
        )
    except (AttachmentChangedError, InvalidDecisionError, ClaimNotFoundError) as refused:
        await context.access_log.record(
            access(request, person.subject, "mark_attachment", target, claim_ids, "refused")
        )
        if claim_id is None:
            raise
        return await _claim_response(
            request,
            person,
            claim_id,
            problem=refused.message,
            status_code=refused.status_code,
        )
    done = "sent" if fields["outcome"] == "sent" else "not-sent"
    where = f"/claims/{claim_id}?done={done}" if claim_id else "/queues/attachment-unknown"
    return RedirectResponse(where, status_code=303)
