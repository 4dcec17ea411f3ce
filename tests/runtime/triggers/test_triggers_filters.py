"""FilterCriteria semantics: EventBridge patterns, ORed, applied to Pipes-shaped records."""

from __future__ import annotations

import json
from typing import Any

import pytest
from moto.events.models import InvalidEventPatternException

from sluice.triggers.filters import RecordFilter, matches


def ddb_record(
    event_name: str = "INSERT", pk: str = "order#1", status: str | None = "NEW"
) -> dict[str, Any]:
    image: dict[str, Any] = {"pk": {"S": pk}, "Id": {"N": "101"}}
    if status is not None:
        image["status"] = {"S": status}
    return {
        "eventID": "1",
        "eventName": event_name,
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": "us-east-1",
        "dynamodb": {
            "Keys": {"pk": {"S": pk}, "Id": {"N": "101"}},
            "NewImage": image,
            "SequenceNumber": "100",
        },
        "eventSourceARN": "arn:aws:dynamodb:us-east-1:123456789012:table/t/stream/x",
    }


def sqs_record(body: str) -> dict[str, Any]:
    return {
        "messageId": "m1",
        "body": body,
        "attributes": {"ApproximateReceiveCount": "1"},
        "eventSource": "aws:sqs",
    }


def test_empty_filter_list_passes_everything() -> None:
    assert matches([], ddb_record())
    assert matches([], sqs_record("not json"))
    assert not RecordFilter([])


def test_exact_and_prefix_match() -> None:
    assert matches([{"eventName": ["INSERT"]}], ddb_record("INSERT"))
    assert not matches([{"eventName": ["INSERT"]}], ddb_record("MODIFY"))
    prefix = [{"dynamodb": {"Keys": {"pk": {"S": [{"prefix": "order#"}]}}}}]
    assert matches(prefix, ddb_record(pk="order#9"))
    assert not matches(prefix, ddb_record(pk="invoice#9"))


def test_dynamodb_number_key_from_the_aws_docs() -> None:
    # N attributes are strings in DynamoDB JSON, so the pattern uses a string too.
    pattern = [{"dynamodb": {"Keys": {"Id": {"N": ["101"]}}}}]
    assert matches(pattern, ddb_record())
    assert not matches([{"dynamodb": {"Keys": {"Id": {"N": ["102"]}}}}], ddb_record())


def test_anything_but() -> None:
    pattern = [{"eventName": [{"anything-but": ["REMOVE"]}]}]
    assert matches(pattern, ddb_record("INSERT"))
    assert matches(pattern, ddb_record("MODIFY"))
    assert not matches(pattern, ddb_record("REMOVE"))


def test_exists_on_leaf() -> None:
    has_status = [{"dynamodb": {"NewImage": {"status": {"S": [{"exists": True}]}}}}]
    no_status = [{"dynamodb": {"NewImage": {"status": {"S": [{"exists": False}]}}}}]
    assert matches(has_status, ddb_record(status="NEW"))
    assert not matches(has_status, ddb_record(status=None))
    assert matches(no_status, ddb_record(status=None))
    assert not matches(no_status, ddb_record(status="NEW"))


def test_numeric_range_on_sqs_json_body() -> None:
    pattern = [{"body": {"amount": [{"numeric": [">", 100, "<=", 500]}]}}]
    assert matches(pattern, sqs_record(json.dumps({"amount": 150})))
    assert not matches(pattern, sqs_record(json.dumps({"amount": 50})))
    assert not matches(pattern, sqs_record(json.dumps({"amount": 501})))
    assert not matches(pattern, sqs_record(json.dumps({"other": 150})))


def test_patterns_are_ored() -> None:
    patterns: list[dict[str, Any]] = [
        {"eventName": ["REMOVE"]},
        {"dynamodb": {"NewImage": {"status": {"S": ["PAID"]}}}},
    ]
    assert matches(patterns, ddb_record("REMOVE"))
    assert matches(patterns, ddb_record("INSERT", status="PAID"))
    assert not matches(patterns, ddb_record("INSERT", status="NEW"))


def test_sqs_body_json_decoded_but_plain_text_matched_raw() -> None:
    json_pattern = [{"body": {"type": ["order"]}}]
    assert matches(json_pattern, sqs_record('{"type": "order"}'))
    assert not matches(json_pattern, sqs_record('{"type": "refund"}'))
    # A plain-text body is matched as a string, and never as JSON fields.
    text_pattern = [{"body": [{"prefix": "hello"}]}]
    assert matches(text_pattern, sqs_record("hello world"))
    assert not matches(text_pattern, sqs_record("goodbye"))
    assert not matches(json_pattern, sqs_record("type=order"))


def test_body_decoding_only_applies_to_sqs_records() -> None:
    record = {"eventSource": "custom", "body": '{"type": "order"}'}
    assert not matches([{"body": {"type": ["order"]}}], record)
    assert matches([{"body": ['{"type": "order"}']}], record)


def test_patterns_given_as_json_text_work() -> None:
    assert matches(['{"eventName": ["MODIFY"]}'], ddb_record("MODIFY"))
    assert not matches(['{"eventName": ["MODIFY"]}'], ddb_record("INSERT"))


def test_invalid_pattern_is_rejected() -> None:
    with pytest.raises(InvalidEventPatternException):
        RecordFilter([{"eventName": "INSERT"}])  # values must be arrays
