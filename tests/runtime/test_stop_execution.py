"""StopExecution as the AWS Step Functions API Reference documents it
(https://docs.aws.amazon.com/step-functions/latest/apireference/API_StopExecution.html):
it takes an error (up to 256 characters) and a cause (up to 32,768), answers with the
stopDate, and the execution ends ABORTED with an ExecutionAborted event that carries both
("ExecutionAbortedEventDetails"). A stop sent right after StartExecution stops it too."""

from __future__ import annotations

import datetime
import json
import uuid
from typing import Any

import pytest

from sluice.testing import StackProcess
from sluice.waiting import wait_for

HOLD = {"StartAt": "Hold", "States": {"Hold": {"Type": "Wait", "Seconds": 300, "End": True}}}
ROLE = "arn:aws:iam::123456789012:role/held"


def _held_execution(stack: StackProcess) -> tuple[Any, str]:
    sfn = stack.client("stepfunctions")
    machine = sfn.create_state_machine(
        name=f"held-{uuid.uuid4().hex[:8]}", definition=json.dumps(HOLD), roleArn=ROLE
    )["stateMachineArn"]
    return sfn, sfn.start_execution(stateMachineArn=machine)["executionArn"]


def _aborted(sfn: Any, arn: str) -> dict[str, Any] | None:
    described: dict[str, Any] = sfn.describe_execution(executionArn=arn)
    return described if described["status"] != "RUNNING" else None


def _entered(sfn: Any, arn: str) -> bool:
    events = sfn.get_execution_history(executionArn=arn)["events"]
    return any(e["type"] == "WaitStateEntered" for e in events)


@pytest.mark.parametrize("when", ["right after the start", "while it waits"])
def test_a_stopped_execution_is_aborted_with_the_error_and_cause_given(
    fixture_stack: StackProcess, when: str
) -> None:
    with fixture_stack.time_scale(1):  # the Wait really waits
        sfn, arn = _held_execution(fixture_stack)
        if when == "while it waits":
            wait_for(lambda: _entered(sfn, arn), what="the Wait state")
        answer = sfn.stop_execution(executionArn=arn, error="Operator.Halt", cause="x" * 32_768)
        described = wait_for(lambda: _aborted(sfn, arn), what="the aborted execution")
    events = sfn.get_execution_history(executionArn=arn)["events"]

    assert isinstance(answer["stopDate"], datetime.datetime)
    assert described["status"] == "ABORTED"
    assert described["stopDate"] >= described["startDate"]
    last = events[-1]
    assert last["type"] == "ExecutionAborted"
    assert last["executionAbortedEventDetails"] == {"error": "Operator.Halt", "cause": "x" * 32_768}


def test_a_stop_without_error_or_cause_aborts_the_execution(fixture_stack: StackProcess) -> None:
    with fixture_stack.time_scale(1):
        sfn, arn = _held_execution(fixture_stack)
        answer = sfn.stop_execution(executionArn=arn)
        described = wait_for(lambda: _aborted(sfn, arn), what="the aborted execution")
    events = sfn.get_execution_history(executionArn=arn)["events"]

    assert isinstance(answer["stopDate"], datetime.datetime)
    assert described["status"] == "ABORTED"
    assert events[-1]["type"] == "ExecutionAborted"
    assert not events[-1].get("executionAbortedEventDetails", {}).get("error")
