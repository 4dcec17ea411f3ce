"""StepFunctionsTarget against a stub client: sync/async calls and batchItemFailures rules."""

from __future__ import annotations

import json
from typing import Any, cast

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from sluice.triggers.targets import Outcome, StepFunctionsTarget, check_outcome

SM = "arn:aws:states:us-east-1:123456789012:stateMachine:flow"
EXEC = "arn:aws:states:us-east-1:123456789012:express:flow:run-1"


class StubStepFunctions:
    def __init__(self, response: dict[str, Any] | Exception) -> None:
        self.response = response
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def _answer(self, op: str, kwargs: dict[str, Any]) -> dict[str, Any]:
        self.calls.append((op, kwargs))
        if isinstance(self.response, Exception):
            raise self.response
        return self.response

    def start_sync_execution(self, **kwargs: Any) -> dict[str, Any]:
        return self._answer("start_sync_execution", kwargs)

    def start_execution(self, **kwargs: Any) -> dict[str, Any]:
        return self._answer("start_execution", kwargs)


class Factory:
    def __init__(self, client: StubStepFunctions) -> None:
        self.client = client
        self.requests: list[tuple[str, dict[str, Any]]] = []

    def __call__(self, service_name: str, /, **config: Any) -> Any:
        self.requests.append((service_name, config))
        return self.client


def stream_batch(*seqs: str) -> list[dict[str, Any]]:
    return [{"eventSource": "aws:dynamodb", "dynamodb": {"SequenceNumber": s}} for s in seqs]


def sqs_batch(*ids: str) -> list[dict[str, Any]]:
    return [{"eventSource": "aws:sqs", "messageId": i, "body": "{}"} for i in ids]


def run(response: dict[str, Any] | Exception, batch: list[dict[str, Any]]) -> Outcome:
    return StepFunctionsTarget(Factory(StubStepFunctions(response)), SM).invoke(batch)


def succeeded(output: Any) -> dict[str, Any]:
    return {"executionArn": EXEC, "status": "SUCCEEDED", "output": json.dumps(output)}


def test_request_response_sends_batch_as_json_array_without_host_prefix() -> None:
    stub = StubStepFunctions(succeeded({"done": True}))
    factory = Factory(stub)
    batch = stream_batch("1")
    outcome = StepFunctionsTarget(factory, SM).invoke(batch)
    assert outcome == Outcome(ok=True, execution_arn=EXEC)
    op, kwargs = stub.calls[0]
    assert op == "start_sync_execution"
    assert kwargs["stateMachineArn"] == SM
    assert json.loads(kwargs["input"]) == batch  # a list even for one record
    assert factory.requests == [("stepfunctions", {"inject_host_prefix": False})]


@pytest.mark.parametrize(
    "output", [{"batchItemFailures": []}, {"batchItemFailures": None}, [1], None]
)
def test_empty_or_null_failure_list_or_other_output_is_success(output: Any) -> None:
    assert run(succeeded(output), stream_batch("1", "2")).ok


def test_partial_failure_reports_item_ids() -> None:
    out = {"batchItemFailures": [{"itemIdentifier": "3"}, {"itemIdentifier": "2"}]}
    outcome = run(succeeded(out), stream_batch("1", "2", "3"))
    assert not outcome.ok and outcome.partial
    assert outcome.failed_item_ids == ["3", "2"]
    assert outcome.execution_arn == EXEC


def test_partial_failure_for_sqs_uses_message_ids() -> None:
    out = {"batchItemFailures": [{"itemIdentifier": "m2"}]}
    outcome = run(succeeded(out), sqs_batch("m1", "m2"))
    assert outcome.failed_item_ids == ["m2"]


@pytest.mark.parametrize(
    "failures",
    [
        [{"itemIdentifier": ""}],
        [{"itemIdentifier": None}],
        [{"itemId": "1"}],
        [{"itemIdentifier": 1}],
        [{"itemIdentifier": "999"}],
        ["1"],
        "1",
    ],
    ids=["empty", "null", "bad-key", "not-string", "not-in-batch", "not-object", "not-list"],
)
def test_malformed_identifier_fails_the_whole_batch(failures: Any) -> None:
    outcome = run(succeeded({"batchItemFailures": failures}), stream_batch("1", "2"))
    assert not outcome.ok
    assert outcome.failed_item_ids is None
    assert outcome.error == "InvalidBatchItemFailures"


@pytest.mark.parametrize("status", ["FAILED", "TIMED_OUT"])
def test_failed_or_timed_out_run_is_a_whole_batch_failure(status: str) -> None:
    resp = {"executionArn": EXEC, "status": status, "error": "Boom", "cause": "it broke"}
    outcome = run(resp, stream_batch("1"))
    assert outcome == Outcome(ok=False, error="Boom", cause="it broke", execution_arn=EXEC)


def test_fire_and_forget_is_ok_once_started() -> None:
    stub = StubStepFunctions({"executionArn": EXEC, "startDate": 0})
    outcome = StepFunctionsTarget(Factory(stub), SM, "FIRE_AND_FORGET").invoke(sqs_batch("m1"))
    assert outcome.ok and outcome.execution_arn == EXEC
    assert [op for op, _ in stub.calls] == ["start_execution"]


def client_error(code: str, status: int) -> ClientError:
    return ClientError(
        {
            "Error": {"Code": code, "Message": f"{code} happened"},
            "ResponseMetadata": cast(Any, {"HTTPStatusCode": status}),
        },
        "StartSyncExecution",
    )


def test_customer_errors_count_and_service_errors_are_transient() -> None:
    missing = run(client_error("StateMachineDoesNotExist", 400), stream_batch("1"))
    assert not missing.ok and not missing.transient
    assert missing.error == "StateMachineDoesNotExist"
    throttled = run(client_error("ThrottlingException", 400), stream_batch("1"))
    assert not throttled.ok and throttled.transient
    server = run(client_error("InternalError", 500), stream_batch("1"))
    assert server.transient
    down = run(EndpointConnectionError(endpoint_url="http://localhost:1"), stream_batch("1"))
    assert not down.ok and down.transient


def test_check_outcome_revalidates_any_targets_partial_failure() -> None:
    batch = stream_batch("1", "2")
    good = Outcome(ok=False, failed_item_ids=["2"])
    assert check_outcome(good, batch).failed_item_ids == ["2"]
    bad = check_outcome(Outcome(ok=False, failed_item_ids=["7"]), batch)
    assert bad.failed_item_ids is None and not bad.ok
