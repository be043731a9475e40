"""The worklist's pages, signed in through the real provider, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from httpx import AsyncClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine
from test_review import parked_payment
from worklist_support import form_values, running, sign_in, web_settings

from claimflow.devstack.identity import LocalIdentityProvider
from handlers.ledger.followup_rules import load_rules
from handlers.ledger.posting import Poster
from handlers.ledger.store import ClaimLedger
from handlers.ledger.tables import AccessRecord
from worklist.app import create_app
from worklist.demo import seed_demo_ledger


@pytest.fixture
async def ids(worklist_engine: AsyncEngine) -> dict[str, int]:
    return await seed_demo_ledger(worklist_engine)


@pytest.fixture
async def client(
    ids: dict[str, int], worklist_url: str, identity_provider: LocalIdentityProvider
) -> AsyncIterator[AsyncClient]:
    app = create_app(web_settings(identity_provider.issuer, worklist_url))
    async with running(app) as client:
        yield client


async def _poster(client: AsyncClient, provider: LocalIdentityProvider) -> None:
    signed = await sign_in(client, provider, "pat@example.org", ["poster"])
    assert signed.status_code == 303
    assert signed.headers["location"] == "/"


async def test_signed_in_staff_see_the_count_of_every_queue(
    client: AsyncClient, identity_provider: LocalIdentityProvider
) -> None:
    await _poster(client, identity_provider)
    page = await client.get("/")
    assert page.status_code == 200
    assert 'href="/queues/needs-review"' in page.text
    assert '<span class="count">12</span>' in page.text
    assert "Available after ledger part 2" not in page.text
    assert 'href="/queues/partner-answered"' in page.text
    assert 'href="/queues/attachment-unknown"' in page.text


async def test_partner_answers_and_unknown_attachments_list_money_and_reasons(
    client: AsyncClient, identity_provider: LocalIdentityProvider, ids: dict[str, int]
) -> None:
    await _poster(client, identity_provider)
    answered = await client.get("/queues/partner-answered", params={"sort": "largest"})
    assert answered.status_code == 200
    assert "The payer answered the status check: F2 Finalized/Denial" in answered.text
    assert "The payer asks for documents" in answered.text
    assert "request a status check again" in answered.text
    assert "The payer rejected the attachment" in answered.text
    assert f'href="/claims/{ids["partner_answered"]}#followups"' in answered.text
    unknown = await client.get("/queues/attachment-unknown", params={"lane": "production"})
    assert unknown.status_code == 200
    assert unknown.text.count("mark it sent or not sent") == 2
    assert unknown.text.count(", open ") == 2


async def test_a_queue_lists_money_and_reasons_and_pages_by_cursor(
    client: AsyncClient, identity_provider: LocalIdentityProvider, worklist_engine: AsyncEngine
) -> None:
    await _poster(client, identity_provider)
    page = await client.get("/queues/needs-review", params={"sort": "largest"})
    assert page.status_code == 200
    assert page.text.count('<td class="num">') == 12
    assert "choose the one this payment pays" in page.text
    assert 'aria-sort="descending"' in page.text
    small = await client.get(
        "/queues/unmatched", params={"payer": "northwind", "lane": "production"}
    )
    assert small.status_code == 200
    assert "Northwind Health Plan" in small.text
    assert "Contoso" not in small.text.split("<tbody>")[1]
    async with ClaimLedger(worklist_engine).unit() as unit:
        actions = [r.action for r in await unit.session.scalars(select(AccessRecord))]
    assert actions.count("view_queue") == 2


async def test_a_bad_filter_is_named_and_the_list_still_answers(
    client: AsyncClient, identity_provider: LocalIdentityProvider
) -> None:
    await _poster(client, identity_provider)
    page = await client.get("/queues/denied", params={"min": "lots", "from": "30/11/2026"})
    assert page.status_code == 422
    assert "Amount from must be an amount like 125.00" in page.text
    assert "From must be a date like 2026-11-30" in page.text
    assert (await client.get("/queues/no-such-queue")).status_code == 404


async def test_the_claim_page_shows_money_payments_and_a_collapsed_timeline(
    client: AsyncClient, identity_provider: LocalIdentityProvider, ids: dict[str, int]
) -> None:
    await _poster(client, identity_provider)
    page = await client.get(f"/claims/{ids['partial']}")
    assert page.status_code == 200
    assert "× 2,000" in page.text  # noqa: RUF001 - the multiplication sign the page shows
    assert page.text.count("Payment held for review") == 1
    assert "Open balance" in page.text
    assert "Money per payer" in page.text
    assert "(latest: its patient share counts)" in page.text
    assert (await client.get("/claims/999999")).status_code == 404


async def test_a_poster_adds_a_note_and_a_stale_one_is_refused_with_the_new_state(
    client: AsyncClient, identity_provider: LocalIdentityProvider, ids: dict[str, int]
) -> None:
    await _poster(client, identity_provider)
    claim = f"/claims/{ids['denied']}"
    csrf, version = form_values((await client.get(claim)).text)
    added = await client.post(
        f"{claim}/notes", data={"csrf_token": csrf, "version": version, "note": "Appeal sent"}
    )
    assert added.status_code == 303
    assert added.headers["location"] == f"{claim}#timeline"
    page = (await client.get(claim)).text
    assert "Note by Pat: Appeal sent" in page
    stale = await client.post(
        f"{claim}/notes", data={"csrf_token": csrf, "version": version, "note": "Write it off"}
    )
    assert stale.status_code == 409
    assert "changed after you opened it" in stale.text
    assert "Note by Pat: Appeal sent" in stale.text  # the new state is shown
    assert ">Write it off</textarea>" in stale.text  # and what they typed is kept
    _, fresh_version = form_values(stale.text)
    assert fresh_version != version


async def test_a_viewer_sees_but_cannot_add_a_note(
    client: AsyncClient,
    identity_provider: LocalIdentityProvider,
    ids: dict[str, int],
    worklist_engine: AsyncEngine,
) -> None:
    await sign_in(client, identity_provider, "val@example.org", ["viewer"])
    claim = f"/claims/{ids['denied']}"
    page = await client.get(claim)
    assert page.status_code == 200
    assert "can see this claim but not decide" in page.text
    assert 'name="version"' not in page.text
    csrf = page.text.split('name="csrf_token" value="')[1].split('"')[0]
    refused = await client.post(
        f"{claim}/notes", data={"csrf_token": csrf, "version": "1.1", "note": "Post it"}
    )
    assert refused.status_code == 403
    assert "viewer" in refused.text
    async with ClaimLedger(worklist_engine).unit() as unit:
        records = list(await unit.session.scalars(select(AccessRecord)))
    assert ("add_note", "refused", "val@example.org") in {
        (r.action, r.outcome, r.actor) for r in records
    }


async def test_a_state_changing_request_without_the_csrf_token_is_refused(
    client: AsyncClient, identity_provider: LocalIdentityProvider, ids: dict[str, int]
) -> None:
    await _poster(client, identity_provider)
    claim = f"/claims/{ids['denied']}"
    _, version = form_values((await client.get(claim)).text)
    forged = await client.post(f"{claim}/notes", data={"version": version, "note": "Forged"})
    assert forged.status_code == 403
    assert "did not come from the worklist" in forged.text
    csrf, _ = form_values((await client.get(claim)).text)
    elsewhere = await client.post(
        f"{claim}/notes",
        data={"csrf_token": csrf, "version": version, "note": "Forged"},
        headers={"origin": "https://evil.example"},
    )
    assert elsewhere.status_code == 403
    assert "Note by Pat: Forged" not in (await client.get(claim)).text


async def test_a_poster_reviews_a_payment_posts_it_to_a_candidate_and_a_stale_post_is_refused(
    client: AsyncClient, identity_provider: LocalIdentityProvider, worklist_engine: AsyncEngine
) -> None:
    claim_id, parked = await parked_payment(
        ClaimLedger(worklist_engine), Poster(rules=load_rules())
    )
    await _poster(client, identity_provider)
    review = f"/review/{parked.id}"
    page = await client.get(review)
    assert page.status_code == 200
    assert "Candidate claims, best first" in page.text
    # Agreement is said in a symbol and words, never by colour alone.
    assert '<span class="agree">✓ agrees</span>' in page.text
    assert '<span class="differ">✗ differs</span>' in page.text
    found = await client.get(review, params={"claim": "ACME-1"})
    assert "ACME-1" in found.text
    csrf, version = form_values(page.text)
    data = {"csrf_token": csrf, "version": version, "action": "post", "claim_id": str(claim_id)}
    posted = await client.post(review, data=data)
    assert posted.status_code == 303
    assert posted.headers["location"].startswith(f"/claims/{claim_id}?done=posted")
    claim_page = (await client.get(f"/claims/{claim_id}")).text
    assert "payment of 80.00 posted to this claim after review" in claim_page
    assert 'Paid by the payer</th><td class="num">80.00' in claim_page
    stale = await client.post(review, data=data)
    assert stale.status_code == 409
    assert "This payment changed after you opened it" in stale.text


async def test_a_viewer_sees_the_review_page_but_cannot_decide(
    client: AsyncClient, identity_provider: LocalIdentityProvider, worklist_engine: AsyncEngine
) -> None:
    claim_id, parked = await parked_payment(
        ClaimLedger(worklist_engine), Poster(rules=load_rules())
    )
    await sign_in(client, identity_provider, "val@example.org", ["viewer"])
    page = await client.get(f"/review/{parked.id}")
    assert page.status_code == 200
    assert "Post to claim" not in page.text
    csrf = page.text.split('name="csrf_token" value="')[1].split('"')[0]
    data = {"csrf_token": csrf, "version": "x", "action": "post", "claim_id": str(claim_id)}
    assert (await client.post(f"/review/{parked.id}", data=data)).status_code == 403


def _field(page: str, form_action: str, name: str) -> str:
    form = page.split(f'action="{form_action}"', 1)[1].split("</form>", 1)[0]
    return form.split(f'name="{name}" value="', 1)[1].split('"', 1)[0]


async def test_a_poster_requests_a_status_check_now_once_and_a_stale_page_is_refused(
    client: AsyncClient, identity_provider: LocalIdentityProvider, ids: dict[str, int]
) -> None:
    await _poster(client, identity_provider)
    claim = f"/claims/{ids['denied']}"
    page = (await client.get(claim)).text
    action = f"{claim}/status-checks"
    data = {
        "csrf_token": _field(page, action, "csrf_token"),
        "version": _field(page, action, "version"),
        "why": "Denied CARC 16; ask what is missing",
    }
    asked = await client.post(action, data=data)
    assert asked.status_code == 303
    assert asked.headers["location"] == f"{claim}?done=status-check"
    shown = (await client.get(asked.headers["location"])).text
    assert "Status check requested" in shown
    assert "claim status check requested now by Pat: Denied CARC 16" in shown
    again = await client.post(action, data=data)  # the same form sent twice
    assert again.headers["location"] == f"{claim}?done=status-check-again"
    forged = await client.post(action, data={**data, "csrf_token": "x"})
    assert forged.status_code == 403
    empty = await client.post(
        action, data={**data, "version": _field(shown, action, "version"), "why": " "}
    )
    assert empty.status_code == 422
    assert "why: say why" in empty.text


async def test_a_poster_marks_an_unknown_attachment_not_sent_and_a_viewer_cannot(
    client: AsyncClient,
    identity_provider: LocalIdentityProvider,
    ids: dict[str, int],
    worklist_engine: AsyncEngine,
) -> None:
    claim_id = ids["attachment_unknown"]
    claim = f"/claims/{claim_id}"
    await sign_in(client, identity_provider, "val@example.org", ["viewer"])
    seen = (await client.get(claim)).text
    assert "⚠ Outcome unknown" in seen
    assert "Save the outcome" not in seen
    acn = seen.split('id="answer-', 1)[1].split('"', 1)[0]
    csrf = seen.split('name="csrf_token" value="')[1].split('"')[0]
    action = f"/attachments/{acn}/outcome"
    refused = await client.post(
        action,
        data={
            "csrf_token": csrf,
            "version": "x",
            "outcome": "not_sent",
            "why": "x",
            "claim_id": str(claim_id),
        },
    )
    assert refused.status_code == 403
    await _poster(client, identity_provider)
    page = (await client.get(claim)).text
    data = {
        "csrf_token": _field(page, action, "csrf_token"),
        "version": _field(page, action, "version"),
        "claim_id": str(claim_id),
        "outcome": "sent",
        "why": "Found it at Availity",
    }
    no_id = await client.post(action, data=data)
    assert no_id.status_code == 422
    assert "availity_request_id: give the request id" in no_id.text
    marked = await client.post(action, data={**data, "outcome": "not_sent"})
    assert marked.status_code == 303
    assert marked.headers["location"] == f"{claim}?done=not-sent"
    after = (await client.get(marked.headers["location"])).text
    assert "Attachment marked not sent" in after
    assert "⚠ Outcome unknown" not in after
    stale = await client.post(action, data={**data, "outcome": "not_sent"})
    assert stale.status_code == 409
    assert "changed after you opened it (it is now intent recorded)" in stale.text
    async with ClaimLedger(worklist_engine).unit() as unit:
        records = list(await unit.session.scalars(select(AccessRecord)))
    assert {(r.action, r.outcome, r.actor) for r in records} >= {
        ("mark_attachment", "refused", "val@example.org"),
        ("mark_attachment", "allowed", "pat@example.org"),
        ("mark_attachment", "refused", "pat@example.org"),
    }


async def test_review_keys_are_written_next_to_what_they_do_and_posting_offers_the_next(
    client: AsyncClient, identity_provider: LocalIdentityProvider, worklist_engine: AsyncEngine
) -> None:
    claim_id, parked = await parked_payment(
        ClaimLedger(worklist_engine), Poster(rules=load_rules())
    )
    await _poster(client, identity_provider)
    page = (await client.get(f"/review/{parked.id}")).text
    assert 'data-key="p" aria-keyshortcuts="P">Post to claim' in page
    assert "<kbd>P</kbd> posts to the suggested claim" in page
    assert 'aria-keyshortcuts="S">Skip: next payment <kbd>S</kbd></a>' in page
    assert 'aria-keyshortcuts="Q">Back to the queue <kbd>Q</kbd></a>' in page
    csrf, version = form_values(page)
    data = {"csrf_token": csrf, "version": version, "action": "post", "claim_id": str(claim_id)}
    posted = await client.post(f"/review/{parked.id}", data=data)
    following = (await client.get(posted.headers["location"])).text
    assert "Payment posted to this claim after review" in following
    assert 'aria-keyshortcuts="N">Next payment to review <kbd>N</kbd></a>' in following
