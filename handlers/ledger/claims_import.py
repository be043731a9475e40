"""``claimflow claims import FILE``: claims added in bulk, all rows or none.

The file is streamed twice, so 100,000 claims are never in memory at once:

1. every row is validated (``NewClaim``); repeated claim numbers and claims the ledger already
   holds with other values are errors (a chunk of rows per query). Any error: nothing imported.
2. the new claims are added in ONE transaction, a chunk at a time: one multi-row INSERT per
   chunk, with the row and the "submitted" timeline event ``Poster.add_claim`` writes. Then the
   payments parked unmatched or for review that the new claims may resolve (claim key,
   truncated prefix or folded last name) are posted again by the ledger's rules, each once
   (``Poster.match_parked_again``), a chunk of keys per query. Every claim of the file is on
   file first, so a payment is never suggested to the wrong claim of the same file on its way
   to its own (no stale "review" line on that claim's timeline).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from handlers.ledger.intake import NewClaim, RowError, claim_rows, validate_row
from handlers.ledger.matching import normalise_key, normalise_name
from handlers.ledger.messages import money
from handlers.ledger.posting import Poster
from handlers.ledger.store import ClaimLedger, LedgerUnit

__all__ = ["ImportOutcome", "import_claims_file"]

CHUNK = 500


@dataclass(slots=True)
class ImportOutcome:
    added: int = 0
    same: int = 0
    matched: int = 0
    errors: list[RowError] = field(default_factory=list)


@dataclass(slots=True)
class AddedClaims:
    """What rule 6 needs of the claims an import added: their ids and keys, a list per chunk."""

    ids: set[int] = field(default_factory=set)
    claim_keys: list[list[str]] = field(default_factory=list)
    last_keys: list[list[str]] = field(default_factory=list)


async def import_claims_file(ledger: ClaimLedger, poster: Poster, path: Path) -> ImportOutcome:
    """Validate the whole file, then add its new claims (see the module's docstring)."""
    outcome = ImportOutcome()
    seen: dict[str, int] = {}
    async with ledger.unit() as unit:
        chunk: list[tuple[int, NewClaim]] = []
        for row_number, row in claim_rows(path):
            claim = validate_row(row_number, row)
            if isinstance(claim, list):
                outcome.errors.extend(claim)
                continue
            if claim.claim_number in seen:
                reason = f"same claim as row {seen[claim.claim_number]}"
                outcome.errors.append(RowError(row_number, "claim_number", reason))
                continue
            seen[claim.claim_number] = row_number
            chunk.append((row_number, claim))
            if len(chunk) == CHUNK:
                await _compare(unit, chunk, outcome)
                chunk = []
        await _compare(unit, chunk, outcome)
    if outcome.errors:
        return outcome
    async with ledger.unit() as unit:
        chunk = []
        added = AddedClaims()
        for row_number, row in claim_rows(path):
            claim = validate_row(row_number, row)
            assert not isinstance(claim, list), "the file changed while it was imported"
            chunk.append((row_number, claim))
            if len(chunk) == CHUNK:
                await _add(unit, poster, path, chunk, outcome, added)
                chunk = []
        await _add(unit, poster, path, chunk, outcome, added)
        await _match_parked(unit, poster, added, outcome)
    return outcome


async def _compare(
    unit: LedgerUnit, chunk: list[tuple[int, NewClaim]], outcome: ImportOutcome
) -> None:
    known = await unit.claims_by_number([c.claim_number for _, c in chunk])
    for row, new in chunk:
        old = known.get(new.claim_number)
        if old is not None and _differs(old, new):
            outcome.errors.append(
                RowError(row, "claim_number", "already in the ledger, differently")
            )


def _differs(old: Any, new: NewClaim) -> bool:
    return any(getattr(old, name) != value for name, value in new.model_dump().items())


async def _add(
    unit: LedgerUnit,
    poster: Poster,
    path: Path,
    chunk: list[tuple[int, NewClaim]],
    outcome: ImportOutcome,
    added: AddedClaims,
) -> None:
    if not chunk:
        return
    known = await unit.claims_by_number([c.claim_number for _, c in chunk])
    new = [(row, c) for row, c in chunk if c.claim_number not in known]
    outcome.same += len(chunk) - len(new)
    now = unit.now
    ids = await unit.insert_claims([_claim_row(c, f"{path.name} row {row}", now) for row, c in new])
    for row, claim in new:
        unit.event(
            ids[claim.claim_number],
            "submitted",
            f"claim {claim.claim_number} submitted, charged {money(claim.charged_amount)}"
            + (f", payer {claim.payer_name}" if claim.payer_name else "")
            + f" ({path.name} row {row})",
        )
    added.ids.update(ids.values())
    added.claim_keys.append([normalise_key(c.claim_number) for _, c in new])
    added.last_keys.append([normalise_name(c.patient_last_name) for _, c in new])
    outcome.added += len(new)
    await unit.flush()


async def _match_parked(
    unit: LedgerUnit, poster: Poster, added: AddedClaims, outcome: ImportOutcome
) -> None:
    """Rule 6, once every claim of the file is on file: each payment parked unmatched or for
    review that the new claims may resolve is posted again, once, and so goes to its own
    claim rather than to the first claim of the file that resembles it."""
    seen: set[int] = set()
    for claim_keys, last_keys in zip(added.claim_keys, added.last_keys, strict=True):
        parked = await unit.parked_to_match_again_for(claim_keys, last_keys)
        fresh = [p for p in parked if p.id not in seen]
        seen.update(p.id for p in fresh)
        posted = await poster.match_parked_again(unit, fresh, added.ids)
        outcome.matched += sum(1 for p in posted if p.state == "applied")
    await unit.flush()


def _claim_row(new: NewClaim, source: str, now: Any) -> dict[str, Any]:
    """The claim's row as ``Poster.add_claim`` makes it."""
    return {
        **new.model_dump(),
        "claim_key": normalise_key(new.claim_number),
        "patient_last_key": normalise_name(new.patient_last_name) or None,
        "paid_amount": Decimal("0.00"),
        "patient_responsibility": Decimal("0.00"),
        "adjusted_amount": Decimal("0.00"),
        "status": "submitted",
        "source": source,
        "created_at": now,
        "updated_at": now,
    }
