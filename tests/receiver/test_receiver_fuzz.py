"""Whatever the body, the receiver never answers 5xx while the broker works."""

from __future__ import annotations

import asyncio
import copy
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from receiver_support import TOKEN, receiver_settings, running

from claimflow.devstack.kafka import KafkaBroker
from receiver.app import create_app

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

HEADERS = {"verification-token": TOKEN, "content-type": "application/json"}

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)


def _paths(document: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield prefix
    if isinstance(document, dict):
        for key, value in document.items():
            yield from _paths(value, (*prefix, key))
    elif isinstance(document, list):
        for index, value in enumerate(document):
            yield from _paths(value, (*prefix, index))


@st.composite
def mutated_samples(draw: st.DrawFn, sample: dict[str, Any]) -> bytes:
    """The sample with a few values replaced or keys removed anywhere in it."""
    document = copy.deepcopy(sample)
    paths = [p for p in _paths(document) if p]
    for _ in range(draw(st.integers(1, 4))):
        path = draw(st.sampled_from(paths))
        parent = document
        try:
            for part in path[:-1]:
                parent = parent[part]
            if draw(st.booleans()) and isinstance(parent, dict):
                del parent[path[-1]]
            else:
                parent[path[-1]] = draw(json_values)
        except (KeyError, IndexError, TypeError):
            continue  # an earlier mutation removed or replaced this path
    return json.dumps(document).encode()


def bodies(sample: dict[str, Any]) -> st.SearchStrategy[bytes]:
    return st.one_of(
        mutated_samples(sample),
        json_values.map(lambda value: json.dumps(value).encode()),
        st.binary(max_size=200),
    )


def test_fuzzed_bodies_never_get_a_5xx(kafka_broker: KafkaBroker, sample_bytes: bytes) -> None:
    sample = json.loads(sample_bytes)
    app = create_app(receiver_settings(kafka_broker.bootstrap_servers))
    with asyncio.Runner() as runner:
        client_cm = running(app)
        client: httpx.AsyncClient = runner.run(client_cm.__aenter__())
        try:

            @settings(
                max_examples=200,
                deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
            )
            @given(body=bodies(sample))
            def post(body: bytes) -> None:
                answer = runner.run(client.post("/webhooks/redox", content=body, headers=HEADERS))
                assert answer.status_code < 500, answer.text
                assert answer.status_code in (200, 400, 422), answer.text

            post()
        finally:
            runner.run(client_cm.__aexit__(None, None, None))
