"""Where moto's engine differed from AWS: each test expects what AWS documents.

Every test creates its machine through CreateStateMachine and runs it through the public
Step Functions API; the AWS page each expectation comes from is named in its docstring.
"""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from sluice.aws_client import client
from sluice.testing import Execution, StackProcess, module_stack

HERE = Path(__file__).resolve().parent / "aws_parity"
ROLE = "arn:aws:iam::123456789012:role/sluice-aws-parity"
QUOTA = 262_144  # 256 KiB as UTF-8, Step Functions' payload quota

# No samconfig environment: the project's `local` overrides name parameters this template
# does not declare.
parity_stack = module_stack(HERE / "template.yaml", time_scale=0, config_env="aws-parity")


def create(stack: StackProcess, definition: dict[str, Any], machine_type: str = "STANDARD") -> str:
    arn: str = stack.client("stepfunctions").create_state_machine(
        name=f"parity-{uuid.uuid4().hex[:12]}",
        definition=json.dumps(definition),
        roleArn=ROLE,
        type=machine_type,
    )["stateMachineArn"]
    return arn


def run(stack: StackProcess, definition: dict[str, Any], payload: Any = None) -> Execution:
    sfn = stack.client("stepfunctions")
    started = sfn.start_execution(
        stateMachineArn=create(stack, definition), input=json.dumps(payload or {})
    )
    return stack.execution(started["executionArn"], timeout=30)


def function_arn(stack: StackProcess, logical_id: str) -> str:
    arn: str = stack.resource(logical_id)["arn"]
    return arn


# -- 1. payload limits ----------------------------------------------------------------------


def _big_task(stack: StackProcess, error_equals: str, resource: str) -> dict[str, Any]:
    if resource == "lambda:invoke":
        task: dict[str, Any] = {
            "Resource": "arn:aws:states:::lambda:invoke",
            "Parameters": {"FunctionName": function_arn(stack, "BigFunction"), "Payload.$": "$"},
        }
    else:
        task = {"Resource": function_arn(stack, "BigFunction")}
    return _caught("Big", {"Type": "Task", **task}, error_equals)


def _caught(name: str, state: dict[str, Any], error_equals: str) -> dict[str, Any]:
    """A machine of one state NAME whose Catch on ERROR_EQUALS goes to a Pass state."""
    catch = [{"ErrorEquals": [error_equals], "Next": "Caught"}]
    return {
        "StartAt": name,
        "States": {
            name: {**state, "Catch": catch, "End": True},
            "Caught": {"Type": "Pass", "End": True},
        },
    }


@pytest.mark.parametrize("resource", ["lambda:invoke", "function ARN"])
def test_states_all_does_not_catch_a_result_over_the_payload_quota(
    parity_stack: StackProcess, resource: str
) -> None:
    """ "States.ALL ... can't catch the States.DataLimitExceeded terminal error" and
    DataLimitExceeded is reported when "the output of a connector is larger than payload
    size quota" ("Error names", Handling errors in Step Functions workflows,
    https://docs.aws.amazon.com/step-functions/latest/dg/concepts-error-handling.html)."""
    execution = run(parity_stack, _big_task(parity_stack, "States.ALL", resource), {"bytes": QUOTA})
    assert execution.status == "FAILED"
    assert execution.error == "States.DataLimitExceeded"
    assert "PassStateEntered" not in [event["type"] for event in execution.events]


@pytest.mark.parametrize(("items", "status"), [(8, "SUCCEEDED"), (9, "FAILED")])
def test_a_map_whose_results_together_are_over_the_payload_quota_fails(
    parity_stack: StackProcess, items: int, status: str
) -> None:
    """DataLimitExceeded is also reported "when the output of a state is larger than the
    payload size quota" (same page): each iteration's 30 KB result is within it, nine of
    them together are not, and the Map's `States.ALL` Catch does not take the error."""
    definition = {
        "StartAt": "Each",
        "States": {
            "Each": {
                "Type": "Map",
                "ItemsPath": "$.items",
                "ItemProcessor": {
                    "ProcessorConfig": {"Mode": "INLINE"},
                    "StartAt": "Big",
                    "States": {
                        "Big": {
                            "Type": "Task",
                            "Resource": function_arn(parity_stack, "BigFunction"),
                            "End": True,
                        }
                    },
                },
                "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Caught"}],
                "End": True,
            },
            "Caught": {"Type": "Pass", "End": True},
        },
    }
    execution = run(parity_stack, definition, {"items": [{"bytes": 30_000}] * items})
    assert execution.status == status
    if status == "FAILED":
        assert execution.error == "States.DataLimitExceeded"
        assert execution.cause is not None and "'Each'" in execution.cause
        assert "PassStateEntered" not in [event["type"] for event in execution.events]
    else:
        assert len(execution.output) == items


@pytest.mark.parametrize(("text", "status"), [(120_000, "SUCCEEDED"), (140_000, "FAILED")])
def test_a_pass_state_whose_output_is_over_the_payload_quota_fails(
    parity_stack: StackProcess, text: int, status: str
) -> None:
    """ "The output of a state is larger than the payload size quota" fails the execution
    with States.DataLimitExceeded (same page), for a Pass state as for a task: its output
    repeats the input's string twice, about 240 KB (within the 256 KiB) or 280 KB (over)."""
    definition = {
        "StartAt": "Twice",
        "States": {
            "Twice": {
                "Type": "Pass",
                "Parameters": {"a.$": "$.text", "b.$": "$.text"},
                "End": True,
            }
        },
    }
    execution = run(parity_stack, definition, {"text": "x" * text})
    assert execution.status == status
    if status == "FAILED":
        assert execution.error == "States.DataLimitExceeded"
        assert execution.cause is not None and "'Twice'" in execution.cause
    else:
        assert execution.output == {"a": "x" * text, "b": "x" * text}


def test_data_limit_exceeded_named_explicitly_is_caught(parity_stack: StackProcess) -> None:
    """A Catcher that names States.DataLimitExceeded catches it (same page: the error is a
    named error; only the States.ALL wildcard leaves it out)."""
    definition = _big_task(parity_stack, "States.DataLimitExceeded", "lambda:invoke")
    execution = run(parity_stack, definition, {"bytes": QUOTA})
    assert execution.status == "SUCCEEDED"
    assert execution.output["Error"] == "States.DataLimitExceeded"


def test_states_all_does_not_catch_states_runtime(parity_stack: StackProcess) -> None:
    """ "States.ALL ... can't catch ... Runtime error types"; a JSONPath in Parameters that
    matches nothing is a States.Runtime error (concepts-error-handling.html, States.Runtime)."""
    definition = {
        "StartAt": "Task",
        "States": {
            "Task": {
                "Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke",
                "Parameters": {
                    "FunctionName": function_arn(parity_stack, "BigFunction"),
                    "Payload": {"bytes.$": "$.missing"},
                },
                "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Caught"}],
                "End": True,
            },
            "Caught": {"Type": "Pass", "End": True},
        },
    }
    execution = run(parity_stack, definition)
    assert execution.status == "FAILED"
    assert execution.error == "States.Runtime"


def test_other_errors_are_still_caught_by_states_all(parity_stack: StackProcess) -> None:
    """States.ALL is "a wildcard that matches any known error name" (same page)."""
    definition = {
        "StartAt": "Task",
        "States": {
            "Task": {
                "Type": "Task",
                "Resource": function_arn(parity_stack, "BigFunction"),
                "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Caught"}],
                "End": True,
            },
            "Caught": {"Type": "Pass", "End": True},
        },
    }
    execution = run(parity_stack, definition, {"no_bytes": 1})  # KeyError in the handler
    assert execution.status == "SUCCEEDED"
    assert execution.output["Error"] == "KeyError"


@pytest.mark.parametrize("machine_type", ["STANDARD", "EXPRESS"])
def test_an_input_over_256_kib_is_rejected_at_start(
    parity_stack: StackProcess, machine_type: str
) -> None:
    """StartExecution and StartSyncExecution: `input` "Length constraints apply to the payload
    size, and are expressed as bytes in UTF-8 encoding ... Maximum length of 262144"; the
    input error both actions declare is InvalidExecutionInput
    (https://docs.aws.amazon.com/step-functions/latest/apireference/API_StartExecution.html,
    .../API_StartSyncExecution.html)."""
    # StartSyncExecution's host prefix (`sync-`) cannot resolve locally; see the README.
    sfn = parity_stack.client("stepfunctions", inject_host_prefix=False)
    pass_machine = {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}
    arn = create(parity_stack, pass_machine, machine_type)
    start = sfn.start_execution if machine_type == "STANDARD" else sfn.start_sync_execution
    # 'é' is two bytes in UTF-8: fewer than 262,144 characters, more than 262,144 bytes.
    too_big = json.dumps({"s": "é" * (QUOTA // 2)}, ensure_ascii=False)
    assert len(too_big) < QUOTA < len(too_big.encode())
    with pytest.raises(ClientError) as caught:
        start(stateMachineArn=arn, input=too_big)
    assert caught.value.response["Error"]["Code"] == "InvalidExecutionInput"

    fits = json.dumps({"s": "x" * (QUOTA - 100)})
    started = start(stateMachineArn=arn, input=fits)
    assert started["executionArn"]


# -- 2. Map over something that is not an array ---------------------------------------------


@pytest.mark.parametrize(
    ("items", "json_type"),
    [(True, "boolean"), (3, "number"), ("abc", "string"), ({"a": 1}, "object"), (None, "null")],
)
def test_a_map_over_a_non_array_names_the_json_type(
    parity_stack: StackProcess, items: Any, json_type: str
) -> None:
    """The Map state iterates "over an array"; ItemsPath "must select an array"
    ("Map state", https://docs.aws.amazon.com/step-functions/latest/dg/state-map.html), and
    AWS's Items errors name the JSON type of what was found ("Expected 'array', but was
    'object'", as AWS answers for JSONata `Items`), never a Python class."""
    definition = {
        "StartAt": "Each",
        "States": {
            "Each": {
                "Type": "Map",
                "ItemsPath": "$.items",
                "ItemProcessor": {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}},
                "End": True,
            }
        },
    }
    execution = run(parity_stack, definition, {"items": items})
    assert execution.status == "FAILED"
    assert execution.error == "States.QueryEvaluationError"
    assert execution.cause
    assert execution.cause.endswith(f"Map state input must be an array but was: {json_type}")


# -- 3. $$.Execution.RedriveCount -----------------------------------------------------------


def test_the_context_object_has_redrive_count_0_before_any_redrive(
    parity_stack: StackProcess,
) -> None:
    """The Context object's Execution node has `"RedriveCount": Number`; `RedriveTime` "is
    only available if you've redriven an execution" ("Context object fields",
    https://docs.aws.amazon.com/step-functions/latest/dg/input-output-contextobject.html), and
    a redriveCount "is 0" if "you have not yet redriven an execution"
    (https://docs.aws.amazon.com/step-functions/latest/apireference/API_ExecutionRedrivenEventDetails.html).
    (The redriven run gets both from sluice/redrive.py; not asserted here.)"""
    definition = {
        "StartAt": "Context",
        "States": {
            "Context": {
                "Type": "Pass",
                "Parameters": {"execution.$": "$$.Execution"},
                "End": True,
            }
        },
    }
    execution = run(parity_stack, definition)
    assert execution.status == "SUCCEEDED"
    assert execution.output["execution"]["RedriveCount"] == 0
    assert "RedriveTime" not in execution.output["execution"]


# -- 10. StartSyncExecution from an SDK or the CLI without code changes ---------------------


def test_start_sync_execution_with_host_prefix_injection_disabled_by_environment(
    parity_stack: StackProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    """StartSyncExecution is sent to a `sync-` host prefix, which a local endpoint's host
    cannot take; AWS's SDKs and the CLI drop the prefix with the `AWS_DISABLE_HOST_PREFIX_
    INJECTION=true` environment variable or `disable_host_prefix_injection = true` in the
    shared config file ("Host prefix injection", AWS SDKs and Tools Reference Guide,
    https://docs.aws.amazon.com/sdkref/latest/guide/feature-host-prefix.html)."""
    monkeypatch.setenv("AWS_DISABLE_HOST_PREFIX_INJECTION", "true")
    # A client made with the variable set (no Config(inject_host_prefix=False)); the stack's
    # own clients are kept from before.
    sfn = client(parity_stack.gateway.url, "stepfunctions")
    pass_machine = {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}
    arn = create(parity_stack, pass_machine, "EXPRESS")
    result = sfn.start_sync_execution(stateMachineArn=arn, input='{"a": 1}')
    assert result["status"] == "SUCCEEDED"
    assert json.loads(result["output"]) == {"a": 1}


# -- 4. Express execution ARNs --------------------------------------------------------------


def test_an_express_execution_has_an_express_execution_arn(parity_stack: StackProcess) -> None:
    """Express executions are the `express` resource type,
    `arn:${Partition}:states:${Region}:${Account}:express:${StateMachineName}:${ExecutionId}:
    ${ExpressId}` ("Resource types defined by AWS Step Functions", Service Authorization
    Reference, https://docs.aws.amazon.com/service-authorization/latest/reference/list_awsstepfunctions.html);
    `$$.Execution.Id` is the execution's ARN ("Context object fields",
    https://docs.aws.amazon.com/step-functions/latest/dg/input-output-contextobject.html)."""
    sfn = parity_stack.client("stepfunctions", inject_host_prefix=False)
    definition = {
        "StartAt": "Id",
        "States": {"Id": {"Type": "Pass", "Parameters": {"id.$": "$$.Execution.Id"}, "End": True}},
    }
    arn = create(parity_stack, definition, "EXPRESS")
    machine = arn.rsplit(":", 1)[-1]
    result = sfn.start_sync_execution(stateMachineArn=arn, name="run-1", input="{}")
    assert result["status"] == "SUCCEEDED"
    express = rf"^arn:aws:states:us-east-1:123456789012:express:{machine}:run-1:[0-9a-f-]{{36}}$"
    assert re.match(express, result["executionArn"])
    assert json.loads(result["output"]) == {"id": result["executionArn"]}

    started = sfn.start_execution(stateMachineArn=arn, name="run-2")["executionArn"]
    assert re.match(express.replace("run-1", "run-2"), started)
    assert parity_stack.execution(started, timeout=30).output == {"id": started}


# -- 5. DynamoDB integration errors ---------------------------------------------------------


def _task(resource: str, parameters: dict[str, Any]) -> dict[str, Any]:
    return {
        "StartAt": "T",
        "States": {
            "T": {"Type": "Task", "Resource": resource, "Parameters": parameters, "End": True}
        },
    }


@pytest.mark.parametrize(
    ("parameters", "constraint"),
    [
        (
            {"TableName": "bad name!", "Item": {"id": {"S": "a"}}},
            "Value 'bad name!' at 'tableName' failed to satisfy constraint: "
            "Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+",
        ),
        (
            {"TableName": "ItemsTable", "Item": None},
            "Value null at 'item' failed to satisfy constraint: Member must not be null",
        ),
    ],
)
def test_an_invalid_dynamodb_request_fails_with_validation_exception(
    parity_stack: StackProcess, parameters: dict[str, Any], constraint: str
) -> None:
    """Table names are 3 to 255 of a-z, A-Z, 0-9, `_`, `-`, `.` ("Naming rules",
    https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/HowItWorks.NamingRulesDataTypes.html)
    and PutItem's `Item` is required (https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_PutItem.html);
    an input that fails a constraint is a ValidationException (DynamoDB's Common Errors,
    https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/CommonErrors.html), which the
    optimised integration names `DynamoDB.<error code>` as it does ConditionalCheckFailed."""
    execution = run(parity_stack, _task("arn:aws:states:::dynamodb:putItem", parameters))
    assert execution.status == "FAILED"
    assert execution.error == "DynamoDB.ValidationException"
    assert execution.cause
    assert execution.cause.startswith(f"1 validation error detected: {constraint} (")


def test_a_condition_with_an_undefined_name_fails_with_validation_exception(
    parity_stack: StackProcess,
) -> None:
    """A ConditionExpression using a `#name` that ExpressionAttributeNames does not define
    is a ValidationException ("Invalid ConditionExpression: An expression attribute name
    used in the document path is not defined"; Common Errors, as above), named
    `DynamoDB.ValidationException` by the optimised integration: a typo fails the task
    as on AWS, not with a Python KeyError's text."""
    parameters = {
        "TableName": "ItemsTable",
        "Item": {"id": {"S": "a"}},
        "ConditionExpression": "attribute_not_exists(#typo)",
    }
    execution = run(parity_stack, _task("arn:aws:states:::dynamodb:putItem", parameters))
    assert execution.status == "FAILED"
    assert execution.error == "DynamoDB.ValidationException"
    assert execution.cause
    assert execution.cause.startswith(
        "Invalid ConditionExpression: An expression attribute name used in the document "
        "path is not defined; attribute name: #typo ("
    )


@pytest.mark.parametrize(
    ("parameters", "error"),
    [
        ({"TableName": "NoSuchTable", "Key": {"id": {"S": "a"}}}, "ResourceNotFoundException"),
        (
            {
                "TableName": "ItemsTable",
                "Key": {"id": {"S": "a"}},
                "ConditionExpression": "id = :x",
                "ExpressionAttributeValues": {":x": {"S": "other"}},
            },
            "ConditionalCheckFailedException",
        ),
    ],
)
def test_aws_sdk_dynamodb_errors_are_named_after_the_service_error(
    parity_stack: StackProcess, parameters: dict[str, Any], error: str
) -> None:
    """An AWS SDK integration's error is `ServiceName.ErrorName` (e.g.
    `AcmPca.ResourceNotFoundException`) ("Learning to use AWS service SDK integrations in Step
    Functions", https://docs.aws.amazon.com/step-functions/latest/dg/supported-services-awssdk.html);
    DynamoDB's service name there is `DynamoDb` (moto's binding, recorded on AWS). The
    in-process DynamoDB client raised a bare ClientError, named `DynamoDb.DynamoDbException`."""
    execution = run(parity_stack, _task("arn:aws:states:::aws-sdk:dynamodb:deleteItem", parameters))
    assert execution.status == "FAILED"
    assert execution.error == f"DynamoDb.{error}"


# -- 6. S3 through the AWS SDK integration --------------------------------------------------


def test_aws_sdk_s3_errors_are_pascal_cased_with_an_exception_suffix(
    parity_stack: StackProcess,
) -> None:
    """AWS SDK integration errors are `ServiceName.ErrorName`, both PascalCase, with an
    `Exception` suffix added where the service's error has none: S3's BucketAlreadyExists is
    `S3.BucketAlreadyExistsException` ("Learning to use AWS service SDK integrations in Step
    Functions", https://docs.aws.amazon.com/step-functions/latest/dg/supported-services-awssdk.html).
    GetObject of a missing key is S3's NoSuchKey."""
    parameters = {"Bucket": parity_stack.resource("FilesBucket")["name"], "Key": "missing"}
    execution = run(parity_stack, _task("arn:aws:states:::aws-sdk:s3:getObject", parameters))
    assert execution.status == "FAILED"
    assert execution.error == "S3.NoSuchKeyException"


def test_an_aws_sdk_result_with_timestamps_is_json(parity_stack: StackProcess) -> None:
    """State input and output are JSON text ("Processing input and output in Step Functions",
    https://docs.aws.amazon.com/step-functions/latest/dg/concepts-input-output-filtering.html),
    and DescribeExecution's `output` is "the JSON output data of the execution"
    (https://docs.aws.amazon.com/step-functions/latest/apireference/API_DescribeExecution.html):
    ListBuckets' CreationDate comes out as text, and the execution can be described."""
    definition = _task("arn:aws:states:::aws-sdk:s3:listBuckets", {})
    execution = run(parity_stack, definition)  # DescribeExecution answered HTTP 500 before
    assert execution.status == "SUCCEEDED"
    bucket = next(b for b in execution.output["Buckets"] if b["Name"] == "FilesBucket")
    assert isinstance(bucket["CreationDate"], str)
    assert bucket["CreationDate"][:4].isdigit()
    assert execution.events[-1]["type"] == "ExecutionSucceeded"


def test_aws_sdk_s3_put_object_writes_a_json_body_as_json_text(parity_stack: StackProcess) -> None:
    """An object's Body is the bytes written; the AWS SDK integration serialises a Body that
    is JSON (an object here, from the state input) as its JSON text, so the object reads
    back as the JSON it was given. moto's S3 client failed on a dict Body with a Python
    AttributeError."""
    bucket = parity_stack.resource("FilesBucket")["name"]
    key = f"json-body-{uuid.uuid4().hex[:8]}.json"
    parameters = {"Bucket": bucket, "Key": key, "Body.$": "$.document"}
    document = {"id": 7, "tags": ["a", "b"], "nested": {"ok": True, "none": None}}
    definition = _task("arn:aws:states:::aws-sdk:s3:putObject", parameters)
    execution = run(parity_stack, definition, {"document": document})
    assert execution.status == "SUCCEEDED", (execution.error, execution.cause)
    assert "ETag" in execution.output
    body = parity_stack.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
    assert json.loads(body) == document


def test_a_distributed_map_reads_the_objects_s3_lists(parity_stack: StackProcess) -> None:
    """A Distributed Map's ItemReader with `arn:aws:states:::s3:listObjectsV2` iterates over
    the objects under a prefix, each item being the object's metadata (`Key`, `Size`, ...)
    ("ItemReader (Map)", input-output-itemreader.html); state input and output are JSON
    (concepts-input-output-filtering.html), so the execution and its history can be read
    although S3 lists LastModified as a timestamp."""
    bucket = parity_stack.resource("FilesBucket")["name"]
    prefix = f"listed-{uuid.uuid4().hex[:8]}/"
    s3 = parity_stack.client("s3")
    for name in ("a.json", "b.json", "c.json"):
        s3.put_object(Bucket=bucket, Key=prefix + name, Body=b"{}")
    definition = {
        "StartAt": "Each",
        "States": {
            "Each": {
                "Type": "Map",
                "ItemReader": {
                    "Resource": "arn:aws:states:::s3:listObjectsV2",
                    "Parameters": {"Bucket": bucket, "Prefix": prefix},
                },
                "ItemProcessor": {
                    "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
                    "StartAt": "Key",
                    "States": {"Key": {"Type": "Pass", "OutputPath": "$.Key", "End": True}},
                },
                "End": True,
            }
        },
    }
    execution = run(parity_stack, definition)
    assert execution.status == "SUCCEEDED", (execution.error, execution.cause)
    assert sorted(execution.output) == [prefix + n for n in ("a.json", "b.json", "c.json")]
    assert execution.events[-1]["type"] == "ExecutionSucceeded"


# -- 7. Choice without a match ----------------------------------------------------------------


def test_a_choice_without_a_match_or_default_fails_with_no_choice_matched(
    parity_stack: StackProcess,
) -> None:
    """A Choice whose rules all fail to match and that has no Default raises
    `States.NoChoiceMatched` (Amazon States Language, Choice state; "Error names",
    https://docs.aws.amazon.com/step-functions/latest/dg/concepts-error-handling.html): the
    execution fails with that error; with a matching input the same machine succeeds."""
    choice = {
        "StartAt": "Decide",
        "States": {
            "Decide": {
                "Type": "Choice",
                "Choices": [{"Variable": "$.n", "NumericGreaterThan": 10, "Next": "Big"}],
            },
            "Big": {"Type": "Succeed"},
        },
    }
    execution = run(parity_stack, choice, {"n": 1})
    assert execution.status == "FAILED"
    assert execution.error == "States.NoChoiceMatched"

    matched = run(parity_stack, choice, {"n": 11})
    assert matched.status == "SUCCEEDED"


# -- 8. Errors raised inside a Parallel branch or a Map iteration ---------------------------


def _token_wait(stack: StackProcess) -> dict[str, Any]:
    """A task waiting for a token nobody sends: States.Timeout after its 1 s TimeoutSeconds."""
    queue_url = stack.client("sqs").get_queue_url(QueueName=stack.resource("NotesQueue")["name"])
    return {
        "Type": "Task",
        "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken",
        "Parameters": {"QueueUrl": queue_url["QueueUrl"], "MessageBody": {"t.$": "$$.Task.Token"}},
        "TimeoutSeconds": 1,
        "End": True,
    }


def _in_parallel(state: dict[str, Any], error_equals: str) -> dict[str, Any]:
    branches = [
        {"StartAt": "Inner", "States": {"Inner": state}},
        {"StartAt": "Fine", "States": {"Fine": {"Type": "Pass", "End": True}}},
    ]
    return _caught("Both", {"Type": "Parallel", "Branches": branches}, error_equals)


@pytest.mark.parametrize("error_equals", ["States.Timeout", "States.ALL"])
def test_a_parallel_state_catches_a_states_error_of_its_branch(
    parity_stack: StackProcess, error_equals: str
) -> None:
    """ "If any branch fails, because of an unhandled error or by transitioning to a Fail
    state, the entire Parallel state fails" ("Parallel workflow state", state-parallel.html),
    with that error, which the Parallel state's Catch handles like any error of its own
    ("Error handling in Step Functions", concepts-error-handling.html: a Task that runs
    longer than its TimeoutSeconds fails with States.Timeout, which States.ALL matches)."""
    definition = _in_parallel(_token_wait(parity_stack), error_equals)
    execution = run(parity_stack, definition)
    assert execution.status == "SUCCEEDED", (execution.error, execution.cause)
    assert execution.output["Error"] == "States.Timeout"
    assert "ParallelStateFailed" in [event["type"] for event in execution.events]


def test_a_parallel_state_fails_with_the_custom_error_of_a_branch_fail_state(
    parity_stack: StackProcess,
) -> None:
    """A branch's Fail state fails the Parallel state with its Error and Cause (same page);
    a Catch naming another error leaves the execution failed with them."""
    fail = {"Type": "Fail", "Error": "Order.Rejected", "Cause": "out of stock"}
    caught = run(parity_stack, _in_parallel(fail, "Order.Rejected"))
    assert caught.status == "SUCCEEDED", (caught.error, caught.cause)
    assert caught.output == {"Error": "Order.Rejected", "Cause": "out of stock"}

    uncaught = run(parity_stack, _in_parallel(fail, "Other.Error"))
    assert uncaught.status == "FAILED"
    assert (uncaught.error, uncaught.cause) == ("Order.Rejected", "out of stock")


def test_states_all_on_a_parallel_state_does_not_catch_a_branch_states_runtime(
    parity_stack: StackProcess,
) -> None:
    """States.ALL "can't catch ... Runtime error types" (concepts-error-handling.html): a
    branch's JSONPath that matches nothing fails the Parallel state and the execution with
    States.Runtime, whose cause is the branch's."""
    missing = {"Type": "Pass", "Parameters": {"a.$": "$.missing"}, "End": True}
    execution = run(parity_stack, _in_parallel(missing, "States.ALL"))
    assert execution.status == "FAILED"
    assert execution.error == "States.Runtime"
    assert execution.cause is not None and "'$.missing'" in execution.cause


def test_a_map_state_catches_a_states_error_of_its_iteration(parity_stack: StackProcess) -> None:
    """An inline Map state fails when an iteration fails, unless a tolerated failure
    threshold says otherwise ("Map state", state-map.html), with the iteration's error,
    which its Catch handles as a Parallel state's does its branch's."""
    processor = {"StartAt": "Inner", "States": {"Inner": _token_wait(parity_stack)}}
    each = {"Type": "Map", "ItemsPath": "$.items", "ItemProcessor": processor}
    execution = run(parity_stack, _caught("Each", each, "States.Timeout"), {"items": [1]})
    assert execution.status == "SUCCEEDED", (execution.error, execution.cause)
    assert execution.output["Error"] == "States.Timeout"


# -- 9. A state machine's own TimeoutSeconds --------------------------------------------------


def test_an_execution_past_the_state_machine_timeout_times_out(parity_stack: StackProcess) -> None:
    """The top-level `TimeoutSeconds` is "the maximum number of seconds an execution of the
    state machine can run"; past it the execution fails with States.Timeout
    ("State machine structure", statemachine-structure.html), which DescribeExecution
    reports as status TIMED_OUT (API_DescribeExecution.html). Its task waits for a token
    without a timeout of its own, so only the machine's limit can end it."""
    waiting = {**_token_wait(parity_stack)}
    del waiting["TimeoutSeconds"]
    definition = {"TimeoutSeconds": 1, "StartAt": "Wait", "States": {"Wait": waiting}}
    execution = run(parity_stack, definition)
    assert execution.status == "TIMED_OUT"
