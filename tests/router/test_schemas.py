"""The published schemas are generated from the models and committed up to date."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import yaml

from handlers.ledger.claim_view import CLAIM_VIEW_SCHEMA_FILE
from router.schemas import SCHEMAS, asyncapi_document, export_schemas, json_schemas
from router.topics import all_topic_names

DOCS = Path(__file__).parents[2] / "docs"


def test_committed_schemas_equal_a_fresh_export(tmp_path: Path) -> None:
    written = export_schemas(tmp_path / "schemas")
    for path in written:
        committed = DOCS / path.relative_to(tmp_path)
        assert committed.read_text() == path.read_text(), (
            f"{committed} is stale: run `claimflow schemas export`"
        )
    # claim-view.v1.json is the ledger's (handlers/ledger/claim_view.py), checked in
    # tests/ledger/test_claim_view.py.
    assert sorted(p.name for p in (DOCS / "schemas").iterdir()) == sorted(
        [schema.file for schema in SCHEMAS.values()] + [CLAIM_VIEW_SCHEMA_FILE]
    )


def test_every_schema_is_valid_json_schema() -> None:
    for schema in json_schemas().values():
        jsonschema.Draft202012Validator.check_schema(schema)


def test_routed_sample_messages_match_the_published_schema(sample_bytes: bytes) -> None:
    from router.messages import split_payment_batch
    from router.redox import PaymentBatch

    batch = PaymentBatch.model_validate_json(sample_bytes)
    schema = json_schemas()[SCHEMAS["claim_payments"].file]
    for message in split_payment_batch(batch, log_id="log-1"):
        jsonschema.validate(json.loads(message.value), schema)
    jsonschema.validate(
        json.loads(sample_bytes), json_schemas()[SCHEMAS["webhook_payment_batch"].file]
    )


def test_asyncapi_describes_every_topic_of_the_contract() -> None:
    document = asyncapi_document()
    addresses = {channel["address"] for channel in document["channels"].values()}
    assert addresses == set(all_topic_names())
    committed = yaml.safe_load((DOCS / "asyncapi.yaml").read_text())
    assert committed == document
