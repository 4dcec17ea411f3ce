"""The answers written with json.dumps instead of moto's serializer (sluice/engine/
wire_json.py) read as AWS documents them.

- DynamoDB Streams' GetRecords: a NEW_AND_OLD_IMAGES stream gives each change once, in
  order, as INSERT, MODIFY or REMOVE, with the item's key and the images before and after
  it ("StreamRecord", Amazon DynamoDB Streams API Reference,
  https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_streams_StreamRecord.html).
- DynamoDB's reads (GetItem, BatchGetItem, Query, Scan, TransactGetItems): each item as it
  was written; GetItem of a missing key has no Item; a Limit ends a page with its
  LastEvaluatedKey, where the next page starts ("GetItem", "Scan", Amazon DynamoDB API
  Reference, https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_Scan.html).
- DynamoDB's writes (PutItem, UpdateItem, DeleteItem, BatchWriteItem): Attributes only
  when ReturnValues asks for them, the old or updated attributes as asked; a batch that
  was written whole has empty UnprocessedItems ("PutItem", "UpdateItem", Amazon DynamoDB
  API Reference, https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_UpdateItem.html).
- Step Functions' GetExecutionHistory: events numbered from 1, each naming the event before
  it, with their timestamps and details ("HistoryEvent", AWS Step Functions API Reference,
  https://docs.aws.amazon.com/step-functions/latest/apireference/API_HistoryEvent.html).
- Step Functions' StartExecution, DescribeExecution and ListExecutions: a running
  execution has no stopDate and no output; a stopped one has its stopDate, a succeeded
  one its output, a failed one its error and cause ("DescribeExecution", AWS Step
  Functions API Reference,
  https://docs.aws.amazon.com/step-functions/latest/apireference/API_DescribeExecution.html).
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config

from sluice.engine import moto_seam
from sluice.in_process import mocked_aws
from sluice.testing import in_process_aws
from sluice.waiting import wait_for

REGION = "us-east-1"
# Every AttributeValue type, binaries and nesting included.
ITEM: dict[str, Any] = {
    "id": {"S": "artist-1"},
    "rank": {"N": "3"},
    "score": {"N": "1.5"},
    "photo": {"B": b"\x00\x01\xff"},
    "embedding": {"L": [{"N": str(i / 7)} for i in range(64)]},
    "tags": {"SS": ["jazz", "soul"]},
    "counts": {"NS": ["1", "2"]},
    "thumbs": {"BS": [b"ab", b"\x00"]},
    "profile": {
        "M": {
            "bio": {"S": 'ünï "quoted" \u2028'},
            "gone": {"NULL": True},
            "active": {"BOOL": False},
            "empty": {"M": {}},
            "none": {"L": []},
        }
    },
}


@pytest.fixture
def clients() -> Iterator[tuple[Any, Any]]:
    moto_seam.install()
    with mocked_aws():
        ddb = boto3.client("dynamodb", region_name=REGION)
        # Recent botocore sends stream calls to account-based hosts, which moto does not route.
        streams = boto3.client(
            "dynamodbstreams",
            region_name=REGION,
            config=Config(account_id_endpoint_mode="disabled"),
        )
        yield ddb, streams


def _records(ddb: Any, streams: Any, table: str) -> list[dict[str, Any]]:
    arn = ddb.describe_table(TableName=table)["Table"]["LatestStreamArn"]
    (shard,) = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]
    iterator = streams.get_shard_iterator(
        StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    records: list[dict[str, Any]] = []
    while iterator:
        page = streams.get_records(ShardIterator=iterator)
        if not page["Records"]:
            return records
        records += page["Records"]
        iterator = page.get("NextShardIterator")
    return records


def _artists_table(ddb: Any, name: str, **options: Any) -> None:
    ddb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        **options,
    )


def test_each_change_is_a_record_with_its_keys_and_images(clients: tuple[Any, Any]) -> None:
    ddb, streams = clients
    _artists_table(
        ddb,
        "artists",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )
    before = datetime.datetime.now(datetime.UTC) - datetime.timedelta(seconds=1)
    changed = {**ITEM, "rank": {"N": "4"}}
    ddb.put_item(TableName="artists", Item=ITEM)
    ddb.put_item(TableName="artists", Item=changed)
    ddb.delete_item(TableName="artists", Key={"id": ITEM["id"]})

    inserted, modified, removed = _records(ddb, streams, "artists")

    assert [r["eventName"] for r in (inserted, modified, removed)] == [
        "INSERT",
        "MODIFY",
        "REMOVE",
    ]
    for record in (inserted, modified, removed):
        assert record["eventSource"] == "aws:dynamodb"
        assert record["awsRegion"] == REGION
        change = record["dynamodb"]
        assert change["Keys"] == {"id": {"S": "artist-1"}}
        assert change["StreamViewType"] == "NEW_AND_OLD_IMAGES"
        assert change["ApproximateCreationDateTime"] >= before
    assert "OldImage" not in inserted["dynamodb"]
    assert inserted["dynamodb"]["NewImage"] == ITEM
    assert modified["dynamodb"]["OldImage"] == ITEM
    assert modified["dynamodb"]["NewImage"] == changed
    assert removed["dynamodb"]["OldImage"] == changed
    assert "NewImage" not in removed["dynamodb"]
    numbers = [int(r["dynamodb"]["SequenceNumber"]) for r in (inserted, modified, removed)]
    assert numbers == sorted(set(numbers))


def test_reads_give_each_item_as_written(clients: tuple[Any, Any]) -> None:
    ddb, _ = clients
    _artists_table(ddb, "works")
    items = sorted(({**ITEM, "id": {"S": f"artist-{n}"}} for n in range(3)), key=_id)
    for item in items:
        ddb.put_item(TableName="works", Item=item)
    key = {"id": {"S": "artist-1"}}
    (one,) = (i for i in items if i["id"] == key["id"])

    assert ddb.get_item(TableName="works", Key=key, ConsistentRead=True)["Item"] == one
    assert "Item" not in ddb.get_item(TableName="works", Key={"id": {"S": "nobody"}})
    batch = ddb.batch_get_item(RequestItems={"works": {"Keys": [{"id": i["id"]} for i in items]}})
    assert sorted(batch["Responses"]["works"], key=_id) == items
    assert not batch["UnprocessedKeys"]
    found = ddb.query(
        TableName="works",
        KeyConditionExpression="id = :id",
        ExpressionAttributeValues={":id": key["id"]},
    )
    assert (found["Items"], found["Count"]) == ([one], 1)
    first = ddb.scan(TableName="works", Limit=2)
    assert first["Count"] == 2 and first["LastEvaluatedKey"] == {"id": first["Items"][-1]["id"]}
    rest = ddb.scan(TableName="works", ExclusiveStartKey=first["LastEvaluatedKey"])
    assert sorted(first["Items"] + rest["Items"], key=_id) == items
    assert "LastEvaluatedKey" not in rest
    (got,) = ddb.transact_get_items(TransactItems=[{"Get": {"TableName": "works", "Key": key}}])[
        "Responses"
    ]
    assert got["Item"] == one


def _id(item: dict[str, Any]) -> str:
    return str(item["id"]["S"])


def _fails(event: Any, context: Any) -> Any:
    raise ValueError("the profile service is down")


def test_an_execution_history_reads_as_aws_documents_it() -> None:
    """A task that fails, is retried once, then caught: every event is in the history."""
    definition = {
        "StartAt": "Enrich",
        "States": {
            "Enrich": {
                "Type": "Task",
                "Resource": "arn:aws:lambda:us-east-1:123456789012:function:fails",
                "Retry": [{"ErrorEquals": ["ValueError"], "MaxAttempts": 1}],
                "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Done"}],
                "End": True,
            },
            "Done": {"Type": "Succeed"},
        },
    }
    payload = {"artist": 'Björk "live" \u2028', "ranks": [1.5, None, True]}
    before = datetime.datetime.now(datetime.UTC) - datetime.timedelta(seconds=1)
    with in_process_aws({"fails": _fails}) as aws:
        machine = aws.create_state_machine("history-wire", json.dumps(definition))
        execution = aws.run(machine, payload)
        sfn = aws.client("stepfunctions")
        events = sfn.get_execution_history(executionArn=execution["executionArn"])["events"]
    after = datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=1)

    assert execution["status"] == "SUCCEEDED"
    assert [e["id"] for e in events] == list(range(1, len(events) + 1))
    assert all(e["previousEventId"] < e["id"] for e in events)
    stamps = [e["timestamp"] for e in events]
    assert all(isinstance(t, datetime.datetime) for t in stamps)
    assert stamps == sorted(stamps)
    assert before <= stamps[0] and stamps[-1] <= after
    started, *middle, ended = events
    assert started["type"] == "ExecutionStarted"
    assert json.loads(started["executionStartedEventDetails"]["input"]) == payload
    failures = [e["lambdaFunctionFailedEventDetails"] for e in middle if "Failed" in e["type"]]
    assert [f["error"] for f in failures] == ["ValueError", "ValueError"]  # the try and retry
    assert all("the profile service is down" in f["cause"] for f in failures)
    assert ended["type"] == "ExecutionSucceeded"
    output = json.loads(ended["executionSucceededEventDetails"]["output"])
    assert output["artist"] == payload["artist"]
    assert output["error"]["Error"] == "ValueError"


def test_writes_return_the_attributes_asked_for(clients: tuple[Any, Any]) -> None:
    ddb, _ = clients
    _artists_table(ddb, "ranks")
    key = {"id": ITEM["id"]}

    assert "Attributes" not in ddb.put_item(TableName="ranks", Item=ITEM)
    replaced = ddb.put_item(
        TableName="ranks", Item={**ITEM, "rank": {"N": "4"}}, ReturnValues="ALL_OLD"
    )
    assert replaced["Attributes"] == ITEM
    updated = ddb.update_item(
        TableName="ranks",
        Key=key,
        UpdateExpression="SET #r = :r",
        ExpressionAttributeNames={"#r": "rank"},
        ExpressionAttributeValues={":r": {"N": "5"}},
        ReturnValues="UPDATED_NEW",
    )
    assert updated["Attributes"] == {"rank": {"N": "5"}}
    assert "Attributes" not in ddb.update_item(
        TableName="ranks",
        Key=key,
        UpdateExpression="SET score = :s",
        ExpressionAttributeValues={":s": {"N": "2"}},
    )
    deleted = ddb.delete_item(TableName="ranks", Key=key, ReturnValues="ALL_OLD")
    assert deleted["Attributes"] == {**ITEM, "rank": {"N": "5"}, "score": {"N": "2"}}
    batch = ddb.batch_write_item(
        RequestItems={"ranks": [{"PutRequest": {"Item": {"id": {"S": f"a{n}"}}}} for n in range(3)]}
    )
    assert batch["UnprocessedItems"] == {}
    assert ddb.describe_table(TableName="ranks")["Table"]["ItemCount"] == 3


def _raw_answers(client: Any, operation: str) -> list[dict[str, Any]]:
    """The JSON bodies of CLIENT's OPERATION answers, as they came (boto3 drops what its
    model does not name, and nulls)."""
    answers: list[dict[str, Any]] = []

    def keep(http_response: Any, **_: Any) -> None:
        answers.append(json.loads(http_response.content))

    client.meta.events.register(f"after-call.sfn.{operation}", keep)
    return answers


def _ended(described: dict[str, Any]) -> dict[str, Any] | None:
    return described if described["status"] != "RUNNING" else None


def test_executions_are_described_as_aws_documents_them() -> None:
    waiting = {"StartAt": "Hold", "States": {"Hold": {"Type": "Wait", "Seconds": 300, "End": True}}}
    failing = {"StartAt": "No", "States": {"No": {"Type": "Fail", "Error": "Bad", "Cause": "why"}}}
    before = datetime.datetime.now(datetime.UTC) - datetime.timedelta(seconds=1)
    with in_process_aws({}, time_scale=1) as aws:
        sfn = aws.client("stepfunctions")
        wire = _raw_answers(sfn, "DescribeExecution")
        held = aws.create_state_machine("held", json.dumps(waiting))
        started = sfn.start_execution(stateMachineArn=held, input='{"n": 1}')
        running = sfn.describe_execution(executionArn=started["executionArn"])
        sfn.stop_execution(executionArn=started["executionArn"])
        stopped = wait_for(
            lambda: _ended(sfn.describe_execution(executionArn=started["executionArn"])),
            what="the stopped execution",
        )
        listed = sfn.list_executions(stateMachineArn=held)["executions"]
        failed = aws.run(aws.create_state_machine("failing", json.dumps(failing)), {})
        described = sfn.describe_state_machine_for_execution(executionArn=failed["executionArn"])

    assert set(started) - {"ResponseMetadata"} == {"executionArn", "startDate"}
    assert started["startDate"] >= before
    assert running["status"] == "RUNNING" and running["startDate"] == started["startDate"]
    assert "stopDate" not in running and "output" not in running
    # On the wire too: members left out, not null, and only the API's members.
    documented = set(
        sfn.meta.service_model.operation_model("DescribeExecution").output_shape.members
    )
    assert wire and all(None not in answer.values() for answer in wire)
    assert all(set(answer) <= documented for answer in wire)
    assert "stopDate" not in wire[0] and "stopDate" in wire[-1]
    assert json.loads(running["input"]) == {"n": 1}
    assert stopped["status"] == "ABORTED" and stopped["stopDate"] >= stopped["startDate"]
    (item,) = listed
    assert item["executionArn"] == started["executionArn"] and item["status"] == "ABORTED"
    assert item["stopDate"] == stopped["stopDate"]
    assert failed["status"] == "FAILED" and (failed["error"], failed["cause"]) == ("Bad", "why")
    assert "output" not in failed
    assert json.loads(described["definition"]) == failing
