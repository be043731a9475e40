"""The Integrex client against the Integrex sandbox, over real HTTP."""

from __future__ import annotations

import asyncio
from datetime import date
from decimal import Decimal

import pytest
from partner_support import RunningSandbox, integrex_settings_for, reference_request
from pydantic import SecretStr

from claimflow.settings import MissingSecretError
from handlers.followups.partners.integrex import (
    IntegrexAuthError,
    IntegrexCircuitOpenError,
    IntegrexClient,
    IntegrexInquiryUnconfirmedError,
    IntegrexRateLimitedError,
    IntegrexRequestRejectedError,
    IntegrexResultNotFoundError,
    IntegrexResultPendingError,
    IntegrexServerError,
    IntegrexTimeoutError,
    IntegrexUnavailableError,
)
from handlers.followups.partners.integrex_codes import CategoryGroup


def test_request_is_sent_as_the_reference_shows_it() -> None:
    payload = reference_request().to_payload()
    assert payload["patientDob"] == "1970-01-02"
    assert payload["totalCharges"] == "12345678.90"
    assert payload["trackingId2"] == "ABCDE|FGHIJ|1234"
    assert set(payload) >= {"billingProviderNpi", "subscriberId", "payerId", "trackingId1"}


def test_request_repr_leaves_out_phi() -> None:
    text = repr(reference_request())
    assert "JANE" not in text
    assert "A000000000" not in text
    assert "1970" not in text


async def test_health_check_reports_success(integrex_client: IntegrexClient) -> None:
    assert await integrex_client.health_check() is True


async def test_health_check_is_false_when_integrex_is_unreachable(
    integrex_sandbox: RunningSandbox,
) -> None:
    settings = integrex_settings_for(integrex_sandbox.url, base_url="http://127.0.0.1:9")
    async with IntegrexClient(settings=settings) as client:
        assert await client.health_check() is False


async def test_claim_status_round_trip_reads_the_reference_result(
    integrex_client: IntegrexClient, integrex_sandbox: RunningSandbox
) -> None:
    result = await integrex_client.check_claim_status(reference_request())

    assert result.request_id
    (info,) = result.claim_info
    assert info.category_code == "A4"
    assert info.category.group is CategoryGroup.NOT_FOUND
    assert info.status_code == "35"
    assert info.status_meaning == "Claim/encounter not found"
    assert info.charge_amt == Decimal("12345678.9")
    assert info.date_of_service == date(2020, 12, 31)
    assert info.billing_entity_name == "Sutter Medical Center Sacramento"
    assert info.payer_id == "AETNA"
    assert info.sub_id == "A000000000"
    assert info.internal_account_number2 == "ABCDE|FGHIJ|1234"
    assert info.authorization_case_id is None
    assert info.svc_line == 0
    assert integrex_sandbox.state.env_headers == ["T"]


async def test_env_header_comes_from_settings(integrex_sandbox: RunningSandbox) -> None:
    await integrex_sandbox.configure(production=True)  # a sandbox playing the production service
    async with IntegrexClient(
        settings=integrex_settings_for(integrex_sandbox.url, env="P")
    ) as client:
        await client.submit_claim_status(reference_request())
    assert integrex_sandbox.state.env_headers == ["P"]


async def test_category_chosen_by_tracking_id_maps_to_its_x12_meaning(
    integrex_client: IntegrexClient,
) -> None:
    result = await integrex_client.check_claim_status(reference_request("F1:65:claim-7"))
    (info,) = result.claim_info
    assert info.category.group is CategoryGroup.FINALIZED
    assert info.category.meaning == "Finalized/Payment"
    assert info.status_meaning == "Claim/line has been paid"
    assert info.payment_amt == Decimal("12345678.9")


async def test_category_knob_of_the_sandbox_sets_the_result(
    integrex_client: IntegrexClient, integrex_sandbox: RunningSandbox
) -> None:
    await integrex_sandbox.configure(category_code="R4", status_code="21")
    (info,) = (await integrex_client.check_claim_status(reference_request())).claim_info
    assert info.category.group is CategoryGroup.REQUEST_FOR_INFORMATION
    assert info.status_meaning == "Missing or invalid information"


async def test_pending_results_are_polled_until_ready(
    integrex_client: IntegrexClient, integrex_sandbox: RunningSandbox
) -> None:
    await integrex_sandbox.configure(pending_polls=3)
    request_id = await integrex_client.submit_claim_status(reference_request())

    claim_info = await integrex_client.wait_for_claim_info(request_id)

    assert len(claim_info) == 1
    assert await integrex_sandbox.responses("claim_info.fetch") == {"202": 3, "200": 1}


async def test_fetch_reports_none_while_pending(
    integrex_client: IntegrexClient, integrex_sandbox: RunningSandbox
) -> None:
    request_id = await integrex_client.submit_claim_status(reference_request())
    assert await integrex_client.fetch_claim_info(request_id) is None
    assert await integrex_client.fetch_claim_info(request_id) is not None


async def test_poll_deadline_raises_pending_error_that_keeps_the_id(
    integrex_client: IntegrexClient, integrex_sandbox: RunningSandbox
) -> None:
    await integrex_sandbox.configure(pending_polls=1_000_000)
    request_id = await integrex_client.submit_claim_status(reference_request())

    with pytest.raises(IntegrexResultPendingError) as caught:
        await integrex_client.wait_for_claim_info(request_id, deadline_seconds=0.05)

    assert caught.value.request_id == request_id
    assert caught.value.retriable is True
    assert caught.value.retry_now is False


async def test_unknown_result_id_is_a_permanent_not_found(integrex_client: IntegrexClient) -> None:
    with pytest.raises(IntegrexResultNotFoundError) as caught:
        await integrex_client.fetch_claim_info("no-such-id")
    assert caught.value.retriable is False


async def test_token_is_fetched_once_and_reused(
    integrex_client: IntegrexClient, integrex_sandbox: RunningSandbox
) -> None:
    for _ in range(3):
        await integrex_client.check_claim_status(reference_request())
    assert (await integrex_sandbox.stats())["tokens_issued"] == 1


async def test_token_is_refreshed_ahead_of_expiry_without_a_401(
    integrex_sandbox: RunningSandbox,
) -> None:
    await integrex_sandbox.configure(token_lifetime_seconds=1.0)
    settings = integrex_settings_for(integrex_sandbox.url, token_refresh_skew_seconds=60)
    async with IntegrexClient(settings=settings) as client:
        await client.submit_claim_status(reference_request())
        # The skew is capped at half the lifetime: the token is renewed after 0.5 s.
        await _sleep(0.6)
        await client.submit_claim_status(reference_request())

    assert (await integrex_sandbox.stats())["tokens_issued"] == 2
    assert "401" not in await integrex_sandbox.responses("claim_info.submit")


async def test_stale_token_is_refreshed_once_on_401(
    integrex_client: IntegrexClient, integrex_sandbox: RunningSandbox
) -> None:
    await integrex_client.submit_claim_status(reference_request())
    await integrex_sandbox.fault(kind="stale_token", endpoint="claim_info.submit")

    await integrex_client.submit_claim_status(reference_request())

    assert await integrex_sandbox.responses("claim_info.submit") == {"200": 2, "401": 1}
    assert (await integrex_sandbox.stats())["tokens_issued"] == 2


async def test_fresh_token_refused_again_is_an_auth_error(
    integrex_client: IntegrexClient, integrex_sandbox: RunningSandbox
) -> None:
    await integrex_sandbox.fault(kind="stale_token", endpoint="claim_info.submit", count=2)

    with pytest.raises(IntegrexAuthError) as caught:
        await integrex_client.submit_claim_status(reference_request())

    assert caught.value.retriable is False
    assert await integrex_sandbox.responses("claim_info.submit") == {"401": 2}


async def test_bad_credentials_are_an_auth_error_not_retried(
    integrex_sandbox: RunningSandbox,
) -> None:
    settings = integrex_settings_for(integrex_sandbox.url, client_secret=SecretStr("wrong-secret"))
    async with IntegrexClient(settings=settings) as client:
        with pytest.raises(IntegrexAuthError) as caught:
            await client.submit_claim_status(reference_request())

    assert caught.value.retriable is False
    assert await integrex_sandbox.responses("auth") == {"401": 1}
    assert await integrex_sandbox.responses("claim_info.submit") == {}


async def test_429_and_5xx_are_retried_until_the_call_succeeds(
    integrex_client: IntegrexClient, integrex_sandbox: RunningSandbox
) -> None:
    await integrex_sandbox.fault(kind="error", status=429, count=2, endpoint="claim_info.submit")
    await integrex_sandbox.fault(kind="error", status=502, endpoint="claim_info.submit")
    await integrex_sandbox.fault(kind="error", status=503, endpoint="claim_info.fetch")

    result = await integrex_client.check_claim_status(reference_request())

    assert len(result.claim_info) == 1
    assert await integrex_sandbox.responses("claim_info.submit") == {"429": 2, "502": 1, "200": 1}
    assert (await integrex_sandbox.responses("claim_info.fetch"))["503"] == 1


async def test_token_endpoint_5xx_is_retried(
    integrex_client: IntegrexClient, integrex_sandbox: RunningSandbox
) -> None:
    await integrex_sandbox.fault(kind="error", status=500, endpoint="auth")
    assert await integrex_client.submit_claim_status(reference_request())
    assert await integrex_sandbox.responses("auth") == {"500": 1, "200": 1}


async def test_retries_stop_after_max_attempts_with_a_retriable_error(
    integrex_sandbox: RunningSandbox,
) -> None:
    await integrex_sandbox.fault(kind="error", status=500, count=10, endpoint="claim_info.submit")
    settings = integrex_settings_for(integrex_sandbox.url, retry_max_attempts=3)
    async with IntegrexClient(settings=settings) as client:
        with pytest.raises(IntegrexServerError) as caught:
            await client.submit_claim_status(reference_request())

    assert caught.value.retriable is True
    assert caught.value.status_code == 500
    assert await integrex_sandbox.responses("claim_info.submit") == {"500": 3}


async def test_retries_stop_when_the_time_budget_is_spent(
    integrex_sandbox: RunningSandbox,
) -> None:
    settings = integrex_settings_for(
        integrex_sandbox.url,
        retry_max_attempts=10,
        backoff_base_seconds=5.0,
        backoff_max_seconds=5.0,
        retry_budget_seconds=0.001,
    )
    async with IntegrexClient(settings=settings) as client:
        # Retry-After asks for more than the budget allows: the 429 goes back to the caller.
        await integrex_sandbox.fault(
            kind="error", status=429, retry_after=5, endpoint="claim_info.submit"
        )
        with pytest.raises(IntegrexRateLimitedError) as caught:
            await client.submit_claim_status(reference_request())

    assert caught.value.retriable is True
    assert await integrex_sandbox.responses("claim_info.submit") == {"429": 1}


async def test_an_inquiry_sent_without_an_answer_is_unconfirmed_and_never_sent_again(
    integrex_sandbox: RunningSandbox,
) -> None:
    # Integrex created (and billed) the inquiry, then answered too late.
    await integrex_sandbox.fault(
        kind="slow", delay_seconds=1.5, endpoint="claim_info.submit", after_processing=True
    )
    settings = integrex_settings_for(integrex_sandbox.url, timeout_seconds=0.5)
    async with IntegrexClient(settings=settings) as client:
        with pytest.raises(IntegrexInquiryUnconfirmedError) as caught:
            await client.submit_claim_status(reference_request())
    assert not caught.value.retriable
    assert (await integrex_sandbox.submissions())["total"] == 1


async def test_timeout_on_every_attempt_is_a_retriable_timeout_error(
    integrex_sandbox: RunningSandbox,
) -> None:
    await integrex_sandbox.fault(
        kind="slow", delay_seconds=1.5, count=2, endpoint="claim_info.fetch"
    )
    settings = integrex_settings_for(
        integrex_sandbox.url, timeout_seconds=0.5, retry_max_attempts=2
    )
    async with IntegrexClient(settings=settings) as client:
        with pytest.raises(IntegrexTimeoutError) as caught:
            await client.fetch_claim_info("any-id")
    assert caught.value.retriable is True


async def test_circuit_opens_after_consecutive_failures_and_stops_calling(
    integrex_sandbox: RunningSandbox,
) -> None:
    await integrex_sandbox.fault(kind="error", status=503, count=2, endpoint="claim_info.submit")
    settings = integrex_settings_for(
        integrex_sandbox.url,
        retry_max_attempts=5,
        circuit_failure_threshold=2,
        circuit_reset_seconds=60,
    )
    async with IntegrexClient(settings=settings) as client:
        with pytest.raises(IntegrexCircuitOpenError) as caught:
            await client.submit_claim_status(reference_request())
        with pytest.raises(IntegrexCircuitOpenError):
            await client.submit_claim_status(reference_request())

    assert isinstance(caught.value, IntegrexUnavailableError)
    assert caught.value.retriable is True
    # Two failures reached Integrex; everything after was refused without a request.
    assert await integrex_sandbox.responses("claim_info.submit") == {"503": 2}


async def test_circuit_lets_a_trial_call_through_after_the_reset_time(
    integrex_sandbox: RunningSandbox,
) -> None:
    await integrex_sandbox.fault(kind="error", status=500, count=2, endpoint="claim_info.submit")
    settings = integrex_settings_for(
        integrex_sandbox.url,
        retry_max_attempts=1,
        circuit_failure_threshold=2,
        circuit_reset_seconds=0.5,
    )
    async with IntegrexClient(settings=settings) as client:
        for _ in range(2):
            with pytest.raises(IntegrexServerError):
                await client.submit_claim_status(reference_request())
        with pytest.raises(IntegrexCircuitOpenError):
            await client.submit_claim_status(reference_request())
        await _sleep(0.6)
        assert await client.submit_claim_status(reference_request())
        assert await client.submit_claim_status(reference_request())


async def test_rejected_request_is_permanent_and_not_retried(
    integrex_client: IntegrexClient, integrex_sandbox: RunningSandbox
) -> None:
    await integrex_sandbox.fault(kind="error", status=400, endpoint="claim_info.submit")
    with pytest.raises(IntegrexRequestRejectedError) as caught:
        await integrex_client.submit_claim_status(reference_request())
    assert caught.value.retriable is False
    assert await integrex_sandbox.responses("claim_info.submit") == {"400": 1}


async def test_unreachable_integrex_is_retriable(integrex_sandbox: RunningSandbox) -> None:
    settings = integrex_settings_for(
        integrex_sandbox.url, base_url="http://127.0.0.1:9", retry_max_attempts=2
    )
    async with IntegrexClient(settings=settings) as client:
        with pytest.raises(IntegrexUnavailableError) as caught:
            await client.submit_claim_status(reference_request())
    assert caught.value.retriable is True


def test_client_refuses_to_start_without_its_secret(integrex_sandbox: RunningSandbox) -> None:
    settings = integrex_settings_for(integrex_sandbox.url, client_secret=None)
    with pytest.raises(MissingSecretError, match="CLAIMFLOW_INTEGREX__CLIENT_SECRET"):
        IntegrexClient(settings=settings)


async def _sleep(seconds: float) -> None:
    await asyncio.sleep(seconds)


@pytest.mark.parametrize("env", ["P"])
async def test_a_client_sending_the_production_env_to_the_test_service_is_refused(
    env: str, integrex_sandbox: RunningSandbox
) -> None:
    settings = integrex_settings_for(integrex_sandbox.url, env=env, retry_max_attempts=1)
    async with IntegrexClient(settings=settings) as client:
        with pytest.raises(IntegrexAuthError) as caught:
            await client.submit_claim_status(reference_request())
    assert caught.value.status_code == 403
    assert (await integrex_sandbox.submissions())["total"] == 0


async def test_a_429_counts_against_the_circuit_and_opens_it(
    integrex_sandbox: RunningSandbox,
) -> None:
    await integrex_sandbox.fault(kind="error", status=429, count=2, endpoint="claim_info.submit")
    settings = integrex_settings_for(
        integrex_sandbox.url, retry_max_attempts=1, circuit_failure_threshold=2
    )
    async with IntegrexClient(settings=settings) as client:
        for _ in range(2):
            with pytest.raises(IntegrexRateLimitedError):
                await client.submit_claim_status(reference_request())
        with pytest.raises(IntegrexCircuitOpenError):
            await client.submit_claim_status(reference_request())
    assert await integrex_sandbox.responses("claim_info.submit") == {"429": 2}
