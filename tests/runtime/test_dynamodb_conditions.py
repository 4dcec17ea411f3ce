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
    """DynamoDB rejects an expression (a condition, a Query's filter or key condition) using
    a name or value the request does not define, or not parsing, with HTTP 400
    ValidationException naming the parameter (Common Errors, DynamoDB API reference;
    Specifying conditions, expression attribute names and values)."""
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
        "KeyConditionExpression": lambda: ddb.query(
            TableName="t", KeyConditionExpression=expression, ExpressionAttributeValues=values
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


@pytest.mark.parametrize(
    "key_condition",
    ["pk == :pk", "pk = :pk AND AND", "pk = :pk AND begins_with(s, :s", "(pk = :pk"],
)
def test_a_key_condition_that_does_not_parse_is_a_validation_error(
    ddb: Any, key_condition: str
) -> None:
    """A KeyConditionExpression is read by DynamoDB's expression grammar: `==`, a dangling
    AND or an unclosed parenthesis is a 400 ValidationException, "Invalid
    KeyConditionExpression: Syntax error; ...", not a query answered as if it were valid."""
    error = _rejected_query(ddb, key_condition)
    assert error["Code"] == "ValidationException"
    assert error["Message"].startswith("Invalid KeyConditionExpression: Syntax error; ")


def _rejected_query(ddb: Any, key_condition: str) -> dict[str, str]:
    """The error of a query by KEY_CONDITION, which must be a 400."""
    with pytest.raises(ClientError) as rejected:
        ddb.query(
            TableName="t",
            KeyConditionExpression=key_condition,
            ExpressionAttributeValues={":pk": {"S": "a"}, ":s": {"S": "o"}},
        )
    assert rejected.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    error: dict[str, str] = rejected.value.response["Error"]
    return error


@pytest.mark.parametrize(
    ("key_condition", "message"),
    [
        ("pk = :pk OR pk = :s", "Invalid operator used in KeyConditionExpression: OR"),
        ("NOT pk = :pk", "Invalid operator used in KeyConditionExpression: NOT"),
        ("pk <> :pk", "Invalid operator used in KeyConditionExpression: <>"),
        ("pk IN (:pk, :s)", "Invalid operator used in KeyConditionExpression: IN"),
        (
            "contains(pk, :pk) AND s = :s",
            "Invalid KeyConditionExpression: Invalid function name; function: contains",
        ),
    ],
)
def test_a_key_condition_with_an_operator_queries_do_not_take_is_a_validation_error(
    ddb: Any, key_condition: str, message: str
) -> None:
    """A key condition joins with AND and compares with =, <, <=, >, >=, BETWEEN and
    begins_with only (Query, KeyConditionExpression); OR once made moto fail an assertion
    (HTTP 500)."""
    error = _rejected_query(ddb, key_condition)
    assert (error["Code"], error["Message"]) == ("ValidationException", message)


def test_a_value_no_expression_uses_is_a_validation_error(ddb: Any) -> None:
    """Every ExpressionAttributeValues entry must be used by one of the request's
    expressions (a typo in a placeholder fails the request, it is not judged on another
    value); the error names the unused keys and nothing is written. An expression that does
    not parse is reported first."""
    unused = "Value provided in ExpressionAttributeValues unused in expressions: keys: {:typo}"
    new_item = {"pk": {"S": "new"}}
    calls = {
        "PutItem": lambda values: ddb.put_item(
            TableName="t",
            Item=new_item,
            ConditionExpression="attribute_not_exists(pk) OR s = :s",
            ExpressionAttributeValues=values,
        ),
        "DeleteItem": lambda values: ddb.delete_item(
            TableName="t",
            Key={"pk": {"S": "a"}},
            ConditionExpression="s = :s",
            ExpressionAttributeValues=values,
        ),
        "Query": lambda values: ddb.query(
            TableName="t",
            KeyConditionExpression="pk = :s",
            ExpressionAttributeValues=values,
        ),
        "Scan": lambda values: ddb.scan(
            TableName="t", FilterExpression="s = :s", ExpressionAttributeValues=values
        ),
    }
    for call in calls.values():
        with pytest.raises(ClientError) as rejected:
            call({":s": {"S": "open"}, ":typo": {"S": "x"}})
        error = rejected.value.response["Error"]
        assert (error["Code"], error["Message"]) == ("ValidationException", unused)
    with pytest.raises(ClientError) as rejected:
        ddb.scan(
            TableName="t",
            FilterExpression="s = = :s",
            ExpressionAttributeValues={":s": {"S": "open"}, ":typo": {"S": "x"}},
        )
    assert rejected.value.response["Error"]["Message"].startswith(
        "Invalid FilterExpression: Syntax error; "
    )
    assert "Item" not in ddb.get_item(TableName="t", Key=new_item)
    assert ddb.get_item(TableName="t", Key={"pk": {"S": "a"}})["Item"] == ITEM
    ddb.delete_item(  # every value used: accepted
        TableName="t",
        Key={"pk": {"S": "a"}},
        ConditionExpression="s = :s",
        ExpressionAttributeValues={":s": {"S": "open"}},
    )
    assert "Item" not in ddb.get_item(TableName="t", Key={"pk": {"S": "a"}})


def test_a_projection_naming_an_undefined_attribute_name_is_a_validation_error(
    ddb: Any,
) -> None:
    """A ProjectionExpression's `#name` must be defined in ExpressionAttributeNames, in
    every read that takes one; a defined one projects the attribute it names."""
    key = {"pk": {"S": "a"}}
    reads = {
        "GetItem": lambda projection, names: ddb.get_item(
            TableName="t", Key=key, ProjectionExpression=projection, **names
        )["Item"],
        "Query": lambda projection, names: ddb.query(
            TableName="t",
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": "a"}},
            ProjectionExpression=projection,
            **names,
        )["Items"][0],
        "Scan": lambda projection, names: ddb.scan(
            TableName="t", ProjectionExpression=projection, **names
        )["Items"][0],
        "BatchGetItem": lambda projection, names: ddb.batch_get_item(
            RequestItems={"t": {"Keys": [key], "ProjectionExpression": projection, **names}}
        )["Responses"]["t"][0],
    }
    for read in reads.values():
        assert read("#s, n", {"ExpressionAttributeNames": {"#s": "s"}}) == {
            "s": ITEM["s"],
            "n": ITEM["n"],
        }
        with pytest.raises(ClientError) as rejected:
            read("#s, n", {})
        error = rejected.value.response["Error"]
        assert error["Code"] == "ValidationException"
        assert error["Message"] == (
            "Invalid ProjectionExpression: An expression attribute name used in the document "
            "path is not defined; attribute name: #s"
        )


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
