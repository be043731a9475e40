"""The worklist in a real browser: Debian's headless Chromium, driven by Selenium.

The stack is what ``make run`` starts for the worklist: the local provider (a real OIDC
provider process), a demo ledger and ``claimflow web`` as its own process. Every wait is for a
condition on the page, never a fixed sleep.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support import expected_conditions as ready

from claimflow.devstack.browser import headless_chromium
from claimflow.devstack.identity import LocalIdentityProvider
from claimflow.devstack.screenshots import add_ledger_event, open_claim, sign_in, wait
from claimflow.devstack.worklist_stack import RunningWorklist, running_worklist

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def worklist(
    tmp_path_factory: pytest.TempPathFactory, identity_provider: LocalIdentityProvider
) -> Iterator[RunningWorklist]:
    state = tmp_path_factory.mktemp("worklist-stack")
    with running_worklist(state, provider=identity_provider) as running:
        yield running


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[webdriver.Chrome]:
    driver = headless_chromium(tmp_path / "profile")
    yield driver
    driver.quit()


def test_a_poster_signs_in_opens_the_review_queue_and_a_claim_and_adds_a_note(
    worklist: RunningWorklist, browser: webdriver.Chrome
) -> None:
    sign_in(browser, worklist, "poster@example.org")
    browser.find_element(By.CSS_SELECTOR, 'a[href="/queues/needs-review"]').click()
    wait(browser).until(ready.title_contains("Needs review"))
    rows = browser.find_elements(By.CSS_SELECTOR, "table.items tbody tr")
    assert len(rows) == 13  # the demo's twelve and one real payment to post
    assert "choose the one this payment pays" in browser.page_source
    browser.get(f"{worklist.url}/queues/denied")
    browser.find_element(By.TAG_NAME, "body").send_keys("j")  # the first item, by keyboard
    browser.switch_to.active_element.send_keys(Keys.ENTER)
    wait(browser).until(ready.presence_of_element_located((By.ID, "timeline")))
    assert "Status: denied" in browser.find_element(By.TAG_NAME, "h1").text
    browser.find_element(By.ID, "note").send_keys("Appeal sent with the operative report")
    browser.find_element(By.CSS_SELECTOR, "form.note button").click()
    wait(browser).until(ready.text_to_be_present_in_element(
        (By.ID, "timeline"), "Note by Pat Poster: Appeal sent with the operative report"
    ))  # fmt: skip
    assert browser.current_url.endswith("#timeline")


def test_a_stale_note_is_refused_and_the_new_state_shown(
    worklist: RunningWorklist, browser: webdriver.Chrome
) -> None:
    claim_id = worklist.claims["overpaid"]
    sign_in(browser, worklist, "poster@example.org")
    open_claim(browser, worklist, claim_id)
    browser.find_element(By.ID, "note").send_keys("Refund the credit balance")
    add_ledger_event(worklist, claim_id, "Recoupment of 35.82 posted")
    browser.find_element(By.CSS_SELECTOR, "form.note button").click()
    problem = wait(browser).until(ready.presence_of_element_located((By.CSS_SELECTOR, ".problem")))
    assert "changed after you opened it" in problem.text
    assert "Recoupment of 35.82 posted" in browser.find_element(By.ID, "timeline").text
    assert browser.find_element(By.ID, "note").get_attribute("value") == (
        "Refund the credit balance"
    )
    assert "Note by Pat Poster: Refund" not in browser.find_element(By.ID, "timeline").text


def test_a_viewer_sees_a_claim_but_cannot_add_a_note(
    worklist: RunningWorklist, browser: webdriver.Chrome
) -> None:
    claim_id = worklist.claims["denied"]
    sign_in(browser, worklist, "viewer@example.org")
    open_claim(browser, worklist, claim_id)
    assert browser.find_elements(By.ID, "note") == []
    assert browser.find_elements(By.ID, "request-status-check") == []
    assert "can see this claim but not decide" in browser.page_source
    # Even a hand-made request with the session's own CSRF token is refused.
    status = browser.execute_async_script(
        """
        const done = arguments[arguments.length - 1];
        const body = new URLSearchParams({
          csrf_token: document.querySelector('input[name=csrf_token]').value,
          version: '0.0', note: 'Post it anyway'});
        fetch(arguments[0], {method: 'POST', body}).then(r => done(r.status));
        """,
        f"{worklist.url}/claims/{claim_id}/notes",
    )
    assert status == 403
    open_claim(browser, worklist, claim_id)
    assert "Post it anyway" not in browser.find_element(By.ID, "timeline").text


def test_a_poster_posts_a_payment_to_the_suggested_claim_and_sees_its_balance(
    worklist: RunningWorklist, browser: webdriver.Chrome
) -> None:
    sign_in(browser, worklist, "poster@example.org")
    browser.get(f"{worklist.url}/queues/needs-review")
    item, claim_id = worklist.claims["review_item"], worklist.claims["review_claim"]
    browser.find_element(By.CSS_SELECTOR, f'a[href="/review/{item}"]').click()
    wait(browser).until(ready.title_contains("Review payment"))
    candidate = browser.find_element(By.ID, f"cand-{claim_id}")
    assert candidate.text.startswith("1. Claim 66729659983")
    assert "✗ differs" in browser.page_source  # the mistyped claim number
    # At 1280x800 the keys are written where they act, inside the window, in words.
    post = browser.find_element(By.ID, f"post-{claim_id}")
    assert post.get_attribute("aria-keyshortcuts") == "P"
    assert post.text.endswith("P")  # the <kbd>P</kbd> label inside the button
    _inside_the_window(browser, post)
    skip = browser.find_element(By.CSS_SELECTOR, '[data-key="s"]')
    assert skip.text == "Skip: next payment S"
    _inside_the_window(browser, skip)
    browser.find_element(By.TAG_NAME, "body").send_keys("p")  # post, by keyboard
    wait(browser).until(ready.presence_of_element_located((By.ID, "timeline")))
    assert f"/claims/{claim_id}?done=posted" in browser.current_url
    assert "Payment posted to this claim after review" in browser.page_source
    money = browser.find_element(By.CSS_SELECTOR, "table.money").text
    assert "Paid by the payer 65.00" in money
    assert "Open balance 0.00" in money
    timeline = browser.find_element(By.ID, "timeline").text
    assert "payment of 65.00 posted to this claim after review" in timeline
    following = browser.find_element(By.CSS_SELECTOR, '[data-key="n"]')
    assert following.text == "Next payment to review N"
    browser.find_element(By.TAG_NAME, "body").send_keys("n")  # the next payment, by keyboard
    wait(browser).until(ready.title_contains("Review payment"))
    first = browser.current_url
    browser.find_element(By.TAG_NAME, "body").send_keys("s")  # skip it
    wait(browser).until(lambda driver: driver.current_url != first)
    assert "/review/" in browser.current_url


def _inside_the_window(browser: webdriver.Chrome, element: WebElement) -> None:
    assert element.is_displayed()
    width = browser.execute_script("return window.innerWidth")
    assert width == 1280
    right = element.rect["x"] + element.rect["width"]
    assert element.rect["x"] >= 0, element.rect
    assert right <= width, element.rect


def test_a_poster_requests_a_status_check_and_releases_an_unknown_attachment(
    worklist: RunningWorklist, browser: webdriver.Chrome
) -> None:
    sign_in(browser, worklist, "poster@example.org")
    browser.get(f"{worklist.url}/queues/partner-answered")
    wait(browser).until(ready.title_contains("Partner answered"))
    assert "The payer answered the status check: F2 Finalized/Denial" in browser.page_source
    claim_id = worklist.claims["partner_answered"]
    browser.find_element(By.CSS_SELECTOR, f'a[href="/claims/{claim_id}#followups"]').click()
    wait(browser).until(ready.presence_of_element_located((By.ID, "status-why")))
    browser.find_element(By.ID, "status-why").send_keys("Denied CARC 16; ask what is missing")
    browser.find_element(By.ID, "request-status-check").click()
    notice = wait(browser).until(ready.presence_of_element_located((By.CSS_SELECTOR, ".done")))
    assert "Status check requested" in notice.text
    assert "claim status check requested now by Pat Poster: Denied CARC 16" in (
        browser.find_element(By.ID, "timeline").text
    )
    browser.get(f"{worklist.url}/queues/attachment-unknown")
    unknown = worklist.claims["attachment_unknown"]
    browser.find_element(By.CSS_SELECTOR, f'a[href="/claims/{unknown}#followups"]').click()
    form = wait(browser).until(ready.presence_of_element_located((By.CSS_SELECTOR, "form.mark")))
    assert "⚠ Outcome unknown" in browser.find_element(By.ID, "followups").text
    form.find_element(By.CSS_SELECTOR, 'input[value="not_sent"]').click()
    form.find_element(By.CSS_SELECTOR, 'input[name="why"]').send_keys("Not at Availity")
    form.find_element(By.CSS_SELECTOR, "button").click()
    notice = wait(browser).until(ready.presence_of_element_located((By.CSS_SELECTOR, ".done")))
    assert "Attachment marked not sent" in notice.text
    assert "⚠ Outcome unknown" not in browser.find_element(By.ID, "followups").text
    assert "marked not sent; it is sent again — by Pat Poster: Not at Availity" in (
        browser.find_element(By.ID, "timeline").text
    )
