"""The transcript_persistence ASL: valid for moto's engine, and correct when it runs there.

The execution tests run the definition on the embedded engine in this process
(`sluice.testing.in_process_aws`) with the real task handlers and the real conditional
putItem on moto DynamoDB; ReportFailures is JSONata, run by the engine.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from asl_checks import (
    FlowAsl,
    assert_engine_parses,
    assert_transitions_land,
    walk,
)

from devkit.transcript_persistence import notified_bucket, sample_result, write_job_output
from sluice.in_process import InProcessAws
from sluice.testing import in_process_aws
from tasks.transcript_persistence import load_result

REGION = "us-east-1"
BUCKET = "sluice-transcripts-123456789012"
TABLE = "sluice-call-recordings"
ASL = FlowAsl(
    "transcript_persistence",
    {
        "LoadResultFunctionArn": InProcessAws.function_arn("LoadResult"),
        "CallRecordingsTable": TABLE,
    },
)
HANDLERS: dict[str, Callable[[Any, Any], Any]] = {"LoadResult": load_result.handler}


def test_placeholders_are_exactly_the_definition_substitutions() -> None:
    ASL.assert_placeholders()


def test_definition_is_jsonpath_with_retries_aws_accepts() -> None:
    document = ASL.document()
    states = dict(walk(document["States"]))

    assert "QueryLanguage" not in document
    assert states["PersistEachMessage"]["MaxConcurrency"] <= 10
    for name, state in states.items():
        for retrier in state.get("Retry", []):
            assert retrier["IntervalSeconds"] >= 1, name
            assert retrier.get("JitterStrategy", "FULL") in ("FULL", "NONE"), name
    put = states["PutRecording"]
    throttles = put["Retry"][0]
    assert set(throttles["ErrorEquals"]) == {
        "DynamoDB.ProvisionedThroughputExceededException",
        "DynamoDB.ThrottlingException",
        "DynamoDB.RequestLimitExceeded",
    }
    assert throttles["JitterStrategy"] == "FULL"
    assert put["Parameters"]["ConditionExpression"] == (
        "attribute_not_exists(#h)"
        " OR (#k = :key AND (attribute_not_exists(#seq) OR #seq <= :seq))"
        " OR (#k <> :key AND (#ts < :ts OR (#ts = :ts AND #k < :key)))"
    )
    assert put["Catch"][0]["ErrorEquals"] == ["DynamoDB.ConditionalCheckFailedException"]


@pytest.mark.parametrize("scope", ["top", "iteration"])
def test_every_transition_lands_and_every_state_is_reachable(scope: str) -> None:
    document = ASL.document()
    if scope == "iteration":
        document = document["States"]["PersistEachMessage"]["ItemProcessor"]
    assert_transitions_land(document)


@dataclass
class Stack:
    aws: InProcessAws
    s3: Any
    sqs: Any
    ddb: Any
    queue_url: str
    queue_arn: str
    machine_arn: str

    def map_output(self) -> list[dict[str, Any]]:
        """The last execution's Map output (ReportFailures' input): per-message outcomes."""
        sfn = self.aws.client("stepfunctions")
        arn = sfn.list_executions(stateMachineArn=self.machine_arn)["executions"][0]["executionArn"]
        events = sfn.get_execution_history(executionArn=arn, reverseOrder=True)["events"]
        entered = next(
            e["stateEnteredEventDetails"]
            for e in events
            if e.get("stateEnteredEventDetails", {}).get("name") == "ReportFailures"
        )
        output: list[dict[str, Any]] = json.loads(entered["input"])
        return output

    def outcomes(self) -> dict[str, str]:
        return {o["messageId"]: o["outcome"] for o in self.map_output()}

    def receive(self) -> list[dict[str, Any]]:
        """The queue's messages in the shape a Pipe delivers them (one JSON array)."""
        records: list[dict[str, Any]] = []
        while messages := self.sqs.receive_message(
            QueueUrl=self.queue_url, MaxNumberOfMessages=10, AttributeNames=["All"]
        ).get("Messages", []):
            records.extend(
                {
                    "messageId": m["MessageId"],
                    "receiptHandle": m["ReceiptHandle"],
                    "body": m["Body"],
                    "attributes": m["Attributes"],
                    "messageAttributes": {},
                    "md5OfBody": m["MD5OfBody"],
                    "eventSource": "aws:sqs",
                    "eventSourceARN": self.queue_arn,
                    "awsRegion": REGION,
                }
                for m in messages
            )
        return records

    def execute(self, payload: Any) -> dict[str, Any]:
        return self.aws.run(self.machine_arn, payload, timeout=15)

    def run(self, records: list[dict[str, Any]]) -> Any:
        execution = self.execute(records)
        assert execution["status"] == "SUCCEEDED", execution
        return json.loads(execution["output"])

    def stored(self, call_id: str) -> dict[str, Any] | None:
        item: dict[str, Any] | None = self.ddb.get_item(
            TableName=TABLE, Key={"hash": {"S": call_id}}
        ).get("Item")
        return item


@pytest.fixture
def stack() -> Iterator[Stack]:
    load_result.s3_client.cache_clear()
    with in_process_aws(HANDLERS) as aws:
        s3, sqs, ddb = aws.client("s3"), aws.client("sqs"), aws.client("dynamodb")
        queue_url, queue_arn = notified_bucket(s3, sqs, BUCKET, "transcript-results")
        aws.create_table(TABLE, "hash")
        machine_arn = aws.create_state_machine("transcript-persistence", ASL.definition())
        yield Stack(aws, s3, sqs, ddb, queue_url, queue_arn, machine_arn)
    load_result.s3_client.cache_clear()


def test_engine_accepts_the_definition_and_rejects_a_broken_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert_engine_parses(monkeypatch, ASL.definition(), "transcript-persistence", "LoadResult", 1)


def test_batch_persists_good_results_and_reports_only_the_bad_message(stack: Stack) -> None:
    write_job_output(stack.s3, BUCKET, "call-good", job_id="job-1")
    write_job_output(stack.s3, BUCKET, "call-bad", job_id="job-1", malformed=True)
    records = stack.receive()
    bodies = [json.loads(r["body"]) for r in records]
    test_event = next(r for r, b in zip(records, bodies, strict=True) if "Event" in b)
    bad = next(r for r in records if "call-bad" in r["body"])
    assert len(records) == 3

    output = stack.run(records)

    assert output == {"batchItemFailures": [{"itemIdentifier": bad["messageId"]}]}
    good = next(r for r in records if "call-good" in r["body"])
    assert stack.outcomes() == {
        test_event["messageId"]: "SKIPPED",
        good["messageId"]: "STORED",
        bad["messageId"]: "FAILED",
    }
    [failed] = [o for o in stack.map_output() if o["outcome"] == "FAILED"]
    assert failed["error"]["Error"] == "MalformedResultError"
    assert "inference_result.call_summary: Field required" in failed["error"]["Cause"]
    stored = stack.stored("call-good")
    assert stored is not None
    assert stored["callSummary"] == {
        "S": sample_result("call-good")["inference_result"]["call_summary"]
    }
    assert stored["s3Key"] == {
        "S": "transcription-outputs/call-good/job-1/0/custom_output/0/result.json"
    }
    assert stack.stored("call-bad") is None


def test_redelivery_is_idempotent_and_an_older_event_never_clobbers(stack: Stack) -> None:
    stack.receive()  # the s3:TestEvent
    write_job_output(stack.s3, BUCKET, "call-1", job_id="job-old")
    [old] = stack.receive()
    newer_result = sample_result("call-1")
    newer_result["inference_result"]["call_summary"] = "Re-transcribed summary."
    write_job_output(stack.s3, BUCKET, "call-1", job_id="job-new", result=newer_result)
    [new] = stack.receive()
    # The notifications' eventTimes are real clock readings; pin them an hour apart.
    for record, event_time in (
        (old, "2026-01-10T00:00:00.000Z"),
        (new, "2026-01-10T01:00:00.000Z"),
    ):
        body = json.loads(record["body"])
        body["Records"][0]["eventTime"] = event_time
        record["body"] = json.dumps(body)

    assert stack.run([new]) == {"batchItemFailures": []}
    after_new = stack.stored("call-1")
    assert after_new is not None
    assert after_new["callSummary"] == {"S": "Re-transcribed summary."}
    assert after_new["timestamp"] == {"N": "1768006800000"}

    # The older event arrives late, then the newer one is redelivered: both acknowledged.
    assert stack.run([old, new]) == {"batchItemFailures": []}
    assert stack.outcomes() == {old["messageId"]: "SUPERSEDED", new["messageId"]: "STORED"}
    assert stack.stored("call-1") == after_new
    assert len(stack.ddb.scan(TableName=TABLE)["Items"]) == 1


def test_missing_result_fails_only_that_message(stack: Stack) -> None:
    stack.receive()
    keys = write_job_output(stack.s3, BUCKET, "call-gone", job_id="job-1")
    write_job_output(stack.s3, BUCKET, "call-here", job_id="job-1")
    stack.s3.delete_object(Bucket=BUCKET, Key=keys[2])
    records = stack.receive()
    gone = next(r for r in records if "call-gone" in r["body"])

    output = stack.run(records)

    assert output == {"batchItemFailures": [{"itemIdentifier": gone["messageId"]}]}
    [failed] = [o for o in stack.map_output() if o["outcome"] == "FAILED"]
    assert failed["error"]["Error"] == "ResultNotFoundError"
    assert stack.stored("call-here") is not None
