"""``python -m claimflow.devstack.screenshots`` (``make screenshots``): the worklist's main
pages, as headless Chromium shows them at 1280x800, into docs/img/worklist-*.png.

It starts what ``make run`` starts for the worklist (local provider, demo ledger,
``claimflow web``), signs in as the demo poster through the provider's sign-in page, and
photographs the queues, a queue list, a review with its keys, a claim, the partner answers
queue, an attachment whose outcome is unknown, a status check requested, a refused stale note,
a posted payment and a viewer's claim page.
The browser tests drive the same steps (tests/worklist/test_browser.py).
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path

from pydantic import SecretStr
from selenium import webdriver
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ready
from selenium.webdriver.support.wait import WebDriverWait

from claimflow.devstack.browser import headless_chromium, viewport
from claimflow.devstack.worklist_stack import RunningWorklist, running_worklist
from claimflow.settings import DatabaseSettings

__all__ = ["add_ledger_event", "main", "open_claim", "sign_in", "sign_out"]

IMAGES = Path(__file__).resolve().parents[2] / "docs" / "img"


def wait(driver: webdriver.Chrome, seconds: float = 20) -> WebDriverWait[webdriver.Chrome]:
    """Wait for a condition on the page, riding out a page that is being replaced.

    A click on a link or a form's button starts a navigation, and a condition checked while the
    old document is torn down can find an element and then lose it (Chromium reports "Node with
    given id does not belong to the document", a stale element, or no such element). Each is a
    moment of the navigation, not an answer, so the wait checks again; a condition that never
    holds still ends in a TimeoutException after ``seconds``.
    """
    return WebDriverWait(driver, seconds, ignored_exceptions=(WebDriverException,))


def sign_in(driver: webdriver.Chrome, worklist: RunningWorklist, subject: str) -> None:
    """Open the worklist, sign in at the provider as the predefined ``subject``, land home."""
    driver.get(f"{worklist.url}/")
    button = wait(driver).until(
        ready.element_to_be_clickable((By.CSS_SELECTOR, f'button[name="sub"][value="{subject}"]'))
    )
    button.click()
    wait(driver).until(ready.presence_of_element_located((By.CSS_SELECTOR, "ul.cards")))


def sign_out(driver: webdriver.Chrome) -> None:
    driver.find_element(By.CSS_SELECTOR, "header form button").click()
    wait(driver).until(ready.title_contains("Signed out"))


def open_claim(driver: webdriver.Chrome, worklist: RunningWorklist, claim_id: int) -> None:
    driver.get(f"{worklist.url}/claims/{claim_id}")
    wait(driver).until(ready.presence_of_element_located((By.ID, "timeline")))


async def _add_event(database_url: str, claim_id: int, summary: str) -> None:
    from handlers.ledger.database import create_engine
    from handlers.ledger.store import ClaimLedger

    engine = create_engine(DatabaseSettings(url=SecretStr(database_url)))
    try:
        async with ClaimLedger(engine).unit() as unit:
            unit.event(claim_id, "posted", summary)
    finally:
        await engine.dispose()


def add_ledger_event(worklist: RunningWorklist, claim_id: int, summary: str) -> None:
    """The ledger changes the claim meanwhile (as a posting would)."""
    asyncio.run(_add_event(worklist.database_url, claim_id, summary))


def _shoot(driver: webdriver.Chrome, name: str, into: Path, *, whole: bool = False) -> Path:
    """The 1280x800 view; ``whole`` makes the page as tall as its content for this picture."""
    path = into / f"worklist-{name}.png"
    if whole:
        height = int(driver.execute_script("return document.documentElement.scrollHeight"))
        viewport(driver, 1280, min(max(height, 800), 2400))
    driver.save_screenshot(str(path))
    viewport(driver)
    return path


def take(into: Path = IMAGES) -> list[Path]:
    into.mkdir(parents=True, exist_ok=True)
    shots: list[Path] = []
    with tempfile.TemporaryDirectory(prefix="claimflow-shots-") as temporary:
        state = Path(temporary)
        with running_worklist(state / "stack") as worklist:
            ids = worklist.claims
            driver = headless_chromium(state / "profile")
            try:
                sign_in(driver, worklist, "poster@example.org")
                shots.append(_shoot(driver, "queues", into))
                driver.find_element(By.CSS_SELECTOR, 'a[href="/queues/needs-review"]').click()
                wait(driver).until(ready.title_contains("Needs review"))
                shots.append(_shoot(driver, "queue", into))
                driver.get(f"{worklist.url}/review/{ids['review_item']}")
                wait(driver).until(ready.title_contains("Review payment"))
                shots.append(_shoot(driver, "review", into, whole=True))
                open_claim(driver, worklist, ids["partial"])
                shots.append(_shoot(driver, "claim", into, whole=True))
                driver.get(f"{worklist.url}/queues/partner-answered")
                wait(driver).until(ready.title_contains("Partner answered"))
                shots.append(_shoot(driver, "partner-answered", into))
                open_claim(driver, worklist, ids["attachment_unknown"])
                driver.execute_script("document.getElementById('followups').scrollIntoView()")
                shots.append(_shoot(driver, "attachment-unknown", into))
                open_claim(driver, worklist, ids["partner_answered"])
                driver.find_element(By.ID, "status-why").send_keys("Denied CARC 16: ask why")
                driver.find_element(By.ID, "request-status-check").click()
                wait(driver).until(ready.presence_of_element_located((By.CSS_SELECTOR, ".done")))
                shots.append(_shoot(driver, "status-check-requested", into))
                open_claim(driver, worklist, ids["denied"])
                driver.find_element(By.ID, "note").send_keys("Appeal with the operative report")
                add_ledger_event(worklist, ids["denied"], "Corrected payment of 0.00 posted")
                driver.find_element(By.CSS_SELECTOR, "form.note button").click()
                wait(driver).until(ready.presence_of_element_located((By.CSS_SELECTOR, ".problem")))
                shots.append(_shoot(driver, "stale-note", into))
                driver.get(f"{worklist.url}/review/{ids['review_item']}")
                wait(driver).until(ready.title_contains("Review payment"))
                driver.find_element(By.ID, f"post-{ids['review_claim']}").click()
                wait(driver).until(ready.presence_of_element_located((By.ID, "timeline")))
                shots.append(_shoot(driver, "posted", into))
                sign_out(driver)
                sign_in(driver, worklist, "viewer@example.org")
                open_claim(driver, worklist, ids["denied"])
                driver.execute_script("document.getElementById('note-h').scrollIntoView()")
                shots.append(_shoot(driver, "viewer", into))
            finally:
                driver.quit()
    return shots


def main() -> int:
    for path in take():
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
