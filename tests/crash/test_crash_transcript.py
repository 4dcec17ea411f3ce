"""transcript_persistence survives SIGKILL: S3 -> SQS -> Pipe -> Express SM -> DynamoDB.

A burst of job outputs is written through the flow's real trigger (S3); the stack is
killed after a seeded number of them, restarted on the same data directory, and the
rest is written. Every call must end with exactly one record (the table is keyed by call
id and the flow's write is idempotent), none in the dead-letter queue, and the objects
written before the crash must still be there.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devkit.transcript_persistence import RESULT_KEY_PREFIX, sample_result, write_job_output
from sluice.testing import StackProcess, project_stack, wait_for

ROOT = Path(__file__).resolve().parents[2]


def _calls(seed: int, burst: int) -> list[str]:
    return [f"crash-{seed}-{i:03d}" for i in range(burst)]


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


@pytest.fixture
def data_dir(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path / "stack"


def _crash_and_resume(data_dir: Path, seed: int, burst: int) -> None:
    calls = _calls(seed, burst)
    kill_after = random.Random(seed).randrange(1, burst)
    stack = project_stack(ROOT, data_dir)
    try:
        # Killed right after the last acknowledged write: some notifications are queued,
        # some received and in flight, some executions running.
        _write(stack, calls[:kill_after])
    finally:
        stack.kill()

    stack = project_stack(ROOT, data_dir)
    try:
        bucket = stack.resource("TranscriptBucket")["name"]
        s3 = stack.client("s3")
        # Objects acknowledged before the crash are still there.
        for call_id in calls[:kill_after]:
            listed = s3.list_objects_v2(Bucket=bucket, Prefix=f"{RESULT_KEY_PREFIX}{call_id}/")
            assert listed.get("KeyCount", 0) == 4, call_id
        _write(stack, calls[kill_after:])
        wanted = set(calls)
        records = wait_for(
            lambda: wanted <= set(r := _records(stack)) and r,
            timeout=60,
            what=f"a record for each of {burst} calls (killed after {kill_after})",
        )
        wait_for(lambda: _queue_empty(stack, "TranscriptQueue"), what="the queue to drain")
        assert sorted(c for c in records if c.startswith(f"crash-{seed}-")) == sorted(calls)
        for call_id in calls:
            expected = sample_result(call_id)["inference_result"]
            assert records[call_id]["callSummary"]["S"] == expected["call_summary"]
        assert _queue_empty(stack, "TranscriptDLQ")
    finally:
        stack.stop()


@pytest.mark.parametrize("seed", [1, 2])
def test_a_crash_mid_burst_loses_and_duplicates_no_call(data_dir: Path, seed: int) -> None:
    _crash_and_resume(data_dir, seed, burst=12)


@pytest.mark.slow
@pytest.mark.parametrize("seed", [3, 4, 5])
def test_a_crash_mid_large_burst_loses_and_duplicates_no_call(data_dir: Path, seed: int) -> None:
    _crash_and_resume(data_dir, seed, burst=120)
