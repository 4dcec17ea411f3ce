"""The engine's speed adapters answer exactly as the slow paths they replace."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

from sluice import engine, trigger_service, wsgi_client
from sluice.engine import speed as engine_speed
from sluice.testing import StackProcess
from sluice.triggers.clients import boto3_client_factory

# Never contacted: requests are answered by the application in process.
ENDPOINT = "http://127.0.0.1:1"


@pytest.fixture()
def in_process() -> Iterator[Any]:
    """boto3 clients of moto's server application, answered in process, by service."""
    engine.install()
    app = DomainDispatcherApplication(create_backend_app)
    engine_speed.use_in_process_services(app)

    def client(service: str) -> Any:
        made = boto3.client(
            service,  # type: ignore[call-overload]
            endpoint_url=ENDPOINT,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        made.sluice_app = app
        return wsgi_client.answered_by(made, lambda: app)

    yield client
    engine_speed.use_in_process_services(None)


@pytest.fixture()
def dynamodb(in_process: Any) -> Iterator[Any]:
    """A boto3 DynamoDB client of moto's server application, answered in process."""
    client = in_process("dynamodb")
    name = f"t{id(client)}"
    client.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    client.sluice_table = name
    yield client


def test_plain_json_client_answers_as_botocore_does(dynamodb: Any) -> None:
    plain = engine_speed.route_in_process(dynamodb)
    assert isinstance(plain, engine_speed.PlainJsonClient)
    table = dynamodb.sluice_table
    item = {"pk": {"S": "a"}, "n": {"N": "1"}, "tags": {"SS": ["x", "y"]}}
    assert "Attributes" not in plain.put_item(TableName=table, Item=item)

    replaced = plain.put_item(
        TableName=table, Item={"pk": {"S": "a"}, "n": {"N": "2"}}, ReturnValues="ALL_OLD"
    )
    got_plain = plain.get_item(TableName=table, Key={"pk": {"S": "a"}})
    got_boto = dynamodb.get_item(TableName=table, Key={"pk": {"S": "a"}})

    assert replaced["Attributes"] == item
    assert got_plain["Item"] == got_boto["Item"] == {"pk": {"S": "a"}, "n": {"N": "2"}}
    assert got_plain["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert got_plain["ResponseMetadata"]["RequestId"]


def test_plain_json_client_raises_the_client_error_botocore_raises(dynamodb: Any) -> None:
    plain = engine_speed.route_in_process(dynamodb)
    table = dynamodb.sluice_table
    plain.put_item(TableName=table, Item={"pk": {"S": "taken"}})
    conditional = {
        "TableName": table,
        "Item": {"pk": {"S": "taken"}},
        "ConditionExpression": "attribute_not_exists(pk)",
    }

    with pytest.raises(ClientError) as fast:
        plain.put_item(**conditional)
    with pytest.raises(ClientError) as slow:
        dynamodb.put_item(**conditional)

    assert fast.value.response["Error"] == slow.value.response["Error"]
    assert fast.value.response["Error"]["Code"] == "ConditionalCheckFailedException"
    assert fast.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert fast.value.operation_name == "PutItem"


def test_plain_json_client_hands_non_json_values_to_botocore(dynamodb: Any) -> None:
    plain = engine_speed.route_in_process(dynamodb)
    table = dynamodb.sluice_table
    plain.put_item(TableName=table, Item={"pk": {"S": "bin"}, "b": {"B": b"\x00\x01"}})

    assert dynamodb.get_item(TableName=table, Key={"pk": {"S": "bin"}})["Item"]["b"] == {
        "B": b"\x00\x01"
    }


def test_plain_json_sqs_client_answers_and_fails_as_botocore_does(in_process: Any) -> None:
    """SQS, once a query-protocol service, names its errors in a header as it did there
    (AWS.SimpleQueueService.NonExistentQueue); botocore reports that name, keeps the JSON
    one as QueryErrorCode and raises the modeled class. Binary attributes travel as the
    API's base64 text."""
    sqs = in_process("sqs")
    plain = engine_speed.route_in_process(sqs)
    assert isinstance(plain, engine_speed.PlainJsonClient)
    url = sqs.create_queue(QueueName=f"q{id(sqs)}")["QueueUrl"]
    attributes = {"blob": {"DataType": "Binary", "BinaryValue": "aGk="}}

    sent = plain.send_message(QueueUrl=url, MessageBody="one", MessageAttributes=attributes)
    receive = {"QueueUrl": url, "MessageAttributeNames": ["All"], "VisibilityTimeout": 0}
    [got] = plain.receive_message(**receive)["Messages"]
    [parsed] = sqs.receive_message(**receive)["Messages"]

    assert got["MessageId"] == parsed["MessageId"] == sent["MessageId"]
    assert got["Body"] == parsed["Body"] == "one"
    assert got["MessageAttributes"]["blob"]["BinaryValue"] == "aGk="
    assert parsed["MessageAttributes"]["blob"]["BinaryValue"] == b"hi"
    assert sent["MD5OfMessageAttributes"] == got["MD5OfMessageAttributes"]
    errors = []
    for client in (plain, sqs):
        with pytest.raises(ClientError) as missing:
            client.send_message(QueueUrl=url + "-gone", MessageBody="x")
        errors.append((type(missing.value).__name__, missing.value.response["Error"]))
    assert errors[0] == errors[1]
    assert errors[0][0] == "QueueDoesNotExist"
    assert errors[0][1]["Code"] == "AWS.SimpleQueueService.NonExistentQueue"


def test_plain_json_step_functions_client_fails_a_start_as_botocore_does(in_process: Any) -> None:
    """A rule's StartExecution goes without botocore (one attempt per call, as the rule's
    RetryPolicy counts them); what EventBridge's delivery reads of a failure, the modeled
    error, its code and its HTTP status, is botocore's."""
    sfn = in_process("stepfunctions")
    plain = engine_speed.PlainJsonClient(sfn, lambda: sfn.sluice_app)
    missing = "arn:aws:states:us-east-1:123456789012:stateMachine:gone"
    errors = []
    for client in (plain, sfn):
        with pytest.raises(ClientError) as failed:
            client.start_execution(stateMachineArn=missing, input="{}")
        response = failed.value.response
        errors.append(
            (
                type(failed.value).__name__,
                response["Error"]["Code"],
                response["ResponseMetadata"]["HTTPStatusCode"],
            )
        )
    assert errors[0] == errors[1] == ("StateMachineDoesNotExist", "StateMachineDoesNotExist", 400)


def test_only_clients_that_make_one_attempt_per_call_skip_botocore_for_step_functions() -> None:
    """Pipes' Step Functions targets keep botocore's retries; rules' deliveries make one
    attempt per call, which is what PlainJsonClient does."""
    made = boto3_client_factory(region_name="us-east-1", endpoint_url=ENDPOINT)
    assert trigger_service._skips_botocore(made("sqs"))
    assert trigger_service._skips_botocore(
        made("stepfunctions", inject_host_prefix=False, retries={"total_max_attempts": 1})
    )
    assert not trigger_service._skips_botocore(made("stepfunctions", inject_host_prefix=False))
    assert not trigger_service._skips_botocore(made("dynamodb"))


def test_an_answer_carries_its_request_id_in_its_header_and_in_its_xml_body(
    in_process: Any,
) -> None:
    """Each answer's x-amzn-RequestId; a query-protocol answer (XML) carries the same id in
    its <RequestId>, which botocore reports; a JSON answer's body is left as it is."""
    topic = in_process("sns").create_topic(Name="ids")
    meta = topic["ResponseMetadata"]
    assert meta["RequestId"] == meta["HTTPHeaders"]["x-amzn-requestid"]
    assert len(meta["RequestId"]) > 10
    tables = in_process("dynamodb").list_tables()
    assert tables["ResponseMetadata"]["HTTPHeaders"]["x-amzn-requestid"]
    assert "TableNames" in tables


def test_in_process_lambda_answers_as_the_invoke_api() -> None:
    def invoke(function: str, event: Any) -> tuple[bytes, str | None, str]:
        if function != "known":
            raise KeyError(function)
        if event.get("fail"):
            return b'{"errorType": "Boom"}', "Unhandled", "req-2"
        return json.dumps({"echo": event}).encode(), None, "req-1"

    client = engine_speed.InProcessLambda(invoke)

    ok = client.invoke(FunctionName="known", Payload=json.dumps({"a": 1}))
    failed = client.invoke(FunctionName="known", Payload=b'{"fail": true}')
    with pytest.raises(ClientError) as missing:
        client.invoke(FunctionName="gone", Payload="{}")
    with pytest.raises(ClientError) as not_json:
        client.invoke(FunctionName="known", Payload="{not json")

    assert (ok["StatusCode"], json.load(ok["Payload"])) == (200, {"echo": {"a": 1}})
    assert "FunctionError" not in ok
    assert failed["FunctionError"] == "Unhandled"
    assert json.load(failed["Payload"]) == {"errorType": "Boom"}
    assert missing.value.response["Error"]["Code"] == "ResourceNotFoundException"
    assert missing.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    assert not_json.value.response["Error"]["Code"] == "InvalidRequestContentException"


def test_json_copy_is_a_deep_copy_and_leaves_other_objects_to_deepcopy() -> None:
    value = {"a": [1, 2.5, {"b": None, "c": True}], "s": "x"}
    other = {"when": Path("/tmp"), "nested": [{"k": "v"}]}

    copied = engine_speed.json_copy(value)
    copied_other = engine_speed.json_copy(other)
    copied["a"][2]["b"] = "changed"
    copied["a"][0] = "changed"  # a list of atoms is a list of its own too
    copied_other["nested"][0]["k"] = "changed"

    assert value == {"a": [1, 2.5, {"b": None, "c": True}], "s": "x"}
    assert other["nested"] == [{"k": "v"}]
    assert copied_other["when"] == Path("/tmp")


def test_executions_sharing_one_program_keep_their_own_retry_counts(
    fixture_stack: StackProcess, tmp_path: Path
) -> None:
    """One parsed program serves concurrent executions: each counts its own attempts."""
    fail_times = [0, 1, 2, 0, 1, 2]

    def run(i: int) -> Any:
        payload = {"counter_file": str(tmp_path / f"c{i}"), "fail_times": fail_times[i]}
        return fixture_stack.run("retry_catch", payload)

    with ThreadPoolExecutor(len(fail_times)) as pool:
        executions = list(pool.map(run, range(len(fail_times))))

    assert [e.status for e in executions] == ["SUCCEEDED"] * len(fail_times)
    assert [e.output["result"]["attempts"] for e in executions] == [n + 1 for n in fail_times]
    assert [e.attempts("Work") for e in executions] == [n + 1 for n in fail_times]


def test_execution_names_stay_unique_and_idempotent(fixture_stack: StackProcess) -> None:
    """StartExecution's name check (an index here, a scan in moto) keeps AWS's rules."""
    sfn = fixture_stack.client("stepfunctions")
    arn = fixture_stack.flow_arn("retry_catch")
    names = [f"named-{uuid.uuid4().hex}" for _ in range(5)]
    started = [
        sfn.start_execution(stateMachineArn=arn, name=name, input="{}")["executionArn"]
        for name in names
    ]

    assert [a.rsplit(":", 1)[-1] for a in started] == names
    with pytest.raises(ClientError) as taken:
        sfn.start_execution(stateMachineArn=arn, name=names[2], input='{"other": 1}')

    assert taken.value.response["Error"]["Code"] == "ExecutionAlreadyExists"
    assert names[2] in taken.value.response["Error"]["Message"]


def test_executions_are_described_by_their_arn_among_many(fixture_stack: StackProcess) -> None:
    """DescribeExecution, GetExecutionHistory and StopExecution find an execution by its
    ARN (an index here, a scan in moto), Express ARNs included; an ARN naming no execution
    of the machine is ExecutionDoesNotExist, as on AWS."""
    sfn = fixture_stack.client("stepfunctions")
    standard = fixture_stack.flow_arn("retry_catch")
    express = fixture_stack.flow_arn("queue_target")
    started = [
        sfn.start_execution(stateMachineArn=machine, input="{}")["executionArn"]
        for machine in (standard, express) * 20
    ]

    for arn in started:
        desc = sfn.describe_execution(executionArn=arn)
        assert desc["executionArn"] == arn and desc["name"] == arn.split(":")[7]
    assert started[1].split(":")[5] == "express"
    history = sfn.get_execution_history(executionArn=started[-2])["events"]
    assert history[0]["type"] == "ExecutionStarted"

    # A known name with another Express id, and a name the machine never ran.
    for unknown in (started[1].rsplit(":", 1)[0] + f":{uuid.uuid4()}", started[0] + "-x"):
        with pytest.raises(ClientError) as missing:
            sfn.describe_execution(executionArn=unknown)
        assert missing.value.response["Error"]["Code"] == "ExecutionDoesNotExist"
