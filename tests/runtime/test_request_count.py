"""The gateway's request counter: which service, operation and resource a request is."""

from __future__ import annotations

import io
import json
from typing import Any

from sluice.request_count import RequestCounter, classify

SIGNED = "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/{}/aws4_request, Signature=x"


def _json_request(target: str, body: dict[str, Any], service: str) -> dict[str, Any]:
    data = json.dumps(body).encode()
    return {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": "/",
        "HTTP_X_AMZ_TARGET": target,
        "HTTP_AUTHORIZATION": SIGNED.format(service),
        "CONTENT_LENGTH": str(len(data)),
        "wsgi.input": io.BytesIO(data),
    }


def _s3(method: str, path: str, query: str = "", **headers: str) -> dict[str, Any]:
    return {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "HTTP_AUTHORIZATION": SIGNED.format("s3"),
        **headers,
    }


def test_dynamodb_requests_name_their_table_and_the_body_is_put_back() -> None:
    body = {"TableName": "sluice-Sales", "Item": {"PK": {"S": "a"}}}
    environ = _json_request("DynamoDB_20120810.PutItem", body, "dynamodb")
    assert classify(environ) == ("dynamodb", "PutItem", "sluice-Sales", 1)
    assert json.loads(environ["wsgi.input"].read()) == body


def test_batch_calls_count_what_they_carry() -> None:
    write = {"RequestItems": {"t1": [{"PutRequest": {}}] * 3, "t2": [{"PutRequest": {}}]}}
    assert classify(_json_request("DynamoDB_20120810.BatchWriteItem", write, "dynamodb")) == (
        "dynamodb",
        "BatchWriteItem",
        "t1+t2",
        4,
    )
    get = {"RequestItems": {"t1": {"Keys": [{}, {}]}}}
    assert classify(_json_request("DynamoDB_20120810.BatchGetItem", get, "dynamodb"))[3] == 2
    events = {"Entries": [{"EventBusName": "arn:aws:events:r:1:event-bus/bus"}] * 10}
    assert classify(_json_request("AWSEvents.PutEvents", events, "events")) == (
        "events",
        "PutEvents",
        "bus",
        10,
    )
    delete = {"QueueUrl": "http://h/123/sluice-q", "Entries": [{}, {}]}
    assert classify(_json_request("AmazonSQS.DeleteMessageBatch", delete, "sqs")) == (
        "sqs",
        "DeleteMessageBatch",
        "sluice-q",
        2,
    )


def test_s3_operations_from_method_and_path() -> None:
    assert classify(_s3("PUT", "/bucket/a/b.json")) == ("s3", "PutObject", "bucket", 1)
    assert classify(_s3("GET", "/bucket/a/b.json")) == ("s3", "GetObject", "bucket", 1)
    assert classify(_s3("HEAD", "/bucket/k")) == ("s3", "HeadObject", "bucket", 1)
    assert classify(_s3("GET", "/bucket", "list-type=2&prefix=a"))[1] == "ListObjects"
    assert classify(_s3("GET", "/bucket", "notification"))[1] == "GetBucket"
    copy = _s3("PUT", "/bucket/k", HTTP_X_AMZ_COPY_SOURCE="/other/k")
    assert classify(copy)[1] == "CopyObject"


def test_unsigned_requests_are_not_aws_requests() -> None:
    assert classify({"REQUEST_METHOD": "GET", "PATH_INFO": "/artists/search"}) is None


def test_counter_totals_requests_and_items() -> None:
    counter = RequestCounter()
    for _ in range(2):
        counter.count(_json_request("AWSEvents.PutEvents", {"Entries": [{}, {}, {}]}, "events"))
    counter.count(_s3("PUT", "/b/k"))
    assert counter.snapshot() == [
        {
            "service": "events",
            "operation": "PutEvents",
            "resource": "default",
            "requests": 2,
            "items": 6,
        },
        {"service": "s3", "operation": "PutObject", "resource": "b", "requests": 1, "items": 1},
    ]
