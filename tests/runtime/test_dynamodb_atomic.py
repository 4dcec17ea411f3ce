"""DynamoDB item operations are atomic, as on AWS: of many concurrent conditional PutItems
on one key, exactly one succeeds (moto alone let two through now and then: 5 of 150 rounds
of 20 writers through the gateway, which broke idempotency claims), and an item read while
it is updated is answered whole."""

from __future__ import annotations

import threading
import uuid

import boto3
from botocore.exceptions import ClientError
from moto.core import DEFAULT_ACCOUNT_ID
from moto.dynamodb.models import dynamodb_backends

from sluice.engine import moto_seam
from sluice.in_process import mocked_aws
from sluice.testing import StackProcess

WRITERS = 20
ROUNDS = 150
CLAIM = "attribute_not_exists(pk) OR (#status = :inProgress AND inProgressUntil < :now)"


def test_concurrent_conditional_puts_on_one_key_have_exactly_one_winner(
    stack: StackProcess,
) -> None:
    table = f"atomic-{uuid.uuid4().hex[:8]}"
    admin = stack.client("dynamodb")
    admin.create_table(
        TableName=table,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
    )
    clients = [stack.client("dynamodb") for _ in range(WRITERS)]
    split = []
    try:
        for round_ in range(ROUNDS):
            key = f"sale-{uuid.uuid4()}"
            winners: list[int] = []
            start = threading.Barrier(WRITERS)

            def claim(
                writer: int,
                key: str = key,
                winners: list[int] = winners,
                start: threading.Barrier = start,
            ) -> None:
                start.wait()
                try:
                    clients[writer].put_item(
                        TableName=table,
                        Item={
                            "pk": {"S": key},
                            "status": {"S": "IN_PROGRESS"},
                            "by": {"N": str(writer)},
                        },
                        ConditionExpression=CLAIM,
                        ExpressionAttributeNames={"#status": "status"},
                        ExpressionAttributeValues={
                            ":inProgress": {"S": "IN_PROGRESS"},
                            ":now": {"N": "1"},
                        },
                    )
                except ClientError as exc:
                    assert exc.response["Error"]["Code"] == "ConditionalCheckFailedException"
                else:
                    winners.append(writer)

            threads = [threading.Thread(target=claim, args=(w,)) for w in range(WRITERS)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            item = admin.get_item(TableName=table, Key={"pk": {"S": key}}, ConsistentRead=True)
            if len(winners) != 1 or item["Item"]["by"]["N"] != str(winners[0]):
                split.append((round_, winners))
    finally:
        admin.delete_table(TableName=table)
    assert split == []


def test_an_update_leaves_the_item_an_earlier_answer_holds_unchanged() -> None:
    """The item an answer holds is serialised after the backend's lock is released. moto's
    UpdateItem changed that same stored item in place, so a GetItem answered while an
    update added an attribute failed ("dictionary changed size during iteration"; in a
    state machine, DynamoDB.AmazonDynamoDBException under load)."""
    moto_seam.install()
    with mocked_aws():
        ddb = boto3.client("dynamodb", region_name="us-east-1")
        ddb.create_table(
            TableName="claims",
            BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "S"},
            ],
            KeySchema=[
                {"AttributeName": "pk", "KeyType": "HASH"},
                {"AttributeName": "sk", "KeyType": "RANGE"},
            ],
        )
        key = {"pk": {"S": "sale-1"}, "sk": {"S": "VERSION"}}
        ddb.put_item(TableName="claims", Item={**key, "status": {"S": "IN_PROGRESS"}})
        backend = dynamodb_backends[DEFAULT_ACCOUNT_ID]["us-east-1"]
        answered = backend.get_item("claims", key)
        assert answered is not None
        before = answered.to_json()

        ddb.update_item(
            TableName="claims",
            Key=key,
            UpdateExpression="SET #status = :done, completedAt = :now",
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues={":done": {"S": "COMPLETED"}, ":now": {"N": "1"}},
        )

        assert answered.to_json() == before
        now = ddb.get_item(TableName="claims", Key=key, ConsistentRead=True)["Item"]
        assert now == {**key, "status": {"S": "COMPLETED"}, "completedAt": {"N": "1"}}
