"""ReportFailures: Map outcomes -> the Pipes partial batch response, a JSONata Pass state.

The state is taken from the flow's definition and run alone on the embedded engine, with
the Map's per-message outcomes as its input.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sluice.in_process import InProcessAws
from sluice.testing import in_process_aws

ASL = Path(__file__).resolve().parents[2] / "statemachines" / "transcript_persistence.asl.json"


class ReportFailures:
    def __init__(self, aws: InProcessAws) -> None:
        state = json.loads(ASL.read_text())["States"]["ReportFailures"]
        self.aws = aws
        self.arn = aws.create_state_machine(
            "report-failures",
            json.dumps({"StartAt": "ReportFailures", "States": {"ReportFailures": state}}),
        )

    def run(self, outcomes: Any) -> dict[str, Any]:
        return self.aws.run(self.arn, outcomes)

    def __call__(self, outcomes: Any) -> Any:
        execution = self.run(outcomes)
        assert execution["status"] == "SUCCEEDED", execution
        return json.loads(execution["output"])


@pytest.fixture(scope="module")
def report_failures() -> Iterator[ReportFailures]:
    with in_process_aws({}) as aws:
        yield ReportFailures(aws)


def _failed(message_id: str) -> dict[str, Any]:
    return {
        "messageId": message_id,
        "outcome": "FAILED",
        "error": {"Error": "MalformedResultError", "Cause": '{"errorMessage": "..."}'},
    }


def test_full_success_is_an_empty_list(report_failures: ReportFailures) -> None:
    outcomes = [
        {"messageId": "m1", "callId": "call-1", "outcome": "STORED"},
        {"messageId": "m2", "callId": "call-2", "outcome": "SUPERSEDED"},
        {"messageId": "m3", "reason": "s3:TestEvent for b", "outcome": "SKIPPED"},
    ]

    assert report_failures(outcomes) == {"batchItemFailures": []}


def test_only_failed_messages_are_reported_in_order(report_failures: ReportFailures) -> None:
    outcomes = [
        _failed("m1"),
        {"messageId": "m2", "outcome": "STORED"},
        _failed("m3"),
        _failed("m1"),  # a duplicate id is reported once
    ]

    assert report_failures(outcomes) == {
        "batchItemFailures": [{"itemIdentifier": "m1"}, {"itemIdentifier": "m3"}]
    }


def test_a_single_failure_is_still_a_list(report_failures: ReportFailures) -> None:
    # JSONata collapses a one-item sequence to the item; the response must stay a list.
    outcomes = [_failed("m1"), {"messageId": "m2", "outcome": "STORED"}]

    assert report_failures(outcomes) == {"batchItemFailures": [{"itemIdentifier": "m1"}]}


def test_empty_batch_is_a_success(report_failures: ReportFailures) -> None:
    assert report_failures([]) == {"batchItemFailures": []}


@pytest.mark.parametrize(
    ("event", "shown"),
    [
        ({"batchItemFailures": []}, '{"batchItemFailures":[]}'),
        ([{"messageId": "m1", "outcome": "LOST"}], '"outcome":"LOST"'),
        ([{"messageId": "", "outcome": "FAILED"}], '"messageId":""'),
        ([None], "[null]"),
    ],
)
def test_anything_else_fails_the_execution(
    report_failures: ReportFailures, event: Any, shown: str
) -> None:
    # A failed execution makes the Pipe retry the whole batch; a malformed identifier
    # in the response would do the same, so fail loudly here instead.
    execution = report_failures.run(event)

    assert execution["status"] == "FAILED"
    assert execution["error"] == "States.QueryEvaluationError"
    assert "not a list of outcomes" in execution["cause"]
    assert shown in execution["cause"]
