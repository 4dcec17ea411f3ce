"""Fault injection (POST /_sluice/faults): a function's next invokes fail, handler unrun."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

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
