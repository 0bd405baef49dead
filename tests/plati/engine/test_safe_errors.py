"""The safe sentences end users read for each kind of failure (``plati.engine.safe_errors``): the
function server is named by its registered MCP name only, the detail stays on the record."""

from __future__ import annotations

import pytest

from plati.connectors import (
    FunctionNotFound,
    UpstreamBadReply,
    UpstreamTimeout,
    UpstreamTooLarge,
    UpstreamUnauthorized,
    UpstreamUnreachable,
)
from plati.engine.providers.errors import (
    ProviderRateLimited,
    ProviderRequestError,
    ProviderTimeout,
    ProviderUnauthorized,
    ProviderUnavailable,
)
from plati.engine.safe_errors import TurnFailed, function_failure, function_sentence, turn_failure
from plati.errors import AddressNotAllowed, Forbidden, PlatiError, UpstreamError

URL = "http://10.0.0.7:8443/internal"


@pytest.mark.parametrize(
    ("error", "sentence"),
    [
        (UpstreamUnreachable(f"Nothing answers at {URL} (ClientConnectorError)."), "is not answering right now"),
        (UpstreamTimeout(f"POST {URL}/call did not answer within 30 s."), "took too long to answer"),
        (UpstreamBadReply(f"POST {URL}/call answered HTTP 500: boom"), "sent a reply that could not be used"),
        (UpstreamTooLarge(f"The reply to POST {URL}/call is larger than 10 bytes."), "sent a reply too large to use"),
        (UpstreamUnauthorized(f"{URL} refused the registered credentials (HTTP 401)."), "refused our credentials"),
        (AddressNotAllowed(f"{URL} is in a private range"), "cannot be reached from here"),
        (Forbidden("stdio MCPs are off", code="stdio_disabled"), "cannot be reached from here"),
        (UpstreamError(f"{URL} failed"), "is not available right now"),
        (PlatiError(f"{URL} failed", code="something_new"), "is not available right now"),
    ],
)
def test_each_kind_of_failure_reads_as_its_own_sentence_naming_the_mcp(error: PlatiError, sentence: str) -> None:
    assert function_sentence(error, mcp_name="shop", function="check_order_status") == f"The shop service {sentence}"


def test_an_unknown_function_names_the_function_the_model_called() -> None:
    error = FunctionNotFound(f"{URL} does not know the function 'refund'.", function="refund")
    assert function_sentence(error, mcp_name="Billing", function="billing__refund") == (
        "The Billing service does not offer the function billing__refund"
    )


@pytest.mark.parametrize(
    ("mcp_name", "service"),
    [
        ("Order Management System", "The Order Management System"),
        ("billing-api", "The billing-api"),
        ("  crm \n tools ", "The crm tools"),
        ("", "The service behind lookup"),
        (None, "The service behind lookup"),
    ],
)
def test_the_server_is_named_by_its_registered_name_without_a_doubled_noun(mcp_name: str | None, service: str) -> None:
    error = UpstreamTimeout(f"{URL} did not answer.")
    assert function_sentence(error, mcp_name=mcp_name, function="lookup") == f"{service} took too long to answer"


def test_a_function_failure_keeps_the_detail_and_ties_text_and_record_by_one_error_id() -> None:
    error = UpstreamUnreachable(f"Nothing answers at {URL} (ClientConnectorError).")
    failure = function_failure(error, mcp_name="shop", function="check_order_status")
    assert failure.text == f"The shop service is not answering right now (error id {failure.error_id})."
    assert failure.record() == {
        "error_code": "upstream_unreachable",
        "error_detail": error.message,
        "error_id": failure.error_id,
    }
    assert function_failure(error, mcp_name="shop", function="f").error_id != failure.error_id


@pytest.mark.parametrize(
    ("error", "sentence"),
    [
        (ProviderUnavailable(f"The OpenAI provider failed (HTTP 500): {URL}", provider="OPENAI"), "not available"),
        (ProviderUnauthorized("The OpenAI provider refused the API key.", provider="OPENAI"), "not available"),
        (ProviderTimeout("The OpenAI provider did not answer in time.", provider="OPENAI"), "took too long"),
        (ProviderRateLimited("The OpenAI provider is rate limiting.", provider="OPENAI"), "busy right now"),
        (ProviderRequestError(f"rejected (HTTP 400): {URL}", provider="OPENAI"), "could not handle this request"),
        (AddressNotAllowed(f"{URL} is not allowed"), "not available"),
    ],
)
def test_a_provider_failure_reads_as_a_sentence_about_the_assistant(error: PlatiError, sentence: str) -> None:
    failure = turn_failure(error)
    assert failure.text.startswith("The assistant ") and sentence in failure.text
    assert URL not in failure.text and "HTTP" not in failure.text
    assert failure.text.endswith(f"(error id {failure.error_id}).")


def test_a_failed_turn_answers_the_safe_text_with_the_providers_status_code_and_detail() -> None:
    cause = ProviderRateLimited("The OpenAI provider is rate limiting (HTTP 429).", provider="OPENAI", retry_after=3)
    failure = turn_failure(cause)
    error = TurnFailed(failure, cause)
    assert (error.status_code, error.code, error.message) == (429, "provider_rate_limited", failure.text)
    assert error.details == {
        "provider": "OPENAI",
        "provider_status": 429,
        "retry_after": 3,
        "error_id": failure.error_id,
        "detail": cause.message,
    }
