"""Start faults (POST /_sluice/execution-faults): a state machine's next starts are refused
with a Step Functions common error, and no execution starts."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from sluice.client import SluiceError
from sluice.testing import StackProcess

ENDPOINT = "/_sluice/execution-faults"


@pytest.fixture
def stack(fixture_stack: StackProcess) -> Iterator[StackProcess]:
    yield fixture_stack
    fixture_stack.clear_execution_faults()


def one_call_client(stack: StackProcess) -> Any:
    """A Step Functions client that sends each call once (botocore retries 5xx and throttles)."""
    return boto3.client(
        "stepfunctions",
        endpoint_url=stack.gateway.url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"total_max_attempts": 1}, inject_host_prefix=False),
    )


def test_refused_starts_answer_the_documented_error_and_start_nothing(stack: StackProcess) -> None:
    arn = stack.flow_arn("environment")
    fault = stack.refuse_starts("environment", "ServiceUnavailable", count=2)
    assert fault == {
        "stateMachine": arn.rsplit(":", 1)[1],
        "errorType": "ServiceUnavailable",
        "remaining": 2,
    }
    before = len(stack.executions("environment"))
    sfn = one_call_client(stack)
    for left in (1, 0):
        with pytest.raises(ClientError) as refused:
            sfn.start_execution(stateMachineArn=arn, input="{}")
        assert refused.value.response["Error"]["Code"] == "ServiceUnavailable"
        assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503
        assert [f["remaining"] for f in stack.gateway.get(ENDPOINT)] == ([left] if left else [])
    assert len(stack.executions("environment")) == before
    assert stack.run("environment", {}).status == "SUCCEEDED"


def test_a_throttled_sync_start_of_an_express_machine(stack: StackProcess) -> None:
    arn = stack.flow_arn("queue_target")
    stack.refuse_starts("queue_target", "ThrottlingException")
    stack.refuse_starts("environment", "InternalFailure")  # another machine's is its own
    with pytest.raises(ClientError) as refused:
        one_call_client(stack).start_sync_execution(stateMachineArn=arn, input="[]")
    assert refused.value.response["Error"]["Code"] == "ThrottlingException"
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert [f["stateMachine"] for f in stack.gateway.get(ENDPOINT)] == ["sluice-environment"]
    stack.clear_execution_faults()
    assert stack.gateway.get(ENDPOINT) == []


@pytest.mark.parametrize(
    "body",
    [
        {"stateMachine": "sluice-environment", "errorType": "StateMachineDoesNotExist"},
        {"stateMachine": "sluice-environment"},
        {"errorType": "ServiceUnavailable"},
        {"stateMachine": "sluice-environment", "errorType": "ServiceUnavailable", "count": -1},
        {"stateMachine": "sluice-environment", "errorType": "ServiceUnavailable", "count": "x"},
    ],
)
def test_bad_requests_are_refused_naming_the_errors(
    stack: StackProcess, body: dict[str, object]
) -> None:
    with pytest.raises(SluiceError, match="ServiceUnavailable, InternalFailure, Throttling"):
        stack.gateway.post(ENDPOINT, body)
    assert stack.gateway.get(ENDPOINT) == []


def test_the_cli_injects_lists_and_clears_faults(stack: StackProcess) -> None:
    started = stack.cli(
        "fault", "start", "environment", "--error", "InternalFailure", "--count", "3"
    )
    assert started.returncode == 0, started.stderr
    failing = stack.cli("fault", "lambda", "EnvironmentFunction", "--error", "Custom.Outage")
    assert failing.returncode == 0, failing.stderr
    listed = stack.cli("fault", "list")
    assert listed.returncode == 0, listed.stderr
    assert "sluice-environment" in listed.stdout and "InternalFailure" in listed.stdout
    assert "EnvironmentFunction" in listed.stdout and "Custom.Outage" in listed.stdout
    assert stack.cli("fault", "clear").returncode == 0
    assert stack.gateway.get(ENDPOINT) == [] and stack.faults() == []
