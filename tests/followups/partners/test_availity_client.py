"""The Availity client against the Availity sandbox, over real HTTP."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from partner_support import (
    AVAILITY_SECRET,
    CLIENT_ID,
    REQUEST_NUMBER,
    RunningSandbox,
    availity_settings_for,
    sample_body,
    sample_submission,
)
from pydantic import SecretStr

from handlers.followups.partners.availity import (
    AvailityAuthError,
    AvailityCircuitOpenError,
    AvailityClient,
    AvailityInvalidSubmissionError,
    AvailityNotFoundError,
    AvailityParameterViolationsError,
    AvailityRateLimitedError,
    AvailityRequestRejectedError,
    AvailityStatusPendingError,
    AvailitySubmissionUnconfirmedError,
    AvailityTimeoutError,
    availity_error_reasons,
    parse_submission,
)
from handlers.followups.partners.availity_submission import Payer


async def test_attachment_is_submitted_and_polled_to_its_final_status(
    availity_client: AvailityClient, availity_sandbox: RunningSandbox
) -> None:
    request_id = await availity_client.submit_attachment(sample_submission())
    status = await availity_client.wait_for_final_status(request_id)

    assert isinstance(request_id, int)
    assert status.status == "ACCEPTED"
    assert (status.final, status.accepted) == (True, True)
    assert await availity_sandbox.submissions() == {"total": 1, "by_key": {REQUEST_NUMBER: 1}}
    assert await availity_sandbox.responses("attachment.status") == {"200": 2}


async def test_submitted_the_answer_right_after_the_post_is_not_final(
    availity_client: AvailityClient,
) -> None:
    request_id = await availity_client.submit_attachment(sample_submission())
    status = await availity_client.attachment_status(request_id)
    assert (status.status, status.final, status.accepted) == ("SUBMITTED", False, False)


async def test_unknown_status_values_are_not_final_until_a_known_one(
    availity_client: AvailityClient, availity_sandbox: RunningSandbox
) -> None:
    await availity_sandbox.configure(status_sequence=["SUBMITTED", "IN_TRANSIT", "ACCEPTED"])
    request_id = await availity_client.submit_attachment(sample_submission())

    status = await availity_client.wait_for_final_status(request_id)

    assert status.status == "ACCEPTED"
    assert await availity_sandbox.responses("attachment.status") == {"200": 3}


async def test_unknown_status_until_the_deadline_raises_pending_with_the_id(
    availity_client: AvailityClient, availity_sandbox: RunningSandbox
) -> None:
    await availity_sandbox.configure(status_sequence=["SUBMITTED", "SOMETHING_NEW"])
    request_id = await availity_client.submit_attachment(sample_submission())

    with pytest.raises(AvailityStatusPendingError) as caught:
        await availity_client.wait_for_final_status(request_id, deadline_seconds=0.05)

    assert caught.value.request_id == request_id
    assert caught.value.last_status == "SOMETHING_NEW"
    assert caught.value.retriable is True


async def test_status_of_an_unknown_request_is_not_found(availity_client: AvailityClient) -> None:
    with pytest.raises(AvailityNotFoundError) as caught:
        await availity_client.attachment_status(1)
    assert caught.value.retriable is False


async def test_invalid_submission_is_refused_before_anything_is_sent(
    availity_sandbox: RunningSandbox,
) -> None:
    body = sample_body()
    body["payer"]["id"] = "P" * 36
    with pytest.raises(AvailityInvalidSubmissionError):
        parse_submission(body)
    assert (await availity_sandbox.stats())["tokens_issued"] == 0


async def test_parameter_violations_are_a_clear_error_that_is_not_retried(
    availity_client: AvailityClient, availity_sandbox: RunningSandbox
) -> None:
    # A submission Availity refuses although it passed our checks (rules drifted): built
    # without validation, the one way past the local checks.
    drifted = sample_submission().model_copy(update={"payer": Payer.model_construct(id="P" * 36)})

    with pytest.raises(AvailityParameterViolationsError) as caught:
        await availity_client.submit_attachment(drifted)

    assert caught.value.retriable is False
    assert caught.value.status_code == 400
    (violation,) = caught.value.violations
    assert violation.path == "sendResponseExt.arg0.payer.id"
    assert "sendResponseExt.arg0.payer.id" in str(caught.value)
    assert await availity_sandbox.responses("attachment.submit") == {"400": 1}
    assert (await availity_sandbox.submissions())["total"] == 0


async def test_sandbox_answers_violations_in_the_reference_shape(
    availity_client: AvailityClient, availity_sandbox: RunningSandbox
) -> None:
    body = sample_body()
    body["patient"]["lastName"] = ""
    await availity_client.submit_attachment(sample_submission("warm-up"))  # fetch a token
    (token,) = availity_sandbox.state.tokens.issued_values
    async with httpx.AsyncClient(base_url=availity_sandbox.url) as http:
        response = await http.post(
            "/availity/medical-attachments/ma/external/rest/response",
            json=body,
            headers={"authorization": f"Bearer {token}"},
        )
    assert response.status_code == 400
    assert response.json() == {
        "parameterViolations": [
            {
                "constraintType": "PARAMETER",
                "path": "sendResponseExt.arg0.patient.lastName",
                "message": "Patient Last Name is required.",
                "value": "",
            }
        ]
    }


async def test_token_is_fetched_once_and_reused(
    availity_client: AvailityClient, availity_sandbox: RunningSandbox
) -> None:
    for n in range(3):
        request_id = await availity_client.submit_attachment(sample_submission(f"RN-{n}"))
        await availity_client.wait_for_final_status(request_id)
    assert (await availity_sandbox.stats())["tokens_issued"] == 1


async def test_five_minute_tokens_are_renewed_ahead_of_expiry(
    availity_sandbox: RunningSandbox,
) -> None:
    await availity_sandbox.configure(token_lifetime_seconds=1.0)
    settings = availity_settings_for(availity_sandbox.url, token_refresh_skew_seconds=30)
    async with AvailityClient(settings=settings) as client:
        request_id = await client.submit_attachment(sample_submission())
        await asyncio.sleep(0.6)  # past half the lifetime: renewed before use
        await client.attachment_status(request_id)

    assert (await availity_sandbox.stats())["tokens_issued"] == 2
    assert "401" not in await availity_sandbox.responses("attachment.status")


async def test_stale_token_is_refreshed_once_and_the_submission_sent_once(
    availity_client: AvailityClient, availity_sandbox: RunningSandbox
) -> None:
    await availity_client.submit_attachment(sample_submission("RN-first"))
    await availity_sandbox.fault(kind="stale_token", endpoint="attachment.submit")

    await availity_client.submit_attachment(sample_submission())

    assert await availity_sandbox.responses("attachment.submit") == {"200": 2, "401": 1}
    assert (await availity_sandbox.submissions())["by_key"][REQUEST_NUMBER] == 1


async def test_bad_credentials_are_an_auth_error(availity_sandbox: RunningSandbox) -> None:
    settings = availity_settings_for(availity_sandbox.url, client_secret=SecretStr("wrong"))
    async with AvailityClient(settings=settings) as client:
        with pytest.raises(AvailityAuthError) as caught:
            await client.submit_attachment(sample_submission())
    assert caught.value.retriable is False
    assert await availity_sandbox.responses("token") == {"401": 1}


async def test_429_is_backed_off_and_the_attachment_sent_once(
    availity_client: AvailityClient, availity_sandbox: RunningSandbox
) -> None:
    await availity_sandbox.fault(kind="error", status=429, count=3, endpoint="attachment.submit")

    await availity_client.submit_attachment(sample_submission())

    assert await availity_sandbox.responses("attachment.submit") == {"429": 3, "200": 1}
    assert (await availity_sandbox.submissions())["by_key"] == {REQUEST_NUMBER: 1}


async def test_429_beyond_the_attempts_is_a_retriable_rate_limit_error(
    availity_sandbox: RunningSandbox,
) -> None:
    await availity_sandbox.fault(kind="error", status=429, count=5, endpoint="attachment.submit")
    settings = availity_settings_for(availity_sandbox.url, retry_max_attempts=2)
    async with AvailityClient(settings=settings) as client:
        with pytest.raises(AvailityRateLimitedError) as caught:
            await client.submit_attachment(sample_submission())
    assert caught.value.retriable is True
    assert (await availity_sandbox.submissions())["total"] == 0


async def test_503_before_processing_is_retried(
    availity_client: AvailityClient, availity_sandbox: RunningSandbox
) -> None:
    await availity_sandbox.fault(kind="error", status=503, endpoint="attachment.submit")
    await availity_client.submit_attachment(sample_submission())
    assert (await availity_sandbox.submissions())["by_key"] == {REQUEST_NUMBER: 1}


async def test_500_after_a_submission_is_unconfirmed_and_never_resubmitted(
    availity_client: AvailityClient, availity_sandbox: RunningSandbox
) -> None:
    await availity_sandbox.fault(
        kind="error", status=500, after_processing=True, endpoint="attachment.submit"
    )

    with pytest.raises(AvailitySubmissionUnconfirmedError) as caught:
        await availity_client.submit_attachment(sample_submission())

    assert caught.value.retriable is False
    assert caught.value.request_number == REQUEST_NUMBER
    assert (await availity_sandbox.submissions())["by_key"] == {REQUEST_NUMBER: 1}
    assert await availity_sandbox.responses("attachment.submit") == {"500": 1}


async def test_answer_without_an_id_is_unconfirmed_and_never_resubmitted(
    availity_client: AvailityClient, availity_sandbox: RunningSandbox
) -> None:
    await availity_sandbox.fault(
        kind="error", status=200, after_processing=True, endpoint="attachment.submit"
    )
    with pytest.raises(AvailitySubmissionUnconfirmedError) as caught:
        await availity_client.submit_attachment(sample_submission())
    assert caught.value.status_code == 200
    assert (await availity_sandbox.submissions())["by_key"] == {REQUEST_NUMBER: 1}


async def test_timeout_after_sending_is_unconfirmed_and_never_resubmitted(
    availity_sandbox: RunningSandbox,
) -> None:
    await availity_sandbox.fault(
        kind="slow", delay_seconds=1.5, after_processing=True, endpoint="attachment.submit"
    )
    settings = availity_settings_for(availity_sandbox.url, timeout_seconds=0.5)
    async with AvailityClient(settings=settings) as client:
        with pytest.raises(AvailitySubmissionUnconfirmedError) as caught:
            await client.submit_attachment(sample_submission())

    assert isinstance(caught.value.__cause__, AvailityTimeoutError)
    assert (await availity_sandbox.submissions())["by_key"] == {REQUEST_NUMBER: 1}


async def test_slow_status_poll_times_out_and_is_retried(
    availity_sandbox: RunningSandbox,
) -> None:
    settings = availity_settings_for(availity_sandbox.url, timeout_seconds=0.5)
    async with AvailityClient(settings=settings) as client:
        request_id = await client.submit_attachment(sample_submission())
        await availity_sandbox.fault(kind="slow", delay_seconds=1.5, endpoint="attachment.status")
        status = await client.wait_for_final_status(request_id)
    assert status.final


async def test_status_5xx_is_retried(
    availity_client: AvailityClient, availity_sandbox: RunningSandbox
) -> None:
    request_id = await availity_client.submit_attachment(sample_submission())
    await availity_sandbox.fault(kind="error", status=502, count=2, endpoint="attachment.status")
    status = await availity_client.wait_for_final_status(request_id)
    assert status.final
    assert (await availity_sandbox.responses("attachment.status"))["502"] == 2


async def test_circuit_opens_when_availity_is_down(availity_sandbox: RunningSandbox) -> None:
    await availity_sandbox.fault(kind="error", status=503, count=3, endpoint="attachment.submit")
    settings = availity_settings_for(
        availity_sandbox.url, circuit_failure_threshold=3, circuit_reset_seconds=60
    )
    async with AvailityClient(settings=settings) as client:
        with pytest.raises(AvailityCircuitOpenError) as caught:
            await client.submit_attachment(sample_submission())
    assert caught.value.retriable is True
    assert await availity_sandbox.responses("attachment.submit") == {"503": 3}


async def test_request_rate_stays_within_the_plan(availity_sandbox: RunningSandbox) -> None:
    # 14 requests: far over the plan's 10/s if sent at once; half the plan's rate on our side
    # leaves room for a loaded machine bunching a few arrivals together.
    await availity_sandbox.configure(rate_limit_per_second=10)
    settings = availity_settings_for(availity_sandbox.url, requests_per_second=5)
    async with AvailityClient(settings=settings) as client:
        request_id = await client.submit_attachment(sample_submission())
        await asyncio.gather(*(client.attachment_status(request_id) for _ in range(12)))

    stats = await availity_sandbox.stats()
    assert all("429" not in counts for counts in stats["responses"].values())
    assert stats["responses"]["attachment.status"] == {"200": 12}


async def test_sandbox_answers_429_over_the_plan_rate(availity_sandbox: RunningSandbox) -> None:
    await availity_sandbox.configure(rate_limit_per_second=2)
    async with httpx.AsyncClient(base_url=availity_sandbox.url) as http:
        codes = [
            (await http.post("/v1/token", data={"grant_type": "client_credentials"})).status_code
            for _ in range(4)
        ]
    assert 429 in codes


async def test_the_token_endpoint_takes_credentials_in_the_form_body_only(
    availity_sandbox: RunningSandbox,
) -> None:
    async with httpx.AsyncClient(base_url=availity_sandbox.url) as http:
        basic = await http.post(
            "/v1/token",
            data={"grant_type": "client_credentials", "scope": "hipaa"},
            auth=(CLIENT_ID, AVAILITY_SECRET),
        )
        form = await http.post(
            "/v1/token",
            data={
                "grant_type": "client_credentials",
                "client_id": CLIENT_ID,
                "client_secret": AVAILITY_SECRET,
                "scope": "hipaa",
            },
        )
    assert (basic.status_code, form.status_code) == (401, 200)


async def test_availitys_general_error_body_becomes_reasons_without_values(
    availity_sandbox: RunningSandbox,
) -> None:
    await availity_sandbox.fault(kind="error", status=400, endpoint="attachment.submit")
    settings = availity_settings_for(availity_sandbox.url, retry_max_attempts=1)
    async with AvailityClient(settings=settings) as client:
        with pytest.raises(AvailityRequestRejectedError) as caught:
            await client.submit_attachment(sample_submission())
    assert caught.value.reasons == ("availity: Service error (reason code 400)",)


def test_every_error_of_the_general_body_is_named_by_its_field() -> None:
    body = {
        "statusCode": "400",
        "reasonCode": "21",
        "userMessage": "The request is invalid.",
        "developerMessage": "patient.lastName=Ochoa failed a check",
        "errors": [
            {"code": "7", "errorMessage": "is required", "field": "encounter.serviceFrom"},
            {"code": "8", "errorMessage": "is not allowed", "field": "payloads", "index": 1},
        ],
    }
    reasons = availity_error_reasons(httpx.Response(400, json=body))
    assert reasons == (
        "availity: The request is invalid. (reason code 21)",
        "encounter.serviceFrom: is required",
        "payloads[1]: is not allowed",
    )
    assert not any("Ochoa" in reason for reason in reasons), "the developer message may echo PHI"
