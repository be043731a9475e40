"""The billing worklist: server-side latency of every list and the claim page, on PostgreSQL.

A local PostgreSQL server (``fsync=on``), the ledger's and the partner handlers' migrations,
then ``benchmarks/worklist_data.py`` writes 100,000 claims (each with a posted payment and two
timeline events), 20,000 pending status checks and 20,000 open items over the eight queues in
bulk (``CLAIMFLOW_BENCH_WORKLIST_CLAIMS`` / ``_OPEN_ITEMS`` change the sizes).

The app (``worklist.app.create_app``, its real lifespan, middleware and access log) is called
in-process through httpx's ``ASGITransport`` with a signed session cookie of a poster: the time
measured is the app's and the database's, no network, no browser. Per queue: the first page in
each of the four sorts, a payer filter, an amount filter and 20 pages followed by cursor; the
queues overview (every count); 200 claim pages of random claims. Each figure is the p50 and
p95 of its requests. The baseline measured in the same run is ``/healthz`` (the same stack
without a query), so the ratio says what the queries cost.

Then, if ``PROPOSED_INDEXES`` names any (indexes no migration adds yet), the same pages again
after them, for the figures whoever owns those migrations needs. Done when every list and the
claim page answer in < 150 ms p95 as migrated (issue 10's target). The report goes to
docs/performance.md between its markers.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import random
import shutil
import statistics
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import itsdangerous
from pydantic import SecretStr

from benchmarks.worklist_data import LoadedLedger, load
from claimflow.devstack.kafka import free_port
from claimflow.devstack.postgres import LocalPostgres
from claimflow.logging import configure_logging
from claimflow.settings import DatabaseSettings, LoggingSettings, Settings, WebSettings
from handlers.ledger.database import create_engine, upgrade
from worklist.app import create_app
from worklist.followup_state import upgrade_partner_tables
from worklist.people import Person
from worklist.queues import QUEUES, SortKey

#: Indexes the worklist would need that no migration adds yet, as DDL: measured in the same
#: run, on the same data, after the figures as migrated (empty: every one is migrated now, the
#: ledger's in 0005_worklist_indexes, the status checks' in the follow-up chain's f0004).
PROPOSED_INDEXES: tuple[str, ...] = ()
CLAIMS = int(os.environ.get("CLAIMFLOW_BENCH_WORKLIST_CLAIMS", "100000"))
OPEN_ITEMS = int(os.environ.get("CLAIMFLOW_BENCH_WORKLIST_OPEN_ITEMS", "20000"))
TARGET_MS = 150.0
REPORT = Path(__file__).parents[1] / "docs" / "performance.md"
BEGIN, END = "<!-- bench_worklist:begin -->", "<!-- bench_worklist:end -->"
SECRET = "bench-session-secret-0123456789abcdef"  # noqa: S105 - signs the benchmark's cookie
_NULL = open(os.devnull, "w")  # noqa: SIM115 - the log stream of the whole run


def _cookie(person: Person) -> str:
    """A session cookie as Starlette's SessionMiddleware signs it (the poster, signed in now)."""
    now = int(time.time())
    session = {"person": person.as_session(), "signed_in_at": now, "seen_at": now, "csrf": "x"}
    data = base64.b64encode(json.dumps(session).encode())
    return itsdangerous.TimestampSigner(SECRET).sign(data).decode()


@asynccontextmanager
async def _client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings)
    state: dict[str, Any] = {}
    inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    outbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    scope = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": state}
    task = asyncio.create_task(app(scope, inbox.get, outbox.put))  # type: ignore[arg-type]
    await inbox.put({"type": "lifespan.startup"})
    assert (await outbox.get())["type"] == "lifespan.startup.complete"

    async def with_state(scope: Any, receive: Any, send: Any) -> None:
        await app({**scope, "state": dict(state)}, receive, send)

    transport = httpx.ASGITransport(app=with_state, client=("10.0.0.1", 40000))
    person = Person("bench-poster", "Bench Poster", frozenset({"poster"}))
    try:
        async with httpx.AsyncClient(
            transport=transport,
            base_url="https://bench",
            cookies={"claimflow_worklist": _cookie(person)},
        ) as client:
            yield client
    finally:
        await inbox.put({"type": "lifespan.shutdown"})
        await outbox.get()
        await task


async def _timed(call: Callable[[], Awaitable[httpx.Response]]) -> tuple[float, httpx.Response]:
    started = time.perf_counter()
    answer = await call()
    elapsed = (time.perf_counter() - started) * 1000
    assert answer.status_code == 200, (answer.status_code, answer.text[:300])
    return elapsed, answer


def _p(values: list[float], q: float) -> float:
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


async def _queue_pages(client: httpx.AsyncClient, kind: str) -> list[float]:
    times: list[float] = []
    path = f"/queues/{kind}"
    for sort in SortKey:
        elapsed, _ = await _timed(lambda sort=sort: client.get(path, params={"sort": sort}))
        times.append(elapsed)
    for params in ({"payer": "contoso"}, {"min": "100", "max": "900"}, {"lane": "production"}):
        elapsed, _ = await _timed(lambda params=params: client.get(path, params=params))
        times.append(elapsed)
    url: str | None = path
    for _ in range(20):
        if url is None:
            break
        elapsed, answer = await _timed(lambda url=url: client.get(url))
        times.append(elapsed)
        found = answer.text.split('rel="next"', 1)[0].rsplit('<a href="', 1)
        url = (
            found[1].split('"', 1)[0].replace("&amp;", "&") if 'rel="next"' in answer.text else None
        )
    return times


async def _pages(settings: Settings) -> dict[str, list[float]]:
    results: dict[str, list[float]] = {}
    async with _client(settings) as client:
        for _ in range(3):  # warm the connection pool and the statement caches
            await client.get("/")
            await client.get("/claims/1")
        results["baseline: /healthz"] = [(await _timed(lambda: client.get("/healthz")))[0]
                                         for _ in range(200)]  # fmt: skip
        results["queues overview (8 counts)"] = [
            (await _timed(lambda: client.get("/")))[0] for _ in range(30)
        ]
        for kind, queue in QUEUES.items():
            results[f"list: {queue.title}"] = await _queue_pages(client, kind.value)
        picks = random.Random(10).sample(range(1, CLAIMS + 1), 200)  # noqa: S311 - sampling
        results["claim page"] = [
            (await _timed(lambda claim=claim: client.get(f"/claims/{claim}")))[0] for claim in picks
        ]
    return results


async def _measure(
    url: str,
) -> tuple[LoadedLedger, dict[str, list[float]], dict[str, list[float]] | None]:
    engine = create_engine(DatabaseSettings(url=SecretStr(url)))
    try:
        await upgrade(engine)
        await upgrade_partner_tables(engine)
        loaded = await load(engine, claims=CLAIMS, open_items=OPEN_ITEMS)
    finally:
        await engine.dispose()
    settings = Settings(
        web=WebSettings(
            issuer="https://login.invalid/realms/bench",
            client_id="bench",
            session_secret=SecretStr(SECRET),
            public_url="https://bench",
        ),
        database=DatabaseSettings(url=SecretStr(url)),
    )
    today = await _pages(settings)
    if not PROPOSED_INDEXES:
        return loaded, today, None
    engine = create_engine(DatabaseSettings(url=SecretStr(url)))
    try:
        async with engine.begin() as connection:
            for ddl in PROPOSED_INDEXES:
                await connection.exec_driver_sql(ddl)
            await connection.exec_driver_sql("ANALYZE")
    finally:
        await engine.dispose()
    return loaded, today, await _pages(settings)


def _report(
    loaded: LoadedLedger,
    results: dict[str, list[float]],
    indexed: dict[str, list[float]] | None,
) -> str:
    load_average = os.getloadavg()
    base = statistics.median(results["baseline: /healthz"])
    lines = [
        BEGIN,
        "## Billing worklist (`benchmarks/bench_worklist.py`)",
        "",
        "Run: `.venv/bin/python -m benchmarks --only worklist`. PostgreSQL (local, `fsync=on`), "
        f"{loaded.claims:,} claims",
        "(each with a posted payment and two timeline events) and "
        f"{sum(loaded.open_items.values()):,} open items over the eight queues, written in bulk "
        f"in {loaded.seconds:.0f} s. The app is",
        "called in-process (httpx `ASGITransport`, its real lifespan, middleware, session and "
        "access log; no network):",
        "per list the first page in four sorts, three filters and 20 pages by cursor; 30 queue "
        "overviews; 200 claim",
        "pages of random claims. Baseline in the same run: `/healthz` (the same stack, no query).",
        "",
        "| page | open items | requests | p50 ms | p95 ms | p95 / baseline p50 | < 150 ms p95 "
        + ("| with the proposed indexes: p50 / p95 ms |" if indexed else "|"),
        "|---|---:|---:|---:|---:|---:|:---:|" + ("---:|" if indexed else ""),
    ]
    by_title = {f"list: {q.title}": loaded.open_items.get(k, 0) for k, q in QUEUES.items()}
    for name, times in results.items():
        p95 = _p(times, 95)
        items = f"{by_title[name]:,}" if name in by_title else "—"
        ok = "yes" if p95 < TARGET_MS or name.startswith("baseline") else "**no**"
        row = (
            f"| {name} | {items} | {len(times)} | {statistics.median(times):.1f} | {p95:.1f} "
            f"| {p95 / base:.0f}x | {ok} |"
        )
        if indexed:
            other = indexed[name]
            row += f" {statistics.median(other):.1f} / {_p(other, 95):.1f} |"
        lines.append(row)
    if indexed:
        lines += [
            "",
            "The last column is the same run, same data, after these indexes (not in any "
            "migration yet):",
            "",
            *(f"    {ddl};" for ddl in PROPOSED_INDEXES),
        ]
    lines += [
        "",
        "Indexes the worklist's queries rely on, all migrated: `ix_claims_status` and (PostgreSQL)",
        "`ix_claims_credit_balance` (ledger `0005_worklist_indexes`), "
        "`ix_status_checks_needs_person`",
        "(follow-up state `f0004`, on the column the status-check store writes with every state).",
        "",
        f"Machine: {os.cpu_count()} CPUs shared with other workers' test suites; load average "
        f"{load_average[0]:.1f} / {load_average[1]:.1f} / {load_average[2]:.1f} (1/5/15 min) at "
        "the end of the run.",
        "One process, one connection at a time. Compare the ratios of one run, not runs.",
        END,
    ]
    return "\n".join(lines)


def _write(section: str) -> None:
    text = REPORT.read_text() if REPORT.exists() else "# Performance\n"
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        text = head + section + rest.split(END, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    REPORT.write_text(text)


def run() -> int:
    configure_logging(LoggingSettings(format="json"), stream=_NULL)
    root = Path(tempfile.mkdtemp(prefix="claimflow-bench-worklist-"))
    root.chmod(0o755)
    server = LocalPostgres(state_dir=root / "pg", port=free_port())
    server.start()
    try:
        loaded, results, indexed = asyncio.run(_measure(server.url))
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)
    print(f"loaded {loaded.claims:,} claims, {sum(loaded.open_items.values()):,} open items "
          f"in {loaded.seconds:.1f} s")  # fmt: skip
    for name, times in results.items():
        print(f"{name}: p50 {statistics.median(times):.1f} ms, p95 {_p(times, 95):.1f} ms "
              f"({len(times)} requests)", end="")  # fmt: skip
        if indexed:
            other = indexed[name]
            print(f"; with the proposed indexes p50 {statistics.median(other):.1f} ms, "
                  f"p95 {_p(other, 95):.1f} ms", end="")  # fmt: skip
        print()
    print(f"load average {os.getloadavg()}")
    _write(_report(loaded, results, indexed))
    met = all(
        _p(times, 95) < TARGET_MS for name, times in results.items() if name != "baseline: /healthz"
    )
    return 0 if met else 1


if __name__ == "__main__":
    raise SystemExit(run())
