"""The review page: a payment waiting for review, its candidate claims side by side, and the
decisions (post to this claim, not ours, duplicate of, write off, park) with the version seen."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from worklist.errors import AccessDeniedError, InvalidDecisionError
from worklist.pages import access, context_of, render, signed_in
from worklist.people import Person
from worklist.review import (
    MAX_NOTE_LENGTH,
    ReviewChangedError,
    ReviewDecision,
    ReviewItemNotFoundError,
    decide,
)
from worklist.review_view import load_review
from worklist.sessions import check_csrf

__all__ = ["decide_review", "review_page"]

_ACTIONS = {"post", "not_ours", "duplicate", "write_off", "park"}
_FIELDS = ("version", "action", "claim_id", "reason_code", "duplicate_of", "note")


async def _review_response(
    request: Request,
    person: Person,
    item_id: int,
    *,
    search: str = "",
    problem: str | None = None,
    asked: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    context = context_of(request)
    view = await load_review(context.ledger.engine, item_id, search)
    if view is None:
        raise ReviewItemNotFoundError(f"There is no review item {item_id}.")
    return render(
        request,
        "review.html",
        {
            "person": person,
            "view": view,
            "next_item": await context.read_model.next_review_item(item_id),
            "problem": problem,
            "asked": asked or {},
            "max_note_length": MAX_NOTE_LENGTH,
        },
        status_code=status_code,
    )


async def review_page(request: Request) -> Response:
    person = signed_in(request)
    item_id = int(request.path_params["item_id"])
    search = str(request.query_params.get("claim", ""))[:80]
    response = await _review_response(request, person, item_id, search=search)
    await context_of(request).access_log.record(
        access(request, person.subject, "view_review", f"review:{item_id}")
    )
    return response


async def decide_review(request: Request) -> Response:
    context = context_of(request)
    item_id = int(request.path_params["item_id"])
    async with request.form(max_files=0, max_fields=12) as form:
        check_csrf(request, form, context.settings.web.public_url)
        fields = {name: str(form.get(name) or "") for name in _FIELDS}
    target = f"review:{item_id}"
    try:
        person = signed_in(request, decide=True)
    except AccessDeniedError as refused:
        await context.access_log.record(
            access(
                request, refused.subject or "anonymous", "review_decision", target, (), "refused"
            )
        )
        raise
    view = await load_review(context.ledger.engine, item_id)
    if view is None:
        raise ReviewItemNotFoundError(f"There is no review item {item_id}.")
    try:
        action = fields["action"]
        if action not in _ACTIONS:
            raise InvalidDecisionError("action", "choose one of the decisions")
        claim_id = int(fields["claim_id"]) if fields["claim_id"].isdigit() else None
        decision = ReviewDecision(
            action,  # type: ignore[arg-type]
            fields["version"],
            claim_id=claim_id,
            reason_code=fields["reason_code"] or None,
            duplicate_of=fields["duplicate_of"] or None,
            note=fields["note"] or None,
        )
        await decide(
            context.ledger,
            context.poster,
            context.access_log,
            context.topics,
            message_id=view.parked.message_id,
            decision=decision,
            person=person,
            access=access(
                request,
                person.subject,
                f"review_{action}",
                target,
                (claim_id,) if claim_id else (),
            ),
        )
    except (ReviewChangedError, InvalidDecisionError) as refused:
        await context.access_log.record(
            access(request, person.subject, "review_decision", target, (), "refused")
        )
        return await _review_response(
            request,
            person,
            item_id,
            problem=refused.message,
            asked=fields,
            status_code=refused.status_code,
        )
    next_item = await context.read_model.next_review_item(item_id)
    if fields["action"] == "post" and claim_id is not None:
        after = f"&next={next_item}" if next_item is not None else ""
        return RedirectResponse(f"/claims/{claim_id}?done=posted{after}", status_code=303)
    if next_item is not None:
        return RedirectResponse(f"/review/{next_item}", status_code=303)
    return RedirectResponse("/queues/needs-review", status_code=303)
