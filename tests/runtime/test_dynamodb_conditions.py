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


@pytest.mark.parametrize(
    ("expression", "problem"),
    [
        (
            "#undefined = :s",
            "An expression attribute name used in the document path is not defined; "
            "attribute name: #undefined",
        ),
        (
            "s = :undefined",
            "An expression attribute value used in expression is not defined; "
            "attribute value: :undefined",
        ),
        ("attribute_not_exists(pk) OR", "Syntax error; "),
    ],
)
def test_an_invalid_expression_is_a_validation_error_naming_it(
    ddb: Any, expression: str, problem: str
) -> None:
    """DynamoDB rejects an expression using a name or value the request does not define,
    or not parsing, with HTTP 400 ValidationException naming the parameter (Common Errors,
    DynamoDB API reference; Specifying conditions, expression attribute names and values)."""
    values = {":s": {"S": "open"}}
    calls = {
        "ConditionExpression": lambda: ddb.put_item(
            TableName="t",
            Item=ITEM,
            ConditionExpression=expression,
            ExpressionAttributeValues=values,
        ),
        "FilterExpression": lambda: ddb.query(
            TableName="t",
            KeyConditionExpression="pk = :pk",
            FilterExpression=expression,
            ExpressionAttributeValues={**values, ":pk": {"S": "a"}},
        ),
    }
    for parameter, call in calls.items():
        with pytest.raises(ClientError) as rejected:
            call()
        error = rejected.value.response["Error"]
        assert error["Code"] == "ValidationException"
        assert rejected.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
        assert error["Message"].startswith(f"Invalid {parameter}: {problem}")
    assert ddb.get_item(TableName="t", Key={"pk": {"S": "a"}})["Item"] == ITEM  # unchanged


def test_an_update_naming_an_undefined_attribute_name_is_a_validation_error(ddb: Any) -> None:
    """As above, for an UpdateExpression (UpdateItem, expression attribute names)."""
    with pytest.raises(ClientError) as rejected:
        ddb.update_item(
            TableName="t",
            Key={"pk": {"S": "a"}},
            UpdateExpression="SET #undefined = :n",
            ExpressionAttributeValues={":n": {"N": "6"}},
        )
    error = rejected.value.response["Error"]
    assert error["Code"] == "ValidationException"
    assert rejected.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert error["Message"] == (
        "Invalid UpdateExpression: An expression attribute name used in the document path "
        "is not defined; attribute name: #undefined"
    )
    assert ddb.get_item(TableName="t", Key={"pk": {"S": "a"}})["Item"] == ITEM
