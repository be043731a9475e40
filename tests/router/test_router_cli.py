"""`claimflow route` and `claimflow schemas export` from the command line."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog

from claimflow.cli import main


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """`claimflow route` configures logging for the process: undo it after the test."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers, root.level = handlers, level
    structlog.reset_defaults()
    logging.captureWarnings(False)


@pytest.mark.usefixtures("restore_logging")
def test_route_with_an_invalid_route_table_stops_naming_the_entry(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    table = tmp_path / "routes.yaml"
    table.write_text("routes:\n  - {data_model: Claim, event_type: Submit, topic: nowhere}\n")
    monkeypatch.setenv("CLAIMFLOW_ROUTER__ROUTE_TABLE", str(table))
    monkeypatch.setenv("CLAIMFLOW_LOGGING__FORMAT", "json")

    assert main(["route"]) == 2
    assert "routes[0] (Claim.Submit): topic must be one of" in capsys.readouterr().err


def test_schemas_export_writes_schemas_and_asyncapi(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["schemas", "export", "--out", str(tmp_path / "schemas")]) == 0
    assert (tmp_path / "asyncapi.yaml").is_file()
    assert (tmp_path / "schemas" / "claim-payment.v1.json").is_file()
    assert "asyncapi.yaml" in capsys.readouterr().out
