"""The receiver's public surface grows only on purpose (as httpx's test_exported_members)."""

from __future__ import annotations

import inspect
from types import ModuleType

import pytest

import claimflow.logging
import claimflow.redaction
import receiver.app
import receiver.errors
import receiver.publisher
import sandboxes.redox_sender

SURFACE = {
    receiver.app: ["create_app"],
    receiver.publisher: [
        "Published",
        "Publisher",
        "WebhookPublisher",
    ],
    claimflow.logging: ["configure_logging"],
    claimflow.redaction: [
        "PHI_KEYS",
        "REDACTED",
        "REDACTED_DOCUMENT",
        "mask_text",
        "redact_phi",
        "redact_value",
    ],
    sandboxes.redox_sender: ["Attempt", "Delivery", "RedoxSender", "load_sample"],
}


@pytest.mark.parametrize("module", list(SURFACE), ids=lambda m: m.__name__)
def test_public_names_are_exactly_the_listed_ones(module: ModuleType) -> None:
    assert sorted(module.__all__) == sorted(SURFACE[module])
    defined_here = {
        name
        for name, value in vars(module).items()
        if not name.startswith("_")
        and (inspect.isclass(value) or inspect.isfunction(value))
        and value.__module__ == module.__name__
    }
    assert defined_here <= set(module.__all__)


def test_every_receiver_error_derives_from_the_one_root() -> None:
    errors = [getattr(receiver.errors, name) for name in receiver.errors.__all__]
    exceptions = [e for e in errors if inspect.isclass(e) and issubclass(e, BaseException)]
    assert len(exceptions) == len(errors) - 1  # all but the FieldError record
    roots = [e for e in exceptions if issubclass(e, receiver.errors.ReceiverError)]
    assert roots == exceptions
    assert {e for e in roots if e.retriable} == {
        receiver.errors.PublishError,
        receiver.errors.PublishTimeout,
        receiver.errors.BrokerUnavailable,
    }
