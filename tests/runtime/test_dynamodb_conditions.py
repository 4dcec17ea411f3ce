"""Condition expressions as the stack's DynamoDB judges them: each call by its own
attribute names and values, though moto's tokens of one expression text are kept."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from sluice import engine

EXPRESSION = "attribute_not_exists(pk) OR (#s = :s AND n < :n)"
ITEM = {"pk": {"S": "a"}, "s": {"S": "open"}, "n": {"N": "5"}}


@pytest.fixture()
def ddb() -> Iterator[Any]:
    engine.install()
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        client.create_table(
            TableName="t",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        client.put_item(TableName="t", Item=ITEM)
        yield client


def _put(ddb: Any, names: dict[str, str], values: dict[str, Any]) -> str:
    try:
        ddb.put_item(
            TableName="t",
            Item=ITEM,
            ConditionExpression=EXPRESSION,
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
        )
    except ClientError as exc:
        return str(exc.response["Error"]["Code"])
    return "written"


def test_one_expression_is_judged_by_each_calls_own_names_and_values(ddb: Any) -> None:
    open_below = {":s": {"S": "open"}, ":n": {"N": "10"}}
    assert _put(ddb, {"#s": "s"}, open_below) == "written"  # 5 < 10
    assert _put(ddb, {"#s": "s"}, {**open_below, ":n": {"N": "1"}}) == (
        "ConditionalCheckFailedException"  # 5 < 1 is false
    )
    assert _put(ddb, {"#s": "s"}, {**open_below, ":s": {"S": "closed"}}) == (
        "ConditionalCheckFailedException"
    )
    assert _put(ddb, {"#s": "missing"}, open_below) == "ConditionalCheckFailedException"
    assert _put(ddb, {"#s": "s"}, open_below) == "written"
