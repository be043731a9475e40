"""Derived message ids: the same uuid5 as ever, so that a re-delivered input made before an
upgrade still yields an output id its consumers drop."""

from __future__ import annotations

import uuid

from hypothesis import given
from hypothesis import strategies as st

from handlers.runtime import derive_message_id

_NAMESPACE = uuid.UUID("6d0c6bb4-5f5e-4d35-9d0b-0b6c1e1a8f3e")


@given(source=st.text(), purpose=st.text())
def test_a_derived_message_id_is_the_uuid5_of_its_source_and_purpose(
    source: str, purpose: str
) -> None:
    assert derive_message_id(source, purpose) == str(
        uuid.uuid5(_NAMESPACE, f"{source}\x00{purpose}")
    )
