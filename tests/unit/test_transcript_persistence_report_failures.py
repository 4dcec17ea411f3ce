"""ReportFailures: Map outcomes -> the Pipes partial batch response."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

import pytest
from aws_lambda_powertools.utilities.typing import LambdaContext

from tasks.transcript_persistence import report_failures
from tasks.transcript_persistence.errors import InvalidOutcomeError


@dataclass
class FakeContext:
    function_name: str = "ReportFailures"
    memory_limit_in_mb: int = 128
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:ReportFailures"
    aws_request_id: str = "00000000-0000-0000-0000-000000000003"


CONTEXT = cast(LambdaContext, FakeContext())


def _failed(message_id: str) -> dict[str, Any]:
    return {
        "messageId": message_id,
        "outcome": "FAILED",
        "error": {"Error": "MalformedResultError", "Cause": '{"errorMessage": "..."}'},
    }


def test_full_success_is_an_empty_list() -> None:
    outcomes = [
        {"messageId": "m1", "callId": "call-1", "outcome": "STORED"},
        {"messageId": "m2", "callId": "call-2", "outcome": "SUPERSEDED"},
        {"messageId": "m3", "reason": "s3:TestEvent for b", "outcome": "SKIPPED"},
    ]

    assert report_failures.handler(outcomes, CONTEXT) == {"batchItemFailures": []}


def test_only_failed_messages_are_reported_in_order() -> None:
    outcomes = [
        _failed("m1"),
        {"messageId": "m2", "outcome": "STORED"},
        _failed("m3"),
        _failed("m1"),  # a duplicate id is reported once
    ]

    assert report_failures.handler(outcomes, CONTEXT) == {
        "batchItemFailures": [{"itemIdentifier": "m1"}, {"itemIdentifier": "m3"}]
    }


def test_empty_batch_is_a_success() -> None:
    assert report_failures.handler([], CONTEXT) == {"batchItemFailures": []}


@pytest.mark.parametrize(
    ("event", "message"),
    [
        ({"batchItemFailures": []}, "Input should be a valid list"),
        ([{"messageId": "m1", "outcome": "LOST"}], "0.outcome: Input should be"),
        ([{"messageId": "", "outcome": "FAILED"}], "0.messageId: String should have at least 1"),
        ([None], "0: Input should be a valid dictionary"),
    ],
)
def test_anything_else_fails_the_execution(event: Any, message: str) -> None:
    # A failed execution makes the Pipe retry the whole batch; a malformed identifier
    # in the response would do the same, so fail loudly here instead.
    with pytest.raises(InvalidOutcomeError, match=message):
        report_failures.handler(event, CONTEXT)
