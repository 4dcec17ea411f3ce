"""Fault injection (POST /_sluice/faults): a function's next invokes fail, handler unrun."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from sluice.client import SluiceError
from sluice.testing import StackProcess


@pytest.fixture
def stack(fixture_stack: StackProcess) -> Iterator[StackProcess]:
    yield fixture_stack
    fixture_stack.clear_faults()


def test_the_next_invokes_fail_with_the_injected_error_then_the_function_runs(
    stack: StackProcess,
) -> None:
    fault = stack.inject_fault("EnvironmentFunction", "Custom.Outage", "down for a test", count=2)
    assert fault == {
        "function": "EnvironmentFunction",
        "error_type": "Custom.Outage",
        "error_message": "down for a test",
        "remaining": 2,
    }
    lam = stack.client("lambda")
    for left in (1, 0):
        response = lam.invoke(FunctionName="EnvironmentFunction", Payload=b"{}")
        assert response["FunctionError"] == "Unhandled"
        assert json.loads(response["Payload"].read()) == {
            "errorType": "Custom.Outage",
            "errorMessage": "down for a test",
        }
        assert [f["remaining"] for f in stack.faults()] == ([left] if left else [])
    response = lam.invoke(FunctionName="EnvironmentFunction", Payload=b"{}")
    assert "FunctionError" not in response
    assert json.loads(response["Payload"].read())["function_name"] == "EnvironmentFunction"


def test_a_state_sees_the_injected_error_name(stack: StackProcess) -> None:
    stack.inject_fault("EnvironmentFunction", "Custom.Outage")
    execution = stack.run("environment", {})
    assert execution.status == "FAILED"
    assert execution.error == "Custom.Outage"
    assert execution.cause is not None and "Injected fault" in execution.cause
    invokes = stack.gateway.get("/_sluice/invocations")
    assert invokes[-1]["error_type"] == "Custom.Outage"
    assert "injected fault" in invokes[-1]["logs"]
    assert stack.run("environment", {}).status == "SUCCEEDED"


def test_faults_can_be_removed(stack: StackProcess) -> None:
    stack.inject_fault("EnvironmentFunction", "Custom.Outage", count=3)
    stack.inject_fault("FlakyFunction", "Custom.Outage")
    stack.inject_fault("EnvironmentFunction", "Custom.Outage", count=0)
    assert [f["function"] for f in stack.faults()] == ["FlakyFunction"]
    stack.clear_faults()
    assert stack.faults() == []


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"function": "NoSuchFunction", "errorType": "X"}, "Function not found: NoSuchFunction"),
        ({"function": "EnvironmentFunction"}, "body must be JSON like"),
        ({"function": "EnvironmentFunction", "errorType": "X", "count": -1}, "count of 0 or more"),
        ({"function": "EnvironmentFunction", "errorType": "X", "count": "x"}, "body must be"),
    ],
)
def test_bad_requests_are_refused(
    stack: StackProcess, body: dict[str, object], message: str
) -> None:
    with pytest.raises(SluiceError, match=message):
        stack.gateway.post("/_sluice/faults", body)
    assert stack.faults() == []


def test_a_function_with_reserved_concurrency_0_is_throttled_by_the_invoke_api(
    stack: StackProcess,
) -> None:
    # Lambda documents reserved concurrency 0 as throttling every invoke: Invoke answers
    # HTTP 429 TooManyRequestsException (Reason ReservedFunctionConcurrentInvocationLimitExceeded)
    # and the handler never runs.
    with pytest.raises(ClientError) as raised:
        stack.client("lambda").invoke(FunctionName="ThrottledFunction", Payload=b"{}")
    error = raised.value.response
    assert error["Error"]["Code"] == "TooManyRequestsException"
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 429
    assert error["Reason"] == "ReservedFunctionConcurrentInvocationLimitExceeded"


def test_an_injected_throttle_is_an_invoke_api_error_a_state_sees_as_lambda_throttling(
    stack: StackProcess,
) -> None:
    # Step Functions names the Invoke API's errors of a lambda:invoke task
    # "Lambda.<exception>": a throttle is Lambda.TooManyRequestsException, which Retry matches.
    # (SDK clients retry a 429 themselves: enough failures for the client's retries too.)
    stack.inject_fault("SleepyFunction", "Lambda.TooManyRequestsException", count=20)
    with pytest.raises(ClientError) as raised:
        stack.client("lambda").invoke(FunctionName="SleepyFunction", Payload=b"{}")
    assert raised.value.response["Error"]["Code"] == "TooManyRequestsException"
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 429
    execution = stack.run("timeout", {"seconds": 0})
    assert execution.status == "FAILED"
    assert execution.error == "Lambda.TooManyRequestsException"
    assert execution.cause is not None and "Status Code: 429" in execution.cause
    stack.inject_fault("SleepyFunction", "Lambda.TooManyRequestsException", count=0)
    assert stack.run("timeout", {"seconds": 0}).status == "SUCCEEDED"


def test_an_injected_timeout_answers_as_a_lambda_timeout(stack: StackProcess) -> None:
    # The same error and message as the function really running past its Timeout (1 s), see
    # test_runtime_engine.py::test_task_exceeding_its_template_timeout_fails_with_the_lambda_...
    stack.inject_fault("SleepyFunction", "Sandbox.Timedout")
    execution = stack.run("timeout", {"seconds": 0})
    assert execution.status == "FAILED" and execution.error == "Sandbox.Timedout"
    assert "Task timed out after 1.00 seconds" in (execution.cause or "")


def test_an_after_handler_fault_lets_the_work_happen_and_loses_the_answer(
    stack: StackProcess, tmp_path: Path
) -> None:
    """A crash after the side effect, before the answer: the caller sees the error although
    the handler ran (here: it counted its call in a file)."""
    counter = tmp_path / "calls"
    fault = stack.inject_fault("FlakyFunction", "Sandbox.Timedout", after_handler=True)
    assert fault["after_handler"] is True
    response = stack.client("lambda").invoke(
        FunctionName="FlakyFunction",
        Payload=json.dumps({"counter_file": str(counter), "fail_times": 0}).encode(),
    )
    assert response["FunctionError"] == "Unhandled"
    assert json.loads(response["Payload"].read())["errorType"] == "Sandbox.Timedout"
    assert counter.read_text() == "1"
    with pytest.raises(SluiceError, match="cannot come after the handler"):
        stack.inject_fault("FlakyFunction", "Lambda.TooManyRequestsException", after_handler=True)
