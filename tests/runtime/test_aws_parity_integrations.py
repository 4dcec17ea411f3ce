"""Service integrations and CreateStateMachine as AWS answers them: each test expects what
AWS documents, named in its docstring."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from sluice.testing import Execution, StackProcess, module_stack

HERE = Path(__file__).resolve().parent / "aws_parity"
ROLE = "arn:aws:iam::123456789012:role/sluice-aws-parity"

integrations_stack = module_stack(HERE / "template.yaml", time_scale=0, config_env="aws-parity")


def create(stack: StackProcess, definition: dict[str, Any]) -> str:
    arn: str = stack.client("stepfunctions").create_state_machine(
        name=f"integrations-{uuid.uuid4().hex[:12]}",
        definition=json.dumps(definition),
        roleArn=ROLE,
    )["stateMachineArn"]
    return arn


def run_task(stack: StackProcess, resource: str, parameters: dict[str, Any]) -> Execution:
    definition = {
        "StartAt": "T",
        "States": {
            "T": {"Type": "Task", "Resource": resource, "Parameters": parameters, "End": True}
        },
    }
    sfn = stack.client("stepfunctions")
    started = sfn.start_execution(stateMachineArn=create(stack, definition), input="{}")
    return stack.execution(started["executionArn"], timeout=30)


def assert_sdk_metadata(output: dict[str, Any]) -> None:
    assert output["SdkHttpMetadata"]["HttpStatusCode"] == 200
    assert isinstance(output["SdkHttpMetadata"]["HttpHeaders"], dict)
    request_id = output["SdkResponseMetadata"]["RequestId"]
    assert isinstance(request_id, str) and request_id


def test_sqs_send_message_output_carries_the_sdk_metadata(
    integrations_stack: StackProcess,
) -> None:
    """The optimised integrations answer with the service's response and the SDK's metadata:
    `SdkHttpMetadata` (`HttpStatusCode`, `HttpHeaders`) and `SdkResponseMetadata`
    (`RequestId`), as the execution history of an `sqs:sendMessage` task shows in the
    developer guide's samples ("Send messages to an Amazon SQS queue", connect-sqs.html)."""
    queue_url = integrations_stack.client("sqs").get_queue_url(
        QueueName=integrations_stack.resource("NotesQueue")["name"]
    )["QueueUrl"]
    execution = run_task(
        integrations_stack,
        "arn:aws:states:::sqs:sendMessage",
        {"QueueUrl": queue_url, "MessageBody": "hello"},
    )
    assert execution.status == "SUCCEEDED", execution.cause
    assert execution.output["MessageId"]
    assert execution.output["MD5OfMessageBody"]
    assert_sdk_metadata(execution.output)


def test_sns_publish_output_carries_the_sdk_metadata(integrations_stack: StackProcess) -> None:
    """As for SQS: `sns:publish` answers with `MessageId` and the SDK metadata
    ("Publish messages to an Amazon SNS topic", connect-sns.html)."""
    topic = integrations_stack.client("sns").create_topic(Name=f"notes-{uuid.uuid4().hex[:8]}")
    execution = run_task(
        integrations_stack,
        "arn:aws:states:::sns:publish",
        {"TopicArn": topic["TopicArn"], "Message": "hello"},
    )
    assert execution.status == "SUCCEEDED", execution.cause
    assert execution.output["MessageId"]
    assert_sdk_metadata(execution.output)


def test_dynamodb_put_item_output_carries_the_sdk_metadata(
    integrations_stack: StackProcess,
) -> None:
    """As for SQS: `dynamodb:putItem` answers with the SDK metadata
    ("Perform DynamoDB CRUD operations", connect-ddb.html)."""
    execution = run_task(
        integrations_stack,
        "arn:aws:states:::dynamodb:putItem",
        {
            "TableName": integrations_stack.resource("ItemsTable")["name"],
            "Item": {"id": {"S": "a"}},
        },
    )
    assert execution.status == "SUCCEEDED", execution.cause
    assert_sdk_metadata(execution.output)


@pytest.mark.parametrize(
    ("definition", "problem"),
    [
        ({"StartAt": "A", "States": {"A": {"Type": "Teleport", "End": True}}}, "Teleport"),
        ({"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "Nowhere"}}}, "Nowhere"),
    ],
)
def test_an_invalid_definition_is_named_and_explained(
    integrations_stack: StackProcess, definition: dict[str, Any], problem: str
) -> None:
    """CreateStateMachine answers `InvalidDefinition` ("The provided Amazon States Language
    definition is not valid", API_CreateStateMachine.html) with a message that starts
    `Invalid State Machine Definition:` and names what is wrong, never a Python exception."""
    with pytest.raises(ClientError) as rejected:
        create(integrations_stack, definition)
    error = rejected.value.response["Error"]
    assert error["Code"] == "InvalidDefinition"
    assert error["Message"].startswith("Invalid State Machine Definition: ")
    assert problem in error["Message"]
    assert "Error=" not in error["Message"] and "Args=" not in error["Message"]


def test_sns_publish_to_a_missing_topic_fails_with_not_found(
    integrations_stack: StackProcess,
) -> None:
    """Publish answers `NotFound` ("Indicates that the requested resource does not exist",
    API_Publish.html, Errors) for a topic that does not exist; the optimised integration
    names it `SNS.NotFoundException`, with SNS's message "Topic does not exist" in the cause."""
    missing = "arn:aws:sns:us-east-1:123456789012:no-such-topic"
    execution = run_task(
        integrations_stack,
        "arn:aws:states:::sns:publish",
        {"TopicArn": missing, "Message": "hello"},
    )
    assert execution.status == "FAILED"
    assert execution.error == "SNS.NotFoundException"
    assert execution.cause is not None
    assert execution.cause.startswith("Topic does not exist ")


def test_sns_publish_without_a_required_parameter_fails_with_invalid_parameter(
    integrations_stack: StackProcess,
) -> None:
    """A FIFO topic requires `MessageGroupId` (API_Publish.html); a request that breaks a
    parameter's constraints answers `InvalidParameter`, the only parameter error Publish
    documents, named `SNS.InvalidParameterException` by the optimised integration."""
    topic = integrations_stack.client("sns").create_topic(
        Name=f"notes-{uuid.uuid4().hex[:8]}.fifo",
        Attributes={"FifoTopic": "true", "ContentBasedDeduplication": "true"},
    )
    execution = run_task(
        integrations_stack,
        "arn:aws:states:::sns:publish",
        {"TopicArn": topic["TopicArn"], "Message": "hello"},
    )
    assert execution.status == "FAILED"
    assert execution.error == "SNS.InvalidParameterException"
    assert execution.cause is not None
    assert execution.cause.startswith("Invalid parameter: ")


def test_a_lambda_response_over_6_mb_is_a_function_error_that_catch_handles(
    integrations_stack: StackProcess,
) -> None:
    """A synchronous invocation's response may be at most 6 MB ("Lambda quotas",
    gettingstarted-limits.html: invocation payload, request and response); Lambda fails a
    bigger one as a function error (`FunctionError: Unhandled`, errorType
    `Function.ResponseSizeTooLarge`, "Response payload size exceeded maximum allowed payload
    size (6291556 bytes)."). Step Functions names a Lambda task's function error by its
    errorType, and Retry/Catch apply to it as to any task error, `States.ALL` included
    ("Error handling in Step Functions", concepts-error-handling.html) - unlike
    `States.DataLimitExceeded`, which a smaller result over 256 KiB raises."""
    arn = integrations_stack.resource("BigFunction")["arn"]
    answer = integrations_stack.client("lambda").invoke(
        FunctionName=arn, Payload=json.dumps({"bytes": 7_000_000})
    )
    assert answer["FunctionError"] == "Unhandled"
    body = json.loads(answer["Payload"].read())
    assert body["errorType"] == "Function.ResponseSizeTooLarge"
    assert body["errorMessage"] == (
        "Response payload size exceeded maximum allowed payload size (6291556 bytes)."
    )

    definition = {
        "StartAt": "Big",
        "States": {
            "Big": {
                "Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke",
                "Parameters": {"FunctionName": arn, "Payload": {"bytes": 7_000_000}},
                "Catch": [
                    {"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Caught"}
                ],
                "End": True,
            },
            "Caught": {"Type": "Pass", "End": True},
        },
    }
    sfn = integrations_stack.client("stepfunctions")
    started = sfn.start_execution(stateMachineArn=create(integrations_stack, definition))
    execution = integrations_stack.execution(started["executionArn"], timeout=60)
    assert execution.status == "SUCCEEDED", execution.cause
    assert execution.output["error"]["Error"] == "Function.ResponseSizeTooLarge"
    assert "6291556 bytes" in execution.output["error"]["Cause"]
