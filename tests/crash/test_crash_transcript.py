"""transcript_persistence survives SIGKILL: S3 -> SQS -> Pipe -> Express SM -> DynamoDB.

Every call of the burst must end with exactly one record (the table is keyed by call id
and the flow's write is idempotent), nothing in the dead-letter queue, and the objects
written before the crash must still be there.
"""

from __future__ import annotations

from typing import Any

import pytest
from crash_support import Crash

from devkit.transcript_persistence import RESULT_KEY_PREFIX, sample_result, write_job_output
from sluice.testing import StackProcess, wait_for


def _records(stack: StackProcess) -> dict[str, dict[str, Any]]:
    pages = stack.client("dynamodb").get_paginator("scan")
    table = stack.resource("CallRecordingsTable")["name"]
    return {
        item["callId"]["S"]: item
        for page in pages.paginate(TableName=table, ConsistentRead=True)
        for item in page["Items"]
    }


def _queue_empty(stack: StackProcess, logical_id: str) -> bool:
    attrs = stack.client("sqs").get_queue_attributes(
        QueueUrl=stack.resource(logical_id)["url"],
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return all(v == "0" for v in attrs.values())


def _write(stack: StackProcess, calls: list[str]) -> None:
    s3 = stack.client("s3")
    for call_id in calls:
        write_job_output(s3, stack.resource("TranscriptBucket")["name"], call_id)


def _check(crash: Crash, seed: int, burst: int) -> None:
    calls = [f"crash-{seed}-{i:03d}" for i in range(burst)]
    stack = crash.burst(calls, _write, seed)
    bucket, s3 = stack.resource("TranscriptBucket")["name"], stack.client("s3")
    # Objects acknowledged before the crash are still there.
    for call_id in calls[: crash.kill_after]:
        listed = s3.list_objects_v2(Bucket=bucket, Prefix=f"{RESULT_KEY_PREFIX}{call_id}/")
        assert listed.get("KeyCount", 0) == 4, call_id
    records = wait_for(
        lambda: set(calls) <= set(r := _records(stack)) and r,
        timeout=90,
        what=f"a record for each of {burst} calls (killed after {crash.kill_after})",
    )
    wait_for(lambda: _queue_empty(stack, "TranscriptQueue"), what="the queue to drain")
    assert sorted(records) == sorted(calls)
    for call_id in calls:
        expected = sample_result(call_id)["inference_result"]
        assert records[call_id]["callSummary"]["S"] == expected["call_summary"]
    assert _queue_empty(stack, "TranscriptDLQ")


@pytest.mark.parametrize("seed", [1, 2])
def test_a_crash_mid_burst_loses_and_duplicates_no_call(crash: Crash, seed: int) -> None:
    _check(crash, seed, burst=12)


@pytest.mark.slow
@pytest.mark.parametrize("seed", [3, 4, 5])
def test_a_crash_mid_large_burst_loses_and_duplicates_no_call(crash: Crash, seed: int) -> None:
    _check(crash, seed, burst=120)
