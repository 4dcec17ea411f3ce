"""LoadResult against moto S3 + SQS: real S3 notifications, delivered in the Pipes record shape."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pytest

from devkit.transcript_persistence import (
    notified_bucket,
    s3_event_record,
    sample_result,
    write_job_output,
)
from sluice.in_process import lambda_context
from sluice.testing import in_process_aws
from tasks.transcript_persistence import load_result
from tasks.transcript_persistence.errors import (
    MalformedEventError,
    MalformedResultError,
    ResultNotFoundError,
)

REGION = "us-east-1"
BUCKET = "sluice-transcripts-123456789012"
QUEUE = "sluice-transcript-results"
JOB = "10b5e546-5e92-43a3-b6f5-9631c1a5e6a7"


CONTEXT = lambda_context("LoadResult")


@dataclass
class Env:
    s3: Any
    sqs: Any
    queue_url: str
    queue_arn: str

    def receive(self) -> list[dict[str, Any]]:
        """Everything on the queue, as a Pipe hands it to its target (Lambda's SQS record)."""
        records: list[dict[str, Any]] = []
        while True:
            messages = self.sqs.receive_message(
                QueueUrl=self.queue_url,
                MaxNumberOfMessages=10,
                AttributeNames=["All"],
                MessageAttributeNames=["All"],
            ).get("Messages", [])
            if not messages:
                return records
            records.extend(pipe_record(m, self.queue_arn) for m in messages)


def pipe_record(message: dict[str, Any], queue_arn: str) -> dict[str, Any]:
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": message["Attributes"],
        "messageAttributes": {},
        "md5OfBody": message["MD5OfBody"],
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": REGION,
    }


def record_with_body(body: Any, message_id: str = "m-1") -> dict[str, Any]:
    return {
        "messageId": message_id,
        "receiptHandle": "rh",
        "body": body if isinstance(body, str) else json.dumps(body),
        "attributes": {
            "ApproximateReceiveCount": "1",
            "SentTimestamp": "1736468400000",
            "SenderId": "AIDAIENQZJOLO23YVJ4VO",
            "ApproximateFirstReceiveTimestamp": "1736468400001",
        },
        "messageAttributes": {},
        "md5OfBody": "0" * 32,
        "eventSource": "aws:sqs",
        "eventSourceARN": f"arn:aws:sqs:{REGION}:123456789012:{QUEUE}",
        "awsRegion": REGION,
    }


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> Iterator[Env]:
    load_result.s3_client.cache_clear()
    with in_process_aws({}) as moto:
        s3, sqs = moto.client("s3"), moto.client("sqs")
        queue_url, queue_arn = notified_bucket(s3, sqs, BUCKET, QUEUE)
        yield Env(s3, sqs, queue_url, queue_arn)
    load_result.s3_client.cache_clear()


def _drain_test_event(env: Env) -> None:
    records = env.receive()
    assert [json.loads(r["body"])["Event"] for r in records] == ["s3:TestEvent"]


def test_s3_test_event_is_acknowledged_and_skipped(env: Env) -> None:
    [record] = env.receive()

    output = load_result.handler(record, CONTEXT)

    assert output == {
        "messageId": record["messageId"],
        "action": "SKIP",
        "reason": f"s3:TestEvent for {BUCKET}",
    }


def test_good_result_becomes_a_conditional_put_in_dynamodb_json(env: Env) -> None:
    _drain_test_event(env)
    keys = write_job_output(env.s3, BUCKET, "call-001", job_id=JOB)
    [record] = env.receive()  # only the custom output notifies
    s3_record = json.loads(record["body"])["Records"][0]
    event_time = s3_record["eventTime"]
    # S3's rule for comparing sequencers: right-pad the shorter with zeros.
    padded = s3_record["s3"]["object"]["sequencer"].upper().ljust(64, "0")
    expected_ms = round(datetime.fromisoformat(event_time).timestamp() * 1000)
    inference = sample_result("call-001")["inference_result"]

    output = load_result.handler(record, CONTEXT)

    assert event_time.endswith("Z")
    assert output == {
        "messageId": record["messageId"],
        "action": "PUT",
        "callId": "call-001",
        "item": {
            "hash": {"S": "call-001"},
            "callId": {"S": "call-001"},
            "timestamp": {"N": str(expected_ms)},
            "topics": {"L": [{"S": t} for t in inference["topics"]]},
            "callCategories": {"L": [{"S": c} for c in inference["call_categories"]]},
            "callSummary": {"S": inference["call_summary"]},
            "s3Key": {"S": keys[2]},
            "s3Sequencer": {"S": padded},
        },
        "expressionAttributeValues": {
            ":ts": {"N": str(expected_ms)},
            ":key": {"S": keys[2]},
            ":seq": {"S": padded},
        },
    }
    json.dumps(output)  # plain JSON for the state machine


def test_redelivered_message_yields_the_same_put(env: Env) -> None:
    _drain_test_event(env)
    write_job_output(env.s3, BUCKET, "call-002", job_id=JOB)
    [record] = env.receive()

    first = load_result.handler(record, CONTEXT)
    redelivered = {**record, "receiptHandle": "another", "attributes": dict(record["attributes"])}
    redelivered["attributes"]["ApproximateReceiveCount"] = "2"

    assert load_result.handler(redelivered, CONTEXT) == first


def test_malformed_result_raises_the_named_error(env: Env) -> None:
    _drain_test_event(env)
    write_job_output(env.s3, BUCKET, "call-003", job_id=JOB, malformed=True)
    [record] = env.receive()

    with pytest.raises(
        MalformedResultError, match=r"inference_result\.call_summary: Field required"
    ):
        load_result.handler(record, CONTEXT)


def test_result_that_is_not_json_raises_malformed_result(env: Env) -> None:
    _drain_test_event(env)
    key = f"transcription-outputs/call-004/{JOB}/0/custom_output/0/result.json"
    env.s3.put_object(Bucket=BUCKET, Key=key, Body=b'{"matched_blueprint": ')
    [record] = env.receive()

    with pytest.raises(MalformedResultError, match="is not JSON"):
        load_result.handler(record, CONTEXT)


def test_missing_object_raises_result_not_found(env: Env) -> None:
    _drain_test_event(env)
    keys = write_job_output(env.s3, BUCKET, "call-005", job_id=JOB)
    env.s3.delete_object(Bucket=BUCKET, Key=keys[2])
    [record] = env.receive()

    with pytest.raises(ResultNotFoundError, match=f"s3://{BUCKET}/{keys[2]} does not exist"):
        load_result.handler(record, CONTEXT)


@pytest.mark.parametrize(
    ("call_id", "encoded"),
    [("call 006", "call+006"), ("call+006", "call%2B006"), ("appel-é", "appel-%C3%A9")],
)
def test_encoded_keys_are_decoded_once_before_validation(
    env: Env, call_id: str, encoded: str
) -> None:
    _drain_test_event(env)
    write_job_output(env.s3, BUCKET, call_id, job_id=JOB)
    [record] = env.receive()
    raw_key = json.loads(record["body"])["Records"][0]["s3"]["object"]["key"]

    # AWS leaves `/` alone; moto encodes it too. One decode handles both.
    assert encoded in raw_key
    assert call_id not in raw_key
    out = load_result.handler(record, CONTEXT)
    assert out["item"]["callId"] == {"S": call_id}
    assert out["item"]["s3Key"]["S"].startswith(f"transcription-outputs/{call_id}/")


def test_aws_shaped_notification_is_accepted(env: Env) -> None:
    key = f"transcription-outputs/call-007/{JOB}/0/custom_output/0/result.json"
    env.s3.put_object(Bucket=BUCKET, Key=key, Body=json.dumps(sample_result("call-007")))
    body = {"Records": [s3_event_record(BUCKET, key, region=REGION)]}

    output = load_result.handler(record_with_body(body), CONTEXT)

    assert output["action"] == "PUT"
    assert output["item"]["timestamp"] == {"N": "1768004400000"}
    assert output["item"]["s3Key"] == {"S": key}
    # Padded to one width, so DynamoDB's string order is S3's sequencer order.
    padded = "0055AED6DCD90281E5" + "0" * 46
    assert output["item"]["s3Sequencer"] == {"S": padded}
    assert output["expressionAttributeValues"][":seq"] == {"S": padded}


def test_object_removed_event_is_skipped() -> None:
    removed = s3_event_record(BUCKET, "transcription-outputs/x", event_name="ObjectRemoved:Delete")
    body = {"Records": [removed]}

    output = load_result.handler(record_with_body(body), CONTEXT)

    assert output == {"messageId": "m-1", "action": "SKIP", "reason": "event ObjectRemoved:Delete"}


@pytest.mark.parametrize(
    ("event", "message"),
    [
        ({"messageId": "m-1", "body": "{}"}, "not an SQS record: receiptHandle: Field required"),
        (record_with_body("not json"), "message body is not JSON"),
        (record_with_body({"hello": "world"}), "Records: Field required"),
        (record_with_body({"Records": []}), "Records: List should have at least 1 item"),
    ],
)
def test_malformed_events_raise_malformed_event(event: dict[str, Any], message: str) -> None:
    with pytest.raises(MalformedEventError, match=message):
        load_result.handler(event, CONTEXT)
