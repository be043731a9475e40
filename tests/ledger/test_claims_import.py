"""``claimflow claims import`` and ``claimflow claim show``, on SQLite and on PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from claimflow.cli import main
from claimflow.settings import Settings
from handlers.ledger.cli import import_claims
from handlers.ledger.store import ClaimLedger
from handlers.ledger.tables import Claim

HEADER = "claim_number,charged_amount,patient_first_name,patient_last_name,patient_dob\n"


def settings_for(url: str) -> Settings:
    return Settings.model_validate({"database": {"url": url}})


async def run_import(url: str, path: Path) -> tuple[int, list[str]]:
    lines: list[str] = []
    code = await import_claims(settings_for(url), path, echo=lines.append)
    return code, lines


async def test_a_csv_file_is_imported_and_a_second_import_changes_nothing(
    ledger_url: str, ledger: ClaimLedger, tmp_path: Path
) -> None:
    path = tmp_path / "claims.csv"
    path.write_text(HEADER + "A-1,100.00,Ann,Smith,1970-01-01\nA-2,25.50,Bob,Jones,\n")
    assert await run_import(ledger_url, path) == (
        0,
        ["imported 2 claims from claims.csv (0 already in the ledger); 0 parked payments matched"],
    )
    code, lines = await run_import(ledger_url, path)
    assert code == 0
    assert "(2 already in the ledger)" in lines[0]
    assert await ledger.count(Claim) == 2
    claim = await ledger.find_claim("A-2")
    assert claim is not None
    assert str(claim.charged_amount) == "25.50"


async def test_a_json_file_is_imported(
    ledger_url: str, ledger: ClaimLedger, tmp_path: Path
) -> None:
    path = tmp_path / "claims.json"
    path.write_text(json.dumps({"claims": [{"claim_number": "J-1", "charged_amount": "10.00"}]}))
    assert (await run_import(ledger_url, path))[0] == 0
    assert await ledger.count(Claim) == 1


async def test_a_file_with_bad_rows_imports_nothing_and_names_row_column_and_reason(
    ledger_url: str, ledger: ClaimLedger, tmp_path: Path
) -> None:
    path = tmp_path / "claims.csv"
    path.write_text(
        HEADER
        + "OK-1,100.00,Ann,Smith,1970-01-01\n"
        + "BAD-1,12.3x,SECRET-NAME,Smith,1970-01-01\n"
        + ",5.00,Ann,Smith,1970-13-01\n"
        + "OK-1,100.00,Ann,Smith,1970-01-01\n"
        + "BAD-2,1.001,Ann,Smith,\n"
    )
    code, lines = await run_import(ledger_url, path)
    assert code == 1
    assert lines == [
        'claims.csv: row 3, column charged_amount: must be a decimal amount, like "100.00"',
        "claims.csv: row 4, column claim_number: is required",
        "claims.csv: row 4, column patient_dob: "
        "Input should be a valid date or datetime, month value is outside expected range of 1-12",
        "claims.csv: row 5, column claim_number: same claim as row 2",
        "claims.csv: row 6, column charged_amount: must have at most two decimal places",
        "nothing imported: 5 error(s) in claims.csv",
    ]
    assert "SECRET-NAME" not in "\n".join(lines)
    assert "12.3x" not in "\n".join(lines)
    assert await ledger.count(Claim) == 0


async def test_a_claim_already_in_the_ledger_differently_stops_the_whole_import(
    ledger_url: str, ledger: ClaimLedger, tmp_path: Path
) -> None:
    first = tmp_path / "first.csv"
    first.write_text(HEADER + "A-1,100.00,Ann,Smith,1970-01-01\n")
    assert (await run_import(ledger_url, first))[0] == 0
    second = tmp_path / "second.csv"
    second.write_text(HEADER + "A-2,50.00,Ann,Smith,\nA-1,999.00,Ann,Smith,1970-01-01\n")
    code, lines = await run_import(ledger_url, second)
    assert code == 1
    assert lines[0] == "second.csv: row 3, column claim_number: already in the ledger, differently"
    assert await ledger.count(Claim) == 1


@pytest.mark.usefixtures("ledger_engine")  # migrated, as by `claimflow db upgrade`
async def test_unknown_columns_are_refused(ledger_url: str, tmp_path: Path) -> None:
    path = tmp_path / "claims.csv"
    path.write_text("claim_number,charged_amount,ssn\nA-1,1.00,123\n")
    code, lines = await run_import(ledger_url, path)
    assert code == 1
    assert "unknown CSV columns: ssn" in lines[0]


@pytest.mark.usefixtures("ledger")
def test_claim_show_prints_the_timeline_from_the_command_line(
    ledger_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("CLAIMFLOW_DATABASE__URL", ledger_url)
    path = tmp_path / "claims.csv"
    path.write_text(HEADER + "A-1,100.00,Ann,Smith,1970-01-01\n")
    assert main(["claims", "import", str(path)]) == 0
    assert main(["claim", "show", "a1"]) == 0
    out = capsys.readouterr().out
    assert "Claim A-1  (ledger id 1)" in out
    assert "status:  submitted" in out
    assert "claim A-1 submitted, charged 100.00 (claims.csv row 2)" in out
    assert "Smith" not in out
    assert main(["claim", "show", "NOPE"]) == 1
